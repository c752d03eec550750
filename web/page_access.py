"""Who may open a console page: staff (coordinators and supervisors) only. A browser without a
login is sent to the login page and back; any other role gets a 403 page, not JSON."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from web.access import STAFF_ROLES, Authenticator, Forbidden, Principal
from web.pages import gettext_for, render


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


def refused_page(request: Request, message: str, status_code: int = 403) -> HTMLResponse:
    return render(request, "console/refused.html.j2", status_code=status_code, message=message)


async def staff_page(request: Request) -> Principal | RedirectResponse | HTMLResponse:
    """The staff principal behind a page request, or the response to send instead (a redirect
    to log in, or a 403 page). Writes must still pass the CSRF check (done here for POSTs)."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator.authenticate(request)
    if principal is None:
        return login_redirect(request)
    request.state.principal = principal
    if principal.role not in STAFF_ROLES:
        _ = gettext_for(request)
        return refused_page(
            request,
            _("The console is for coordinators and supervisors; you are logged in as %(role)s.")
            % {"role": principal.role.value},
        )
    if request.method not in ("GET", "HEAD") and principal.via in ("session", "oidc"):
        try:
            await authenticator.check_csrf(request)
        except Forbidden as refused:
            return refused_page(request, str(refused))
    return principal
