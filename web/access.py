"""Who is asking and what they may do: the principal behind a request, its role, and the rules
every route applies before it touches a case. Authentication itself lives in web/auth.py."""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict

from caseflow.inquiry import INQUIRY_POOL
from client.identities import Role  # noqa: F401 - web.access.Role stays importable

STAFF_ROLES = (Role.COORDINATOR, Role.SUPERVISOR)


class Principal(BaseModel):
    """The identity a request acts under; what the audit trail names. Never patient data."""

    model_config = ConfigDict(frozen=True)

    identity: str  # e.g. "user:coord-demo", "token:3f2a...", "hospital:in-mumbai-tmh"
    role: Role
    coordinator_id: str | None = None  # for coordinators: whose cases are theirs
    hospital_id: str | None = None  # for hospitals: whose referrals are theirs
    via: Literal["session", "token", "oidc", "signature", "reply_link"]


class NotAuthenticated(Exception):
    """No valid login, token, signature or link: 401."""


class Forbidden(Exception):
    """Authenticated, but this principal may not do this: 403. The message names no patient."""


class Authenticator(Protocol):
    """What web/auth.py provides on app.state.authenticator."""

    async def authenticate(self, request: Request) -> Principal | None: ...

    async def check_csrf(self, request: Request) -> None:
        """Raise Forbidden unless an unsafe request made with a session cookie carries the
        session's CSRF token."""
        ...


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def current_principal(request: Request) -> Principal:
    """The request's principal, or 401. Session-authenticated writes must pass the CSRF check."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        raise NotAuthenticated("log in, or send an API token as 'Authorization: Bearer ...'")
    if principal.via in ("session", "oidc") and request.method not in _SAFE_METHODS:
        await authenticator.check_csrf(request)
    request.state.principal = principal
    return principal


def require_roles(*roles: Role):
    """A dependency that admits only the given roles."""

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = " or ".join(role.value for role in roles)
            raise Forbidden(f"this needs the {allowed} role; you are {principal.role.value}")
        return principal

    return dependency


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]


def check_case_access(principal: Principal, case_id: str, case_coordinator_id: str) -> None:
    """A supervisor acts on every case, a coordinator on the cases assigned to them and on new
    inquiries in the intake pool (any coordinator may take one on: first contact within 24 h)."""
    if principal.role == Role.SUPERVISOR:
        return
    if principal.role == Role.COORDINATOR and case_coordinator_id in (
        principal.coordinator_id, INQUIRY_POOL
    ):
        return
    raise Forbidden(f"case {case_id} is not assigned to you")


def list_scope(principal: Principal, coordinator_filter: str | None) -> str | None:
    """The coordinator filter a case list runs with: a coordinator sees only their own cases."""
    if principal.role == Role.SUPERVISOR:
        return coordinator_filter
    if principal.role == Role.COORDINATOR:
        if coordinator_filter not in (None, principal.coordinator_id):
            raise Forbidden("coordinators list their own cases only")
        return principal.coordinator_id
    raise Forbidden(f"the {principal.role.value} role does not list cases")
