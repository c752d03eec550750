"""The production codec path: the Web UI's own OIDC login passes the user's access token to the
codec server, which checks it against the provider's keys (served here by a provider on
loopback), issuer, audience and expiry, and decodes only for an ops or supervisor user; each
decode is audited under that user on real SeaweedFS."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from aiohttp import web
from google.protobuf import json_format
from joserfc import jwt
from joserfc.jwk import RSAKey
from temporalio.api.common.v1 import Payload, Payloads

from activities.audit import AuditAction, AuditTrail
from caseflow.ids import case_workflow_id, new_case_id
from caseflow.keyring import Keyring
from caseflow.payload_codec import EncryptionCodec
from client.identities import IdentityStore
from client.oidc_access_tokens import OidcAccessTokens
from coordinator.codec_server import build_codec_app
from infra.server_process import free_port

pytestmark = pytest.mark.integration

CANARY = "Quillon Canarywick, passport X98765432"
AUDIENCE = "temporal-ui"


class KeyServer:
    """The provider's published keys on loopback (its JWKS endpoint), and its signing key."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        app = web.Application()
        app.router.add_get("/jwks", self.jwks)
        self.runner = web.AppRunner(app)

    async def jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    def token(self, key: RSAKey | None = None, **overrides) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 300, **overrides}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key or self.key)


@dataclass
class OidcCodec:
    url: str
    keys: KeyServer
    codec: EncryptionCodec
    audit: AuditTrail


@pytest.fixture(scope="module")
async def oidc_codec(seaweed, tmp_path_factory) -> AsyncIterator[OidcCodec]:
    keys = KeyServer()
    await keys.runner.setup()
    await web.TCPSite(keys.runner, "127.0.0.1", keys.port).start()
    home = tmp_path_factory.mktemp("codec-oidc")
    store = IdentityStore(f"sqlite:///{home / 'ids.db'}")
    store.add_user("ops-oi", "ops", name="Ops Oi", email="ops-oi@example.invalid",
                   oidc_subject="sub-ops")
    store.add_user("coord-oi", "coordinator", name="Coord Oi", email="c@example.invalid",
                   oidc_subject="sub-coord")
    settings = seaweed.settings.model_copy(update={"audit_bucket": f"audit-{uuid.uuid4().hex[:8]}"})
    codec = EncryptionCodec(Keyring.generate())
    audit = AuditTrail(settings)
    oidc = OidcAccessTokens(f"{keys.issuer}/jwks", keys.issuer, AUDIENCE, store)
    runner = web.AppRunner(build_codec_app(codec, {}, audit, oidc=oidc), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield OidcCodec(f"http://127.0.0.1:{port}", keys, codec, audit)
    finally:
        await runner.cleanup()
        await keys.runner.cleanup()
        store.close()


async def sealed_body(codec: EncryptionCodec) -> str:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=f'"{CANARY}"'.encode())
    [sealed] = await codec.encode([plain])
    return json_format.MessageToJson(Payloads(payloads=[sealed]))


async def decode(server: OidcCodec, token: str, workflow_id: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(
            f"{server.url}/decode",
            content=await sealed_body(server.codec),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "X-Workflow-Id": workflow_id,
            },
        )


async def test_an_ops_users_access_token_decodes_and_is_audited(oidc_codec: OidcCodec):
    case_id = new_case_id()
    token = oidc_codec.keys.token(sub="sub-ops")
    answer = await decode(oidc_codec, token, case_workflow_id(case_id))
    assert answer.status_code == 200, answer.text
    [decoded] = json_format.Parse(answer.text, Payloads()).payloads
    assert decoded.data == f'"{CANARY}"'.encode()
    entries = oidc_codec.audit.entries(case_id)
    decodes = [(e.action, e.actor) for e in entries]
    assert decodes == [(AuditAction.PAYLOADS_DECODED, "user:ops-oi")]


@pytest.mark.parametrize(
    "why, claims, foreign_key",
    [
        ("a coordinator may not read decoded payloads", {"sub": "sub-coord"}, False),
        ("no caseflow user signs in this way", {"sub": "sub-unknown"}, False),
        ("another audience", {"sub": "sub-ops", "aud": "someone-else"}, False),
        ("another issuer", {"sub": "sub-ops", "iss": "http://127.0.0.1:1"}, False),
        ("expired", {"sub": "sub-ops", "exp": int(time.time()) - 60}, False),
        ("signed by another key", {"sub": "sub-ops"}, True),
    ],
)
async def test_other_tokens_decode_nothing(oidc_codec: OidcCodec, why, claims, foreign_key):
    case_id = new_case_id()
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}) if foreign_key else None
    token = oidc_codec.keys.token(key, **claims)
    answer = await decode(oidc_codec, token, case_workflow_id(case_id))
    assert answer.status_code == 401, why
    assert CANARY not in answer.text
    assert oidc_codec.audit.entries(case_id) == [], why
