"""The ops view behind the service's login: the Temporal Web UI through a same-origin reverse proxy
at /ops/temporal/, and its codec endpoint at /ops/codec/, for ops and supervisor identities only.

Same origin is the point: the browser sends the session cookie and the page's full Referer with
each decode, so a decode needs a login and is audited under that identity and the case shown.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated
from urllib.parse import quote, urlparse

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from caseflow.settings import OPS_CODEC_PATH, OPS_UI_PATH, CaseflowSettings
from client.payload_decoding import (
    AuditUnavailable,
    BadPayloads,
    PayloadDecoder,
    PayloadDecryptionError,
    payloads_json,
    read_payloads,
    workflow_of,
)
from web.access import Authenticator, Forbidden, NotAuthenticated, Principal, Role
from web.errors import error_response

if TYPE_CHECKING:
    import httpx

OPS_ROLES = (Role.OPS, Role.SUPERVISOR)
_SAFE_METHODS = frozenset({"GET", "HEAD"})
# The one kind of UI write the proxy lets through: a workflow query (the UI's stack trace and
# Queries tab) runs a read-only handler on the worker. Terminate, signal, reset, update, start and
# batch actions are refused: case actions go through the caseflow API, under its rules and audit.
_QUERY_PATH = re.compile(r"^api/v1/namespaces/[^/]+/workflows/[^/]+/query/[^/]+$")
# Request headers the UI server needs; everything else (our session cookie, an Authorization
# header) stays with the service.
_FORWARDED_REQUEST_HEADERS = (
    "accept", "accept-encoding", "accept-language", "content-type", "if-none-match",
    "if-modified-since", "range", "user-agent", "x-csrf-token",
)

# The UI server's own cookie: its CSRF token for the UI's API writes (queries here).
_UI_COOKIES = frozenset({"_csrf"})
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade",
})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.ops_ui = None
    try:
        yield
    finally:
        if app.state.ops_ui is not None:
            await app.state.ops_ui.aclose()


def _ui_client(request: Request) -> httpx.AsyncClient:
    """One pooled client to the UI server for the whole service (a UI page loads dozens of
    assets), made at the first ops request: most of the service's users never need it."""
    import httpx

    if request.app.state.ops_ui is None:
        request.app.state.ops_ui = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
    return request.app.state.ops_ui


router = APIRouter(tags=["ops"], lifespan=lifespan)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def _check_same_origin(request: Request, settings: CaseflowSettings) -> None:
    """In place of the CSRF token for the ops view's POSTs (codec decode/encode, UI queries).

    The Web UI is not our page: it cannot send our CSRF header. These POSTs change no state, so
    what CSRF guards against (a foreign page making a logged-in browser act) reduces to a foreign
    page making it *read*, which the browser's same-origin policy already keeps from the foreign
    page. The session cookie is SameSite, and here the request must also show it comes from our
    own origin: `Sec-Fetch-Site: same-origin` when the browser sends it, and an `Origin` equal to
    the service's public origin, which every browser sends on a POST.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise Forbidden("the ops view answers its own pages only (Sec-Fetch-Site)")
    if request.headers.get("origin") != _origin(settings.public_url):
        raise Forbidden("the ops view answers its own pages only (Origin)")


async def ops_principal(request: Request) -> Principal:
    """An ops or supervisor principal, or a refusal: a browser with no login is sent to log in,
    anything else gets 401; other roles get 403."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        if _wants_html(request) and request.method in _SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise StarletteHTTPException(
                303, "log in first", headers={"Location": f"/login?next={quote(target, safe='/')}"}
            )
        raise NotAuthenticated("log in as ops or supervisor, or send an API token")
    request.state.principal = principal
    if principal.role not in OPS_ROLES:
        raise Forbidden(f"the ops view needs the ops or supervisor role; you are {principal.role}")
    if principal.via in ("session", "oidc") and request.method not in _SAFE_METHODS:
        _check_same_origin(request, request.app.state.settings)
    return principal


OpsPrincipal = Annotated[Principal, Depends(ops_principal)]


def _decoder(request: Request) -> PayloadDecoder:
    """Built on first use, so the service starts without keys when payloads are not encrypted."""
    decoder = getattr(request.app.state, "ops_decoder", None)
    if decoder is None:
        decoder = request.app.state.ops_decoder = PayloadDecoder.from_settings(
            request.app.state.settings
        )
    return decoder


async def _payloads_from(request: Request):
    settings: CaseflowSettings = request.app.state.settings
    if not settings.encrypt_payloads:
        raise LookupError("payload encryption is off: there is nothing to decode")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise StarletteHTTPException(415, "Content-Type: must be application/json")
    try:
        return read_payloads(await request.body())
    except BadPayloads as error:
        raise StarletteHTTPException(400, str(error)) from error


def _payloads_response(text: str) -> Response:
    # Decoded payloads are patient data: never cached, never stored by the browser.
    return Response(text, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.post(f"{OPS_CODEC_PATH}/decode", summary="Decode payloads for the Web UI (audited)")
async def decode(request: Request, principal: OpsPrincipal) -> Response:
    """Temporal's remote codec protocol. The entry goes to the audit trail first, under the
    caller's identity and the case of the workflow in the UI page (Referer)."""
    payloads = await _payloads_from(request)
    workflow_id = workflow_of(request.headers.get("x-workflow-id"), request.headers.get("referer"))
    try:
        decoded = await _decoder(request).decode(
            payloads, principal.identity, workflow_id, request.headers.get("x-namespace", "")
        )
    except AuditUnavailable as error:
        return error_response(503, str(error))
    except PayloadDecryptionError as error:
        return error_response(422, str(error))
    return _payloads_response(payloads_json(decoded))


@router.post(f"{OPS_CODEC_PATH}/encode", summary="Encode payloads for the Web UI")
async def encode(request: Request, _principal: OpsPrincipal) -> Response:
    payloads = await _payloads_from(request)
    return _payloads_response(payloads_json(await _decoder(request).encode(payloads)))


def _forwarded_headers(request: Request) -> dict[str, str]:
    headers = {k: v for k in _FORWARDED_REQUEST_HEADERS if (v := request.headers.get(k))}
    cookies = "; ".join(f"{k}={v}" for k, v in request.cookies.items() if k in _UI_COOKIES)
    if cookies:
        headers["cookie"] = cookies
    return headers


def _response_headers(upstream: httpx.Response, ui_origin: str) -> list[tuple[str, str]]:
    headers = []
    for name, value in upstream.headers.multi_items():
        lower = name.lower()
        if lower in _HOP_BY_HOP:
            continue
        if lower == "set-cookie":
            # The UI server's cookies belong to its pages, not to the whole service.
            value = re.sub(r"(?i)\bpath=/(?=;|$)", f"Path={OPS_UI_PATH}", value)
        elif lower == "location" and value.startswith(ui_origin):
            value = value[len(ui_origin):] or "/"
        headers.append((lower, value))
    # The decode calls need the page's full address as Referer, and nothing else should get it.
    headers.append(("referrer-policy", "same-origin"))
    if upstream.request.url.path.startswith(f"{OPS_UI_PATH}/api/"):
        headers.append(("cache-control", "no-store"))
    return headers


@router.api_route(
    OPS_UI_PATH + "/{path:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def temporal_ui(request: Request, path: str, _principal: OpsPrincipal) -> Response:
    """The Temporal Web UI, read-only, through the service's login."""
    if request.method not in _SAFE_METHODS and not (
        request.method == "POST" and _QUERY_PATH.fullmatch(path)
    ):
        raise Forbidden("the ops view is read-only: case actions go through the caseflow API")
    import httpx

    settings: CaseflowSettings = request.app.state.settings
    ui_origin = _origin(settings.temporal_ui_url)
    url = httpx.URL(f"{ui_origin}{OPS_UI_PATH}/{path}", query=request.url.query.encode())
    client = _ui_client(request)
    body = await request.body() if request.method == "POST" else None
    upstream_request = client.build_request(
        request.method, url, headers=_forwarded_headers(request), content=body
    )
    try:
        upstream = await client.send(upstream_request, stream=True)
    except httpx.TransportError:
        return error_response(502, "the Temporal Web UI is not answering")
    response = StreamingResponse(
        upstream.aiter_raw(),  # as sent, compressed or not: content-encoding passes through
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    # Raw, so repeated headers (Set-Cookie) stay repeated.
    response.raw_headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in _response_headers(upstream, ui_origin)
    ]
    return response
