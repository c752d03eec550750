"""Who is on the patient portal: a browser that opened a case's magic link holds a portal session
(in the signed session cookie) for that one case and that one e-mail digest. Portal routes ask
here which case the browser may see; staff logins grant nothing on the portal."""

from __future__ import annotations

import time

from fastapi import Request
from pydantic import BaseModel

from web.access import NotAuthenticated

SESSION_KEY = "portal"


class PortalVisitor(BaseModel):
    case_id: str
    email_sha256: str
    since: int  # Unix time the link was opened


def open_portal_session(request: Request, case_id: str, email_sha256: str) -> PortalVisitor:
    """After a valid status link: this browser may see this case until the session ends."""
    visitor = PortalVisitor(case_id=case_id, email_sha256=email_sha256, since=int(time.time()))
    request.session[SESSION_KEY] = visitor.model_dump()
    return visitor


def portal_visitor(request: Request) -> PortalVisitor:
    """The portal visitor behind a request, or NotAuthenticated (open the link from the e-mail
    again). A session older than the settings' portal link validity has ended."""
    held = request.session.get(SESSION_KEY) if "session" in request.scope else None
    if not isinstance(held, dict):
        raise NotAuthenticated("open the link in your e-mail to see your case")
    visitor = PortalVisitor.model_validate(held)
    days = request.app.state.settings.portal_link_days
    if time.time() - visitor.since > days * 86400:
        request.session.pop(SESSION_KEY, None)
        raise NotAuthenticated("this visit has ended; open the link in your latest e-mail")
    return visitor


def close_portal_session(request: Request) -> None:
    request.session.pop(SESSION_KEY, None)
