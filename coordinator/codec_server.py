"""The codec server: lets the Temporal Web UI (and `temporal --codec-endpoint`) show decrypted
payloads to whoever holds a token, and records every decode in the audit trail.

Temporal's remote codec protocol: `POST .../encode` and `.../decode` take and return JSON
`{"payloads": [...]}` (protobuf JSON, base64 fields). Binds 127.0.0.1 only. A request must carry
a bearer token from CASEFLOW_CODEC_TOKENS as `Authorization: Bearer <token>` (the CLI's
`--codec-auth`), or, when CASEFLOW_CODEC_OIDC_* are set, an OIDC access token the Web UI's own
login passes on (checked against the provider's keys; its user must be ops or supervisor:
client/oidc_access_tokens.py). The dev stack's Web UI does not use this server: it decodes
through the web service's login (web/ops_routes.py); a token in a UI's endpoint path would be
public in the UI's settings, so there is no such mode. Run: python -m coordinator.codec_server
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
from collections.abc import Mapping
from urllib.parse import urlparse

from aiohttp import hdrs, web
from temporalio.api.common.v1 import Payloads

from activities.audit import AuditTrail
from caseflow.keyring import load_keyring
from caseflow.payload_codec import EncryptionCodec
from caseflow.settings import CaseflowSettings, get_settings
from client.identities import IdentityStore
from client.oidc_access_tokens import AccessTokenRefused, OidcAccessTokens
from client.payload_decoding import (
    AuditUnavailable,
    BadPayloads,
    PayloadDecoder,
    PayloadDecryptionError,
    payloads_json,
    read_payloads,
    workflow_of,
)

log = logging.getLogger("caseflow.codec_server")

UI_ORIGINS = frozenset({"http://127.0.0.1:8233", "http://localhost:8233"})
ALLOWED_HEADERS = "X-Namespace, Content-Type, Authorization"
MAX_BODY = 16 * 1024**2

TOKENS_KEY = web.AppKey("tokens", dict)
OIDC_KEY = web.AppKey("oidc", object)
DECODER_KEY = web.AppKey("decoder", PayloadDecoder)
ORIGINS_KEY = web.AppKey("origins", frozenset)


def ui_origins(ui_url: str) -> frozenset[str]:
    """The UI's own origin beside the two defaults, in case the stack runs it on another port."""
    parsed = urlparse(ui_url)
    extra = {f"{parsed.scheme}://{parsed.netloc}"} if parsed.netloc else set()
    if parsed.hostname in ("127.0.0.1", "localhost") and parsed.port:
        extra |= {f"http://127.0.0.1:{parsed.port}", f"http://localhost:{parsed.port}"}
    return UI_ORIGINS | extra


def _cors(request: web.Request, response: web.Response) -> web.Response:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and origin in request.app[ORIGINS_KEY]:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST, OPTIONS"
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
        response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
    response.headers[hdrs.VARY] = "Origin"
    return response


def _error(request: web.Request, status: int, message: str) -> web.Response:
    return _cors(request, web.json_response({"error": message}, status=status))


async def _identity(request: web.Request) -> str | None:
    """Whose token this is: a static token (compared in constant time) or, when configured, an
    OIDC access token whose user may decode; None when absent, unknown or refused."""
    scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    presented = value.strip() if scheme.lower() == "bearer" else None
    if not presented:
        return None
    found = None
    for identity, token in request.app[TOKENS_KEY].items():
        if hmac.compare_digest(presented.encode(), token.encode()):
            found = identity
    oidc = request.app.get(OIDC_KEY)
    if found is None and isinstance(oidc, OidcAccessTokens) and presented.count(".") == 2:
        try:
            user = await asyncio.to_thread(oidc.identity, presented)
        except AccessTokenRefused as refused:
            log.info("codec: %s", refused)  # the reason only, never the token
            return None
        found = user.identity
    return found


async def _preflight(request: web.Request) -> web.Response:
    return _cors(request, web.Response())


async def _read_payloads(request: web.Request) -> Payloads | web.Response:
    if request.content_type != "application/json":
        return _error(request, 415, "Content-Type: must be application/json")
    try:
        return read_payloads(await request.read())
    except BadPayloads as error:
        return _error(request, 400, str(error))


def _reply(request: web.Request, payloads: Payloads) -> web.Response:
    response = web.Response(text=payloads_json(payloads))
    response.content_type = "application/json"
    return _cors(request, response)


async def _decode(request: web.Request) -> web.Response:
    actor = await _identity(request)
    if actor is None:
        return _error(request, 401, "Authorization: a valid bearer token is required")
    payloads = await _read_payloads(request)
    if isinstance(payloads, web.Response):
        return payloads
    headers = request.headers
    workflow_id = workflow_of(headers.get("X-Workflow-Id"), headers.get(hdrs.REFERER))
    try:
        decoded = await request.app[DECODER_KEY].decode(
            payloads, actor, workflow_id, request.headers.get("X-Namespace", ""),
            claimed_user=request.headers.get("X-User"),
        )
    except AuditUnavailable as error:
        log.exception("audit trail unavailable; decode refused")
        return _error(request, 503, str(error))
    except PayloadDecryptionError as error:
        return _error(request, 422, str(error))
    log.info("decoded %d payload(s) for %s", len(decoded.payloads), actor)
    return _reply(request, decoded)


async def _encode(request: web.Request) -> web.Response:
    actor = await _identity(request)
    if actor is None:
        return _error(request, 401, "Authorization: a valid bearer token is required")
    payloads = await _read_payloads(request)
    if isinstance(payloads, web.Response):
        return payloads
    encoded = await request.app[DECODER_KEY].encode(payloads)
    log.info("encoded %d payload(s) for %s", len(encoded.payloads), actor)
    return _reply(request, encoded)


def build_codec_app(
    codec: EncryptionCodec,
    tokens: Mapping[str, str],
    audit: AuditTrail,
    origins: frozenset[str] = UI_ORIGINS,
    oidc: OidcAccessTokens | None = None,
) -> web.Application:
    if not tokens and oidc is None:
        raise ValueError("CASEFLOW_CODEC_TOKENS: no tokens; the codec server refuses to run open")
    app = web.Application(client_max_size=MAX_BODY)
    app[TOKENS_KEY] = dict(tokens)
    if oidc is not None:
        app[OIDC_KEY] = oidc
    app[DECODER_KEY] = PayloadDecoder(codec, audit)
    app[ORIGINS_KEY] = origins
    for action, handler in (("decode", _decode), ("encode", _encode)):
        app.router.add_post(f"/{action}", handler)
        app.router.add_route("OPTIONS", f"/{action}", _preflight)
    return app


def app_from_settings(settings: CaseflowSettings) -> web.Application:
    codec = EncryptionCodec(load_keyring(settings), refresh=lambda: load_keyring(settings))
    tokens = {k: v.get_secret_value() for k, v in settings.codec_tokens.items()}
    origins = ui_origins(settings.temporal_ui_url)
    oidc = None
    if settings.codec_oidc_jwks_url:
        if not (settings.codec_oidc_issuer and settings.codec_oidc_audience):
            raise ValueError(
                "CASEFLOW_CODEC_OIDC_ISSUER and CASEFLOW_CODEC_OIDC_AUDIENCE: needed with "
                "CASEFLOW_CODEC_OIDC_JWKS_URL"
            )
        oidc = OidcAccessTokens(
            settings.codec_oidc_jwks_url,
            settings.codec_oidc_issuer,
            settings.codec_oidc_audience,
            IdentityStore.from_settings(settings),
        )
    return build_codec_app(codec, tokens, AuditTrail(settings), origins, oidc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    # 127.0.0.1 unless told: a container (infra/compose.yaml) listens on its own network.
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    settings = get_settings()
    port = args.port or urlparse(settings.codec_server_url).port or 8081
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = app_from_settings(settings)
    # access_log off: the audit trail is the record of who decoded what.
    web.run_app(app, host=args.host, port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()

