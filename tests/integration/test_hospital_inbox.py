"""The dev stack's hospital inbox: signed webhooks are kept once per webhook-id; others refused."""

from __future__ import annotations

import base64
import secrets
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer

import pytest

from caseflow.webhook_signature import parse_secret, sign
from infra.hospital_inbox import make_handler

pytestmark = pytest.mark.integration

HOSPITAL = "cn-xiamen-bnct"


@pytest.fixture
def inbox(tmp_path):
    key = parse_secret("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler({HOSPITAL: key}, tmp_path))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", key, tmp_path
    server.shutdown()
    server.server_close()


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def signed_headers(key: bytes, webhook_id: str, body: bytes, at: int | None = None):
    at = int(time.time()) if at is None else at
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(at),
        "webhook-signature": sign(key, webhook_id, at, body),
        "content-type": "application/json",
    }


def test_a_retried_delivery_is_kept_once(inbox):
    base, key, directory = inbox
    body = b'{"type": "referral.packet", "data": {}}'
    for _ in range(3):
        assert post(f"{base}/hooks/{HOSPITAL}", body, signed_headers(key, "pkt-1234", body)) == 200
    kept = list((directory / HOSPITAL).iterdir())
    assert [p.name for p in kept] == ["pkt-1234.json"]
    assert kept[0].read_bytes() == body


@pytest.mark.parametrize(
    "tamper, status",
    [
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), 401),
        (lambda h, b: (h, b + b" "), 401),  # body changed after signing
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), 401),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-id"}, b), 400),
    ],
    ids=["bad-signature", "altered-body", "unsigned", "no-webhook-id"],
)
def test_unsigned_or_altered_deliveries_are_refused(inbox, tamper, status):
    base, key, directory = inbox
    body = b'{"type": "referral.packet"}'
    headers, sent = tamper(signed_headers(key, "pkt-5678", body), body)
    assert post(f"{base}/hooks/{HOSPITAL}", sent, headers) == status
    assert not (directory / HOSPITAL).exists()


def test_a_stale_timestamp_is_refused(inbox):
    base, key, directory = inbox
    body = b"{}"
    stale = signed_headers(key, "pkt-9999", body, at=int(time.time()) - 3600)
    assert post(f"{base}/hooks/{HOSPITAL}", body, stale) == 401


def test_an_unknown_hospital_is_not_found(inbox):
    base, key, _ = inbox
    body = b"{}"
    assert post(f"{base}/hooks/in-unknown", body, signed_headers(key, "pkt-1", body)) == 404
