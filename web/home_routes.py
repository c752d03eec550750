"""The service's front door, `/`: staff go to the console's work queue, a browser without a login
to the login page (which brings it back to the console)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from web.auth_routes import AFTER_LOGIN

router = APIRouter(include_in_schema=False)


@router.get("/")
async def front_door(request: Request) -> RedirectResponse:
    principal = await request.app.state.authenticator.authenticate(request)
    if principal is None:
        return RedirectResponse(f"/login?next={AFTER_LOGIN}", status_code=303)
    return RedirectResponse(AFTER_LOGIN, status_code=303)
