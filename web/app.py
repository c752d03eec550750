"""The web service's composition: settings, the shared Temporal client, authentication, error
wording, request limits and logs, and the routers. `caseflow serve` runs `create_app()`."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from activities.audit import AuditTrail
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect
from client.access_audit import AccessAudit
from web.access import Authenticator
from web.errors import error_response, install_error_handlers

log = logging.getLogger("caseflow.web")

# Routes that stream a body of their own size (documents); they enforce max_document_bytes.
STREAMED_BODY_ROUTES = ("/documents", "/files")


class TemporalConnection:
    """One Temporal client for the whole service, connected on first use, so the service starts
    (and reports not ready) while Temporal is still coming up."""

    def __init__(self, settings: CaseflowSettings):
        self.settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self.settings)
        return self._client


class RequestLimits:
    """Refuse a non-streamed body over the JSON limit (413), by its length or as it arrives, and
    give each request an id that the response and the log line carry. The log names the route's
    template and the identity, never the path's values or the body."""

    def __init__(self, app: ASGIApp, max_body: int):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = {"code": 0}
        path: str = scope["path"]
        limited = not path.endswith(STREAMED_BODY_ROUTES)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if limited and length is not None and length.isdigit() and int(length) > self.max_body:
            response = error_response(413, f"the body is over {self.max_body} bytes")
            response.headers["x-request-id"] = request_id
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if limited and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    from web.errors import RequestTooLarge

                    raise RequestTooLarge(f"the body is over {self.max_body} bytes")
            return message

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_id)
        finally:
            route = scope.get("route")
            principal = scope.get("state", {}).get("principal")
            log.info(
                "request=%s %s %s status=%s ms=%.1f identity=%s",
                request_id,
                scope.get("method"),
                getattr(route, "path", "-"),
                status["code"],
                (time.perf_counter() - started) * 1000,
                getattr(principal, "identity", "-"),
            )


def create_app(
    settings: CaseflowSettings | None = None, authenticator: Authenticator | None = None
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from client.portal_uploads import sweep_forever
        from web.portal_upload_routes import store_of_app

        # Abandoned portal uploads are aborted by this service, every few minutes.
        sweeper = asyncio.create_task(
            sweep_forever(store_of_app(app), settings.portal_upload_sweep_minutes * 60)
        )
        yield
        sweeper.cancel()
        # Write what the access audit still holds; the authenticator closes its store.
        for part in (
            app.state.access_audit,
            app.state.authenticator,
            getattr(app.state, "hospital_replies", None),
            getattr(app.state, "portal_uploads", None),
        ):
            close = getattr(part, "close", None)
            if close is not None:
                close()

    app = FastAPIOffline(
        title="caseflow",
        version="1",
        summary="Cross-border patient case workflows: the coordinators' API and the hospitals' "
        "reply path.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.temporal = TemporalConnection(settings)
    if authenticator is None:
        from web.auth import build_authenticator

        authenticator = build_authenticator(settings)
    app.state.authenticator = authenticator
    # One writer for every access entry: the authenticator's (logins, tokens) serves the case
    # routes too.
    app.state.access_audit = getattr(authenticator, "audit", None) or AccessAudit(
        AuditTrail(settings)
    )
    install_error_handlers(app)

    from web import (
        auth_routes,
        case_actions,
        case_pages,
        case_routes,
        health_routes,
        home_routes,
        hospital_routes,
        inquiry_pages,
        intake_pages,
        ops_routes,
        portal_pages,
        portal_upload_routes,
        queue_pages,
        reply_routes,
        trial_routes,
    )

    # One line per router, so each part of the service is found by its file name.
    app.include_router(health_routes.router)
    app.include_router(home_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(case_routes.router)
    app.include_router(trial_routes.router)
    app.include_router(ops_routes.router)
    app.include_router(hospital_routes.router)
    app.include_router(reply_routes.router)
    # The console: /console/cases/new before /console/cases/{case_id}, which would take "new".
    app.include_router(queue_pages.router)
    app.include_router(intake_pages.router)
    app.include_router(case_pages.router)
    app.include_router(case_actions.router)
    app.include_router(portal_pages.router)
    app.include_router(inquiry_pages.router)
    app.include_router(portal_upload_routes.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    if settings.session_secret is not None:
        from web.auth import session_cookie_options

        app.add_middleware(SessionMiddleware, **session_cookie_options(settings))
    app.add_middleware(RequestLimits, max_body=settings.max_json_body_bytes)
    return app


async def temporal_client(request: Request) -> Client:
    """The service's Temporal client (a FastAPI dependency)."""
    return await request.app.state.temporal.client()
