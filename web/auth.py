"""Who a request comes from: API tokens (`Authorization: Bearer cf_...`), session cookies set by
the login form or OpenID Connect, the CSRF check for session writes, and failed-login limits.

Identities: a user, whether by session or by their token, is `user:<login>`; a hospital token is
`hospital:<hospital_id>`. Case audit entries name the person, and the token id a request used is
in the `token_used` access entry, so both who and with which credential are on record.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from activities.audit import AuditAction, AuditTrail
from caseflow.settings import CaseflowSettings
from client.access_audit import AccessAudit
from client.identities import LOGIN_PATTERN, IdentityStore, Role, TokenRecord, User
from web.access import Forbidden, Principal

log = logging.getLogger("caseflow.web")

SESSION_COOKIE = "caseflow_session"
CSRF_HEADER = "x-csrf-token"
# How long a token's lookup is reused (so revoking takes effect within it), and how many are kept.
TOKEN_CACHE_SECONDS = 2.0
TOKEN_CACHE_SIZE = 10_000
CSRF_FIELD = "csrf_token"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# Routes that stream their body (uploads): their body is never read for a form field.
_STREAMED_SUFFIXES = ("/documents", "/files")


class LoginRefused(Exception):
    """A login that did not succeed; the message is what the person is shown, and it is the same
    whether or not the login exists."""

    status = 401


class TooManyAttempts(LoginRefused):
    status = 429


def _plain(secret: SecretStr | str) -> str:
    # Settings copied with model_copy(update=...) keep plain strings where SecretStr is declared.
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def session_cookie_options(settings: CaseflowSettings) -> dict[str, Any]:
    """Starlette SessionMiddleware's options: an itsdangerous-signed cookie, HttpOnly (always, in
    Starlette), SameSite=Lax, Secure when the service is behind https."""
    if settings.session_secret is None:
        raise ValueError(
            "CASEFLOW_SESSION_SECRET is not set: 'caseflow dev up' writes one to "
            ".data/caseflow.env; in production set it to 32 or more random bytes"
        )
    return {
        "secret_key": _plain(settings.session_secret),
        "session_cookie": SESSION_COOKIE,
        "max_age": settings.session_max_age_seconds,
        "same_site": "lax",
        "https_only": settings.session_https_only,
    }


def claimed_identity(login: str, known: bool) -> str:
    """How the audit names who a login attempt claimed to be. A login typed wrong could be any
    text (a password typed into the wrong field, even), so an unknown one is kept as a hash."""
    if known and LOGIN_PATTERN.fullmatch(login):
        return f"user:{login}"
    return f"unknown-login:{hashlib.sha256(login.encode()).hexdigest()[:16]}"


class LoginAttempts:
    """Failed logins per login and per client address in a moving one-minute window (limits).
    The login is keyed by its hash whether or not it exists, so the limit tells nothing."""

    def __init__(self, per_minute: int):
        self._limit = RateLimitItemPerMinute(per_minute)
        # In memory: one service process. Several replicas would share limits' redis storage.
        self._window = MovingWindowRateLimiter(MemoryStorage())

    @staticmethod
    def _keys(login: str, address: str) -> list[tuple[str, str]]:
        digest = hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]
        return [("login", digest), ("address", address)]

    def allowed(self, login: str, address: str) -> bool:
        return all(self._window.test(self._limit, *key) for key in self._keys(login, address))

    def failed(self, login: str, address: str) -> None:
        for key in self._keys(login, address):
            self._window.hit(self._limit, *key)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def principal_for_token(record: TokenRecord) -> Principal:
    if record.role == Role.HOSPITAL:
        return Principal(identity=f"hospital:{record.hospital_id}", role=Role.HOSPITAL,
                         hospital_id=record.hospital_id, via="token")
    return Principal(identity=f"user:{record.user}", role=record.role,
                     coordinator_id=record.coordinator_id, via="token")


def principal_for_user(user: User, via: str) -> Principal:
    return Principal(identity=user.identity, role=user.role, coordinator_id=user.coordinator_id,
                     via="oidc" if via == "oidc" else "session")


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the login form needs one before a login).
    Pages put it in a `csrf_token` field; scripts send it as the X-CSRF-Token header."""
    session = request.session
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


class SessionAuthenticator:
    """The service's Authenticator (web/access.py): tokens first, then the session cookie."""

    def __init__(self, settings: CaseflowSettings, store: IdentityStore, audit: AccessAudit):
        self.settings = settings
        self.store = store
        self.audit = audit
        self.attempts = LoginAttempts(settings.login_attempts_per_minute)
        self.oidc = _oidc_client(settings)
        self._tokens: dict[bytes, tuple[float, TokenRecord | None]] = {}

    async def authenticate(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is not None:
            # A request that presents a token stands or falls by it, whatever cookie it has.
            scheme, _, secret = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            record = await self._token(secret.strip())
            if record is None:
                return None
            principal = principal_for_token(record)
            self.audit.token_used(principal.identity, record.token_id, record.hospital_id)
            return principal
        if "session" not in request.scope:
            return None
        session = request.session
        login = session.get("login")
        if not isinstance(login, str):
            return None
        since = session.get("since")
        max_age = self.settings.session_max_age_seconds
        if not isinstance(since, int) or time.time() - since > max_age:
            # The cookie slides with use; a login does not outlive its max age however used.
            session.clear()
            return None
        # Checked on every request, so disabling a user ends their sessions at once.
        user = await run_in_threadpool(self.store.get_user, login)
        if user is None or user.disabled:
            session.clear()
            return None
        return principal_for_user(user, session.get("via", "session"))

    async def _token(self, secret: str) -> TokenRecord | None:
        """The token's record, looked up at most once per TOKEN_CACHE_SECONDS: a revocation or
        a disabled user takes effect within that window, and an API client's requests do not each
        wait on the identity database."""
        key = hashlib.sha256(secret.encode()).digest()
        cached = self._tokens.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            record = cached[1]
        else:
            record = await run_in_threadpool(self.store.resolve_token, secret)
            if len(self._tokens) >= TOKEN_CACHE_SIZE:
                self._tokens.clear()
            self._tokens[key] = (now + TOKEN_CACHE_SECONDS, record)
        if record is not None and record.state() != "active":  # expired since it was cached
            return None
        return record

    async def check_csrf(self, request: Request) -> None:
        # A synchronizer token bound to the session and compared in constant time. starlette-csrf
        # (double-submit cookie) reads only a header, so plain HTML forms could not post, and it
        # would guard token-authenticated API calls that need no CSRF defence at all.
        expected = request.session.get("csrf") if "session" in request.scope else None
        supplied: object = request.headers.get(CSRF_HEADER)
        if supplied is None:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind in _FORM_TYPES and not request.url.path.endswith(_STREAMED_SUFFIXES):
                supplied = (await request.form()).get(CSRF_FIELD)
        if not (
            isinstance(expected, str)
            and isinstance(supplied, str)
            and secrets.compare_digest(expected.encode(), supplied.encode())
        ):
            raise Forbidden(
                "missing or wrong CSRF token: send the X-CSRF-Token header "
                "(GET /auth/session gives it) or the form's csrf_token field"
            )

    async def password_login(self, request: Request, login: str, password: str) -> User:
        """Check a login and password under the failed-login limit, and audit the attempt."""
        address = client_address(request)
        if not self.attempts.allowed(login, address):
            known = await run_in_threadpool(self.store.get_user, login) is not None
            self.audit.record(AuditAction.LOGIN_FAILED, claimed_identity(login, known),
                              reason="rate_limited", address=address)
            raise TooManyAttempts("too many failed logins; wait a minute and try again")
        user = await run_in_threadpool(self.store.verify_password, login, password)
        if user is None:
            self.attempts.failed(login, address)
            existing = await run_in_threadpool(self.store.get_user, login)
            reason = "unknown_login" if existing is None else (
                "disabled" if existing.disabled else "wrong_password")
            self.audit.record(AuditAction.LOGIN_FAILED,
                              claimed_identity(login, existing is not None),
                              reason=reason, address=address)
            raise LoginRefused("wrong login or password")
        return user

    def start_session(self, request: Request, user: User, via: str) -> None:
        """A fresh session for the user: a new CSRF token, so nothing from before the login
        (a planted session) carries over."""
        request.session.clear()
        request.session.update(
            login=user.login, via=via, since=int(time.time()), csrf=secrets.token_urlsafe(32)
        )
        self.audit.record(AuditAction.LOGIN_SUCCEEDED, user.identity, via=via,
                          address=client_address(request))

    def end_session(self, request: Request, principal: Principal | None) -> None:
        if principal is not None:
            self.audit.record(AuditAction.LOGGED_OUT, principal.identity, via=principal.via,
                              address=client_address(request))
        request.session.clear()

    def close(self) -> None:
        self.audit.close()
        self.store.close()


def _oidc_client(settings: CaseflowSettings) -> Any | None:
    if not (settings.oidc_discovery_url and settings.oidc_client_id):
        return None
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    oauth.register(
        "caseflow",
        server_metadata_url=settings.oidc_discovery_url,
        client_id=settings.oidc_client_id,
        client_secret=_plain(settings.oidc_client_secret) if settings.oidc_client_secret else None,
        client_kwargs={"scope": "openid email profile"},
    )
    return oauth.create_client("caseflow")


def build_authenticator(settings: CaseflowSettings) -> SessionAuthenticator:
    session_cookie_options(settings)  # refuse to start without a session secret
    return SessionAuthenticator(
        settings, IdentityStore.from_settings(settings), AccessAudit(AuditTrail(settings))
    )
