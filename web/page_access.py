"""Who may open a console page: staff (coordinators and supervisors) only. A browser without a
login is sent to the login page and back; any other role gets a 403 page, not JSON."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from web.access import STAFF_ROLES, Authenticator, Forbidden, Principal
from web.pages import gettext_for, render


def login_location(request: Request) -> str:
    """Where the login page sends the browser back to: the page itself, never one of its
    fragments (`/live`) or form targets (`/actions/...`)."""
    path = request.url.path
    if request.method != "GET":
        path = path.split("/actions/")[0]
        query = ""
    else:
        query = f"?{request.url.query}" if request.url.query and not path.endswith("/live") else ""
    target = path.removesuffix("/live") + query
    return f"/login?next={quote(target, safe='/')}"


def login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(login_location(request), status_code=303)


def refused_page(request: Request, message: str, status_code: int = 403) -> HTMLResponse:
    return render(
        request,
        "console/refused.html.j2",
        status_code=status_code,
        message=message,
        refused_code=status_code,
    )


def _not_staff(request: Request, principal: Principal) -> str:
    _ = gettext_for(request)
    return _(
        "The console is for coordinators and supervisors; you are logged in as %(role)s."
    ) % {"role": principal.role.value}


async def staff_page(request: Request) -> Principal | RedirectResponse | HTMLResponse:
    """The staff principal behind a page request, or the response to send instead (a redirect
    to log in, or a 403 page). Writes must still pass the CSRF check (done here for POSTs)."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        return login_redirect(request)
    request.state.principal = principal
    if principal.role not in STAFF_ROLES:
        return refused_page(request, _not_staff(request, principal))
    if request.method not in ("GET", "HEAD") and principal.via in ("session", "oidc"):
        try:
            await authenticator.check_csrf(request)
        except Forbidden as refused:
            return refused_page(request, str(refused))
    return principal


async def page_principal(request: Request) -> Principal:
    """staff_page for routes that raise rather than return: no login raises a redirect (for
    htmx, HX-Redirect, which moves the whole page rather than the fragment); another role raises
    Forbidden, which the route renders with refused_page. No CSRF check: the route does it."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        location = login_location(request)
        if request.headers.get("hx-request"):
            raise StarletteHTTPException(401, "log in first", headers={"HX-Redirect": location})
        raise StarletteHTTPException(303, "log in first", headers={"Location": location})
    request.state.principal = principal
    if principal.role not in STAFF_ROLES:
        raise Forbidden(_not_staff(request, principal))
    return principal
