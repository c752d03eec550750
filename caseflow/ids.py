"""Opaque case and document identifiers.

Ids are random and never derived from patient data, because they end up in workflow ids,
S3 keys and logs, which Temporal and S3 keep in plaintext.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Annotated

from pydantic import AfterValidator

# 16 random bytes rendered as 26 lowercase base32 characters: unguessable, URL- and key-safe.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
CASE_ID_PATTERN = re.compile(r"^[a-z2-7]{26}$")
DOCUMENT_ID_PATTERN = re.compile(r"^d[a-z2-7]{26}$")


def _base32(sixteen_bytes: bytes) -> str:
    value = int.from_bytes(sixteen_bytes, "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(chars)


def new_case_id() -> str:
    """A fresh opaque case id. Call it outside workflows (the CLI, the API)."""
    return _base32(secrets.token_bytes(16))


def document_id_for(case_id: str, sha256: str) -> str:
    """The document id for given bytes in a case.

    Derived from the case and the content hash so that storing the same bytes twice in the same
    case yields the same id and key, which is what makes uploads idempotent. The hash is of the
    file's bytes, not of any patient field, and is not reversible.
    """
    digest = hashlib.sha256(f"{case_id}:{sha256}".encode()).digest()
    return "d" + _base32(digest[:16])


def _check_case_id(value: str) -> str:
    if not CASE_ID_PATTERN.fullmatch(value):
        raise ValueError("case id must be 26 characters of a-z and 2-7, as 'case start' prints")
    return value


def _check_document_id(value: str) -> str:
    if not DOCUMENT_ID_PATTERN.fullmatch(value):
        raise ValueError("document id must be 'd' followed by 26 characters of a-z and 2-7")
    return value


CaseId = Annotated[str, AfterValidator(_check_case_id)]
DocumentId = Annotated[str, AfterValidator(_check_document_id)]


def case_workflow_id(case_id: str) -> str:
    return f"case-{case_id}"


def referral_workflow_id(case_id: str, hospital_id: str) -> str:
    return f"case-{case_id}-referral-{hospital_id}"


def document_key(case_id: str, document_id: str) -> str:
    return f"cases/{case_id}/{document_id}"


PACKET_ID_PATTERN = re.compile(r"^[a-z0-9-]{8,64}$")


def packet_route_key(packet_id: str) -> str:
    """Where a packet id resolves to its case and hospital (opaque ids only), for the hospitals'
    reply path, which is addressed by packet id alone."""
    return f"routes/packets/{packet_id}.json"


def reply_upload_prefix(case_id: str, packet_id: str) -> str:
    """Records of the documents a hospital uploaded in reply to one packet (under the case's
    prefix, so erasing the case removes them with its documents)."""
    return f"cases/{case_id}/replies/{packet_id}/"


def inquiry_id_for(secret: str, form_nonce: str) -> str:
    """The opaque id of the inquiry a portal form makes: keyed on the random nonce the form was
    shown with (so the same form sent twice is the same inquiry), through an HMAC so the browser
    never names, or chooses, the id itself."""
    import hmac

    digest = hmac.new(secret.encode(), f"inquiry:{form_nonce}".encode(), hashlib.sha256).digest()
    return _base32(digest[:16])


def inquiry_workflow_id(inquiry_id: str) -> str:
    return f"inquiry-{_check_case_id(inquiry_id)}"


def registry_snapshot_key(registry: str) -> str:
    """A trial registry's imported snapshot (issue 15): public registry data, no patient data,
    kept apart from `cases/`; the bucket's versioning keeps the snapshots it replaced."""
    return f"registry/{registry}/snapshot.json"
