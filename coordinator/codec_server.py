"""The codec server: lets the Temporal Web UI (and `temporal --codec-endpoint`) show decrypted
payloads to ops staff who hold a token, and records every decode in the audit trail.

Temporal's remote codec protocol: `POST .../encode` and `.../decode` take and return JSON
`{"payloads": [...]}` (protobuf JSON, base64 fields). Binds 127.0.0.1 only. A request must carry
a bearer token from CASEFLOW_CODEC_TOKENS, either as `Authorization: Bearer <token>` (the CLI's
`--codec-auth`) or as the path prefix `/t/<token>/` (the dev Web UI has no login and so cannot send
a header; its endpoint is configured with the token in it). Run: python -m coordinator.codec_server
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import re
from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import unquote, urlparse

from aiohttp import hdrs, web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from activities.audit import AuditAction, AuditEvent, AuditTrail
from caseflow.keyring import load_keyring
from caseflow.payload_codec import EncryptionCodec, PayloadDecryptionError
from caseflow.settings import CaseflowSettings, get_settings

log = logging.getLogger("caseflow.codec_server")

UI_ORIGINS = frozenset({"http://127.0.0.1:8233", "http://localhost:8233"})
ALLOWED_HEADERS = "X-Namespace, Content-Type, Authorization"
MAX_BODY = 16 * 1024**2
_Response = TypeVar("_Response", bound=web.StreamResponse)
_WORKFLOW_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_CASE_OF_WORKFLOW = re.compile(r"^case-([a-z2-7]{26})(?:-referral-[a-z0-9-]+)?$")
_IDENTITY = re.compile(r"^[A-Za-z0-9@._:/+-]{1,120}$")

TOKENS_KEY = web.AppKey("tokens", dict)
CODEC_KEY = web.AppKey("codec", EncryptionCodec)
AUDIT_KEY = web.AppKey("audit", AuditTrail)
ORIGINS_KEY = web.AppKey("origins", frozenset)


def ui_origins(ui_url: str) -> frozenset[str]:
    """The UI's own origin beside the two defaults, in case the stack runs it on another port."""
    parsed = urlparse(ui_url)
    extra = {f"{parsed.scheme}://{parsed.netloc}"} if parsed.netloc else set()
    if parsed.hostname in ("127.0.0.1", "localhost") and parsed.port:
        extra |= {f"http://127.0.0.1:{parsed.port}", f"http://localhost:{parsed.port}"}
    return UI_ORIGINS | extra


def workflow_of(request: web.Request) -> str | None:
    """The workflow the UI is showing: an explicit X-Workflow-Id, else the page in Referer."""
    candidate = request.headers.get("X-Workflow-Id")
    if candidate is None:
        path = urlparse(request.headers.get(hdrs.REFERER, "")).path
        match = re.search(r"/workflows/([^/]+)", path)
        candidate = unquote(match.group(1)) if match else None
    return candidate if candidate and _WORKFLOW_ID.fullmatch(candidate) else None


def _cors(request: web.Request, response: _Response) -> _Response:
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


def _identity(request: web.Request) -> str | None:
    """Whose token this is, comparing in constant time; None when absent or unknown."""
    presented = request.match_info.get("token")
    if presented is None:
        scheme, _, value = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        presented = value.strip() if scheme.lower() == "bearer" else None
    if not presented:
        return None
    found = None
    for identity, token in request.app[TOKENS_KEY].items():
        if hmac.compare_digest(presented.encode(), token.encode()):
            found = identity
    return found


async def _preflight(request: web.Request) -> web.Response:
    return _cors(request, web.Response())


async def _read_payloads(request: web.Request) -> Payloads | web.Response:
    if request.content_type != "application/json":
        return _error(request, 415, "Content-Type: must be application/json")
    try:
        return json_format.Parse(await request.read(), Payloads())
    except (json_format.ParseError, UnicodeDecodeError):
        return _error(request, 400, "body: not a JSON {payloads: [...]} object")


def _reply(request: web.Request, payloads: Payloads) -> web.Response:
    response = web.Response(text=json_format.MessageToJson(payloads))
    response.content_type = "application/json"
    return _cors(request, response)


async def _audit(request: web.Request, action: AuditAction, actor: str, count: int, key_ids):
    workflow_id = workflow_of(request)
    case = _CASE_OF_WORKFLOW.fullmatch(workflow_id or "")
    detail: dict[str, str | int | bool | None] = {
        "payloads": count,
        "key_ids": ",".join(sorted({k for k in key_ids if k})),
        "namespace": request.headers.get("X-Namespace", "")[:100],
    }
    claimed = request.headers.get("X-User")
    if claimed and _IDENTITY.fullmatch(claimed):
        detail["claimed_user"] = claimed
    event = AuditEvent.now(
        case_id=case.group(1) if case else None,
        action=action,
        actor=actor,
        workflow_id=workflow_id,
        detail=detail,
    )
    await asyncio.to_thread(request.app[AUDIT_KEY].record, event)


async def _decode(request: web.Request) -> web.Response:
    actor = _identity(request)
    if actor is None:
        return _error(request, 401, "Authorization: a valid bearer token is required")
    payloads = await _read_payloads(request)
    if isinstance(payloads, web.Response):
        return payloads
    codec = request.app[CODEC_KEY]
    key_ids = codec.key_ids(payloads.payloads)
    # Logged before anything is shown: no audit entry, no plaintext.
    try:
        await _audit(request, AuditAction.PAYLOADS_DECODED, actor, len(payloads.payloads), key_ids)
    except Exception:  # noqa: BLE001 - whatever broke, the answer is the same refusal
        log.exception("audit trail unavailable; decode refused")
        return _error(request, 503, "audit trail unavailable; decode refused")
    try:
        decoded = await codec.decode(payloads.payloads)
    except PayloadDecryptionError as error:
        return _error(request, 422, str(error))
    log.info("decoded %d payload(s) for %s", len(decoded), actor)
    return _reply(request, Payloads(payloads=decoded))


async def _encode(request: web.Request) -> web.Response:
    actor = _identity(request)
    if actor is None:
        return _error(request, 401, "Authorization: a valid bearer token is required")
    payloads = await _read_payloads(request)
    if isinstance(payloads, web.Response):
        return payloads
    encoded = await request.app[CODEC_KEY].encode(payloads.payloads)
    log.info("encoded %d payload(s) for %s", len(encoded), actor)
    return _reply(request, Payloads(payloads=encoded))


def build_codec_app(
    codec: EncryptionCodec,
    tokens: Mapping[str, str],
    audit: AuditTrail,
    origins: frozenset[str] = UI_ORIGINS,
) -> web.Application:
    if not tokens:
        raise ValueError("CASEFLOW_CODEC_TOKENS: no tokens; the codec server refuses to run open")
    app = web.Application(client_max_size=MAX_BODY)
    app[TOKENS_KEY] = dict(tokens)
    app[CODEC_KEY] = codec
    app[AUDIT_KEY] = audit
    app[ORIGINS_KEY] = origins
    for prefix in ("", "/t/{token}"):
        app.router.add_post(f"{prefix}/decode", _decode)
        app.router.add_post(f"{prefix}/encode", _encode)
        app.router.add_route("OPTIONS", f"{prefix}/decode", _preflight)
        app.router.add_route("OPTIONS", f"{prefix}/encode", _preflight)
    return app


def app_from_settings(settings: CaseflowSettings) -> web.Application:
    codec = EncryptionCodec(load_keyring(settings), refresh=lambda: load_keyring(settings))
    tokens = {k: v.get_secret_value() for k, v in settings.codec_tokens.items()}
    origins = ui_origins(settings.temporal_ui_url)
    return build_codec_app(codec, tokens, AuditTrail(settings), origins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    settings = get_settings()
    port = args.port or urlparse(settings.codec_server_url).port or 8081
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = app_from_settings(settings)
    # access_log off: the UI's path holds its token, and the audit trail is the record.
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()

