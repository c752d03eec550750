"""Logging in and out: the login page, sessions, `/auth/session` for the console's scripts, short
bearer tokens for curl (`/auth/token`), and OpenID Connect, the production login."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from activities.audit import AuditAction
from web.access import CurrentPrincipal, Forbidden, NotAuthenticated
from web.auth import (
    LoginRefused,
    SessionAuthenticator,
    claimed_identity,
    client_address,
    csrf_token,
)

log = logging.getLogger("caseflow.web")

router = APIRouter(tags=["login"])
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _authenticator(request: Request) -> SessionAuthenticator:
    authenticator = request.app.state.authenticator
    if not isinstance(authenticator, SessionAuthenticator) or "session" not in request.scope:
        raise NotAuthenticated("logins are not configured on this service")
    return authenticator


# Where a login without a `next` lands: the console (a patient's portal link carries its own).
AFTER_LOGIN = "/console"


def _next_page(target: str | None) -> str:
    # Only a path on this service: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return AFTER_LOGIN


def _login_page(request: Request, *, status: int = 200, error: str | None = None,
                field: str | None = None, login: str = "",
                next_page: str = AFTER_LOGIN) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "login.html",
        {
            "csrf_token": csrf_token(request),
            "error": error,
            "error_field": field,
            "login": login,
            "next": next_page,
            "oidc": _authenticator(request).oidc is not None,
        },
        status_code=status,
    )


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    _authenticator(request)
    return _login_page(request, next_page=_next_page(next))


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(
    request: Request,
    login: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token_field: Annotated[str, Form(alias="csrf_token")] = "",
    next: Annotated[str, Form()] = AFTER_LOGIN,
) -> Response:
    authenticator = _authenticator(request)
    login = login.strip()
    next_page = _next_page(next)
    try:
        # Login CSRF: the form must come from our own page, with the anonymous session's token.
        await authenticator.check_csrf(request)
    except Forbidden:
        return _login_page(request, status=403, login=login, next_page=next_page,
                           error="the form expired; please try again", field="form")
    if not login:
        return _login_page(request, status=400, next_page=next_page, error="enter your login",
                           field="login")
    if not password:
        return _login_page(request, status=400, login=login, next_page=next_page,
                           error="enter your password", field="password")
    try:
        user = await authenticator.password_login(request, login, password)
    except LoginRefused as refused:
        return _login_page(request, status=refused.status, login=login, next_page=next_page,
                           error=str(refused), field="password")
    authenticator.start_session(request, user, "session")
    return RedirectResponse(next_page, status_code=303)


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """End the session (a state change like any other: it needs the CSRF token)."""
    authenticator = _authenticator(request)
    principal = await authenticator.authenticate(request)
    if principal is not None and principal.via in ("session", "oidc"):
        await authenticator.check_csrf(request)
        authenticator.end_session(request, principal)
    else:
        principal = None  # a token is no session; nothing to end
    kind = request.headers.get("content-type", "")
    if kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return RedirectResponse("/login", status_code=303)
    return JSONResponse({"logged_out": principal is not None})


class SessionInfo(BaseModel):
    identity: str
    role: str
    via: str
    login: str | None = None
    name: str | None = None
    coordinator_id: str | None = None
    hospital_id: str | None = None
    csrf_token: str | None = None  # for session callers: send it as X-CSRF-Token on writes


@router.get("/auth/session", tags=["login"])
async def session_info(request: Request, principal: CurrentPrincipal) -> SessionInfo:
    """Who you are: identity, role and, for a browser session, the CSRF token writes need."""
    login = principal.identity.removeprefix("user:") if principal.identity.startswith(
        "user:") else None
    name = None
    if login is not None:
        user = await run_in_threadpool(request.app.state.authenticator.store.get_user, login)
        name = user.name if user else None
    return SessionInfo(
        identity=principal.identity,
        role=principal.role.value,
        via=principal.via,
        login=login,
        name=name,
        coordinator_id=principal.coordinator_id,
        hospital_id=principal.hospital_id,
        csrf_token=csrf_token(request) if principal.via in ("session", "oidc") else None,
    )


class TokenRequest(BaseModel):
    login: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class TokenGrant(BaseModel):
    token: str
    token_id: str
    token_type: str = "Bearer"
    expires_at: str


@router.post("/auth/token", tags=["login"], status_code=201, response_model=TokenGrant)
async def token_for_password(request: Request, body: TokenRequest) -> Any:
    """A bearer token for the API, valid as long as a session: `curl -X POST .../auth/token -H
    'Content-Type: application/json' -d '{"login": "...", "password": "..."}'`."""
    authenticator = _authenticator(request)
    try:
        user = await authenticator.password_login(request, body.login.strip(), body.password)
    except LoginRefused as refused:
        return JSONResponse({"error": str(refused)}, status_code=refused.status)
    issued = await run_in_threadpool(
        lambda: authenticator.store.create_token(
            user=user.login,
            label="from /auth/token",
            expires_in=timedelta(seconds=request.app.state.settings.session_max_age_seconds),
        )
    )
    authenticator.audit.record(AuditAction.LOGIN_SUCCEEDED, user.identity, via="password_token",
                               address=client_address(request))
    authenticator.audit.record(AuditAction.TOKEN_CREATED, user.identity, subject=issued.token_id,
                               via="auth_token")
    assert issued.expires_at is not None
    return TokenGrant(token=issued.secret, token_id=issued.token_id,
                      expires_at=issued.expires_at.isoformat())


@router.get("/auth/oidc/login", include_in_schema=False)
async def oidc_login(request: Request, next: str | None = None) -> Response:
    authenticator = _authenticator(request)
    if authenticator.oidc is None:
        return JSONResponse({"error": "OpenID Connect is not configured"}, status_code=404)
    request.session["next"] = _next_page(next)
    callback = f"{request.app.state.settings.public_url.rstrip('/')}/auth/oidc/callback"
    return await authenticator.oidc.authorize_redirect(request, callback)


@router.get("/auth/oidc/callback", include_in_schema=False)
async def oidc_callback(request: Request) -> Response:
    from authlib.integrations.base_client import OAuthError

    authenticator = _authenticator(request)
    if authenticator.oidc is None:
        return JSONResponse({"error": "OpenID Connect is not configured"}, status_code=404)
    try:
        token = await authenticator.oidc.authorize_access_token(request)
    except OAuthError as error:
        # The provider's error code only: its description may echo what was sent.
        log.warning("oidc login refused by the provider or the check: %s", error.error)
        return _denied(request, "the sign-in did not complete; please try again", 400)
    claims = token.get("userinfo") or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        return _denied(request, "the identity provider named no user", 400)
    email = claims.get("email") if claims.get("email_verified") is True else None
    user = await run_in_threadpool(authenticator.store.user_for_oidc, subject, email)
    if user is None:
        authenticator.audit.record(
            AuditAction.LOGIN_FAILED, claimed_identity(subject, known=False), via="oidc",
            reason="no_user", address=client_address(request),
        )
        return _denied(request, "your sign-in worked, but it has no caseflow role; ask a "
                       "supervisor to add you", 403)
    next_page = _next_page(request.session.get("next"))
    authenticator.start_session(request, user, "oidc")
    return RedirectResponse(next_page, status_code=303)


def _denied(request: Request, message: str, status: int) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "login_denied.html", {"message": message}, status_code=status
    )
