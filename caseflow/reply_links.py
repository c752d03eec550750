"""The reply link every referral packet carries: a signed, expiring token bound to one case,
hospital and packet, and the CSRF token of the reply page's forms derived from it.

Pure (no I/O, no clock unless asked), so the packet activity makes the link at render time and the
web service checks it with the same code. The token is signed, not encrypted: it holds opaque ids
only, never patient data.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SALT = "caseflow.reply-link.v1"
_CSRF_CONTEXT = b"caseflow.reply-form.v1:"
REPLY_PATH = "/reply/"


class ReplyLinkInvalid(ValueError):
    """A token that is forged, damaged, or not a reply link (401)."""


class ReplyLinkExpired(ReplyLinkInvalid):
    """A genuine token past its validity (401)."""


class ReplyClaims(BaseModel):
    """What a reply link is bound to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str = Field(pattern=r"^[a-z2-7]{26}$")
    hospital_id: str = Field(pattern=r"^[a-z0-9-]{1,60}$")
    packet_id: str = Field(pattern=r"^[a-z0-9-]{8,64}$")


class _IssuedAt(TimestampSigner):
    """A signer whose timestamp may be fixed, so a re-rendered letter carries the same link."""

    def __init__(self, *args, issued_at: float | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._issued_at = issued_at

    def get_timestamp(self) -> int:
        return int(self._issued_at) if self._issued_at is not None else int(time.time())


def _serializer(secret: str, issued_at: float | None = None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        secret, salt=SALT, signer=_IssuedAt, signer_kwargs={"issued_at": issued_at}
    )


def make_token(secret: str, claims: ReplyClaims, issued_at: float | None = None) -> str:
    """A token for `claims`, issued now or at `issued_at` (a Unix time)."""
    return _serializer(secret, issued_at).dumps(claims.model_dump(mode="json"))


def reply_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}{REPLY_PATH}{token}"


def read_token(secret: str, token: str, max_age_days: int) -> ReplyClaims:
    """The claims of a genuine, unexpired token; ReplyLinkInvalid/ReplyLinkExpired otherwise.
    The messages never repeat the token."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_days * 86400)
    except SignatureExpired:
        raise ReplyLinkExpired(
            "this reply link has expired; ask the referring coordinator for a new one"
        ) from None
    except BadSignature:
        raise ReplyLinkInvalid("this reply link is not valid") from None
    try:
        return ReplyClaims.model_validate(data)
    except ValidationError:
        raise ReplyLinkInvalid("this reply link is not valid") from None


def csrf_token(secret: str, token: str) -> str:
    """The hidden field the reply page's forms carry: an HMAC of the reply token, so only a page
    served for this link can post to it."""
    mac = hmac.new(secret.encode(), _CSRF_CONTEXT + token.encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_matches(secret: str, token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(secret, token), given or "")
