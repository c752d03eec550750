"""Standard Webhooks signatures (standardwebhooks.com): `v1,<base64 HMAC-SHA256>` over
"{webhook-id}.{webhook-timestamp}.{body}" with a `whsec_<base64>` secret of 24 to 64 bytes.

Shared by the sender (activities/webhook_delivery.py) and every receiver we run (the dev stack's
hospital inbox, the tests), so both sides sign exactly the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24  # Standard Webhooks: 24 to 64 random bytes
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60  # the spec's suggested replay window


class SignatureInvalid(ValueError):
    """A delivery whose headers or signature do not check out."""


def parse_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_<base64>` secret; ValueError (without the secret) otherwise."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("secret is not valid base64 after 'whsec_'") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"secret has {len(key)} bytes; at least {MIN_SECRET_BYTES} are needed")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    mac = body_mac(key, webhook_id, timestamp)
    mac.update(body)
    return signature_of(mac)


def body_mac(key: bytes, webhook_id: str, timestamp: int) -> hmac.HMAC:
    """The HMAC before the body: feed a streamed body to it chunk by chunk (large uploads)."""
    return hmac.new(key, f"{webhook_id}.{timestamp}.".encode(), hashlib.sha256)


def signature_of(mac: hmac.HMAC) -> str:
    return "v1," + base64.b64encode(mac.digest()).decode()


def check_timestamp(timestamp: str, now: float) -> int:
    """The sending time, or SignatureInvalid when it is not an integer inside the tolerance."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureInvalid("webhook-timestamp is not an integer") from None
    if abs(now - sent_at) > TIMESTAMP_TOLERANCE_SECONDS:
        raise SignatureInvalid("webhook-timestamp is outside the tolerance window")
    return sent_at


def check_signatures(expected: str, signatures: str) -> None:
    if not any(hmac.compare_digest(expected, given) for given in signatures.split()):
        raise SignatureInvalid("no webhook-signature matches")


def verify(key: bytes, webhook_id: str, timestamp: str, signatures: str, body: bytes,
           now: float) -> None:
    """Raise SignatureInvalid unless one of the space-separated signatures matches in time."""
    sent_at = check_timestamp(timestamp, now)
    check_signatures(sign(key, webhook_id, sent_at, body), signatures)
