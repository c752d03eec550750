"""The patient's magic links: signed, expiring tokens bound to one case (or one inquiry) and to a
hash of the e-mail address they were sent to, never to the address itself.

Pure (no I/O, no clock unless asked) like caseflow/reply_links.py, so the workflow's mail activity
makes the link and the web service checks it with the same code. A token is signed, not
encrypted: it carries opaque ids and a SHA-256 only.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SALT = "caseflow.portal-link.v1"

# What a link lets its holder do: confirm an inquiry (one time), or open the case's status page.
LinkPurpose = Literal["confirm_inquiry", "case_status"]


class PortalLinkInvalid(ValueError):
    """A token that is forged, damaged, or for another purpose (401)."""


class PortalLinkExpired(PortalLinkInvalid):
    """A genuine token past its validity (401)."""


def email_digest(email: str) -> str:
    """What a link is bound to instead of the address: SHA-256 of the trimmed, lower-cased
    address, so a link works only for the mailbox it was sent to."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class PortalClaims(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: LinkPurpose
    # The case (a status link) or the inquiry (a confirmation link): random, opaque ids.
    subject_id: str = Field(pattern=r"^[a-z2-7]{26}$")
    email_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # A one-time link names its use, so the workflow can refuse a second one.
    nonce: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$")


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=SALT)


def make_token(secret: str, claims: PortalClaims) -> str:
    return _serializer(secret).dumps(claims.model_dump(mode="json"))


def read_token(
    secret: str, token: str, purpose: LinkPurpose, max_age_seconds: int
) -> PortalClaims:
    """The claims of a genuine, unexpired token for `purpose`; PortalLinkInvalid or
    PortalLinkExpired otherwise. The messages never repeat the token."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise PortalLinkExpired("this link has expired; ask for a new one") from None
    except BadSignature:
        raise PortalLinkInvalid("this link is not valid") from None
    try:
        claims = PortalClaims.model_validate(data)
    except ValidationError:
        raise PortalLinkInvalid("this link is not valid") from None
    if claims.purpose != purpose:
        raise PortalLinkInvalid("this link is not valid here")
    return claims
