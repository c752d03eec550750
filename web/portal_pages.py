"""The patient portal's status side: the magic link that opens it (/portal/open/{token}), the
status page of the visitor's one case (/portal/case: received, missing, what the specialist asked
for, the stage in words, consents with withdrawal), and "send me a new link" (/portal/link).

No login: a valid status link opens a portal session for its case (web/portal_access.py), and
every page reads the case from that session only, never from the URL. Pages say nothing about
whether an address has a case.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from temporalio.client import Client

from caseflow import patient_words as words
from caseflow.case_status import CaseStage, CaseStatus
from caseflow.checklist import BNCT_SOURCE, REQUEST_SOURCE
from caseflow.consent import CONSENT_PURPOSES, RECORDS_REVIEW
from caseflow.portal_links import PortalLinkExpired, PortalLinkInvalid, email_digest, read_token
from client import cases, portal
from client.case_start import case_start_input
from client.errors import one_line
from web.access import NotAuthenticated
from web.auth import client_address, csrf_token
from web.pages import gettext_for, render
from web.portal_access import (
    PortalVisitor,
    close_portal_session,
    open_portal_session,
    portal_visitor,
)

router = APIRouter(prefix="/portal", tags=["portal"], include_in_schema=False)

# The stages a patient's case passes through, in order, for the page's progress list.
JOURNEY = [s for s in CaseStage if s != CaseStage.CLOSED]
# "Send me a new link": per address (keyed by its digest, whether or not it has a case) and per
# client address; in memory, as the login limits are.
LINKS_PER_ADDRESS = RateLimitItemPerHour(3)
LINK_REQUESTS_PER_CLIENT = RateLimitItemPerMinute(10)
_limiter = MovingWindowRateLimiter(MemoryStorage())
_FLASH = "portal_flash"


def _private(response: Response) -> Response:
    """Portal pages are the patient's alone: no referrer leaves them, no cache keeps them."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    return _private(
        render(request, template, status_code, portal_csrf=csrf_token(request), **context)
    )


def _refused(request: Request, reason: str, status_code: int = 401) -> Response:
    return _page(request, "portal/refused.html.j2", status_code, reason=reason)


async def _client(request: Request) -> Client:
    return await request.app.state.temporal.client()


def _audit(request: Request, case_id: str, action: str) -> None:
    request.app.state.access_audit.case_accessed(portal.PORTAL_ACTOR, case_id, action, "portal")


# -- the magic link ------------------------------------------------------------------------------


@router.get("/open/{token}")
async def open_link(request: Request, token: str) -> Response:
    settings = request.app.state.settings
    secret = settings.portal_link_secret
    if secret is None:
        return _refused(request, "invalid")
    try:
        claims = read_token(
            secret.get_secret_value(), token, "case_status", settings.portal_link_days * 86400
        )
    except PortalLinkExpired:
        return _refused(request, "expired")
    except PortalLinkInvalid:
        return _refused(request, "invalid")
    client = await _client(request)
    try:
        started = await case_start_input(client, claims.subject_id)
    except (cases.CaseNotFound, cases.CaseClosed):
        return _refused(request, "invalid")
    email = started.intake.patient.email
    # Bound to the address it was sent to: a case whose patient now has another gives no entry.
    if email is None or email_digest(email) != claims.email_sha256:
        return _refused(request, "invalid")
    # One case per visit: a link for another case replaces this browser's case, never adds one.
    open_portal_session(request, claims.subject_id, claims.email_sha256)
    _audit(request, claims.subject_id, "portal_opened")
    return _private(RedirectResponse("/portal/case", status_code=303))


@router.post("/leave")
async def leave(request: Request) -> Response:
    await request.app.state.authenticator.check_csrf(request)
    close_portal_session(request)
    return _page(request, "portal/left.html.j2")


# -- the status page -----------------------------------------------------------------------------


def _visitor(request: Request) -> PortalVisitor | None:
    try:
        return portal_visitor(request)
    except NotAuthenticated:
        return None


def status_context(request: Request, status: CaseStatus, ledger, hospitals: dict[str, str]):
    """What the page shows, in the reader's words: never item ids, file ids or file names."""
    _ = gettext_for(request)
    received: dict[str, list] = defaultdict(list)
    for document in status.documents:
        received[words.kind_words(document.kind, _)].append(document.uploaded_at)
    missing, requested = [], []
    for item in status.checklist:
        label = words.checklist_words(item.item_id, list(item.accepts), _)
        asked = item.source in (REQUEST_SOURCE, BNCT_SOURCE)
        if asked:
            requested.append({"label": label, "missing": item.missing})
        if item.missing:
            missing.append({"label": label, "requested": asked})
    consents = []
    for consent in portal.consents_in_view(ledger):
        country = words.country_words(consent.country, _) if consent.country else ""
        if consent.hospital_id:
            where = hospitals.get(consent.hospital_id, consent.hospital_id)
        elif consent.country:
            where = _("any hospital in %(country)s") % {"country": country}
        else:  # the records review: our specialists, nothing sent abroad
            where = _("our coordination team and specialists")
        consents.append(
            {
                "consent": consent,
                "purpose": words.purpose_words(consent.purpose, _),
                "country": country,
                "where": where,
            }
        )
    journey = [
        {"name": _(words.STAGE_NAMES[stage]), "current": stage == status.stage,
         "done": status.stage == CaseStage.CLOSED or JOURNEY.index(stage) < _journey_at(status)}
        for stage in JOURNEY
    ]
    return {
        "stage": status.stage.value,
        "stage_words": words.stage_words(status.stage, _),
        "stage_name": _(words.STAGE_NAMES[status.stage]),
        "closed": status.stage == CaseStage.CLOSED,
        "journey": journey,
        "received": sorted(
            ({"label": k, "count": len(v), "latest": max(v)} for k, v in received.items()),
            key=lambda r: r["label"],
        ),
        "missing": missing,
        "requested": requested,
        "consents": consents,
        "accepting_uploads": status.stage == CaseStage.RECORDS,
    }


def _journey_at(status: CaseStatus) -> int:
    return JOURNEY.index(status.stage) if status.stage in JOURNEY else len(JOURNEY)


@router.get("/case", response_class=HTMLResponse)
async def case_page(request: Request) -> Response:
    visitor = _visitor(request)
    if visitor is None:
        return _refused(request, "no_visit")
    client = await _client(request)
    try:
        status = await cases.case_status(client, visitor.case_id)
        ledger = await cases.consent_ledger(client, visitor.case_id)
        started = await case_start_input(client, visitor.case_id)
    except cases.CaseNotFound:
        close_portal_session(request)
        return _refused(request, "invalid")
    _audit(request, visitor.case_id, "portal_status_viewed")
    hospitals = {h.hospital_id: h.name for h in started.hospitals}
    flash = request.session.pop(_FLASH, None)
    return _page(
        request, "portal/case.html.j2", flash=flash,
        **status_context(request, status, ledger, hospitals),
    )


def _consent_fields(form) -> tuple[str | None, str | None, str] | None:
    country = str(form.get("country", ""))
    hospital_id = str(form.get("hospital_id", "")) or None
    purpose = str(form.get("purpose", ""))
    if purpose == RECORDS_REVIEW and not country and hospital_id is None:
        return None, None, purpose  # the records review: no country, no hospital
    if country not in words.COUNTRY_WORDS or purpose not in CONSENT_PURPOSES:
        return None
    return country, hospital_id, purpose


@router.post("/case/consents/withdraw")
async def withdraw_consent(request: Request) -> Response:
    """One click shows what withdrawing means and asks to confirm; the confirmation withdraws,
    through the same event as `case consent withdraw`."""
    visitor = _visitor(request)
    if visitor is None:
        return _refused(request, "no_visit")
    await request.app.state.authenticator.check_csrf(request)
    form = await request.form()
    fields = _consent_fields(form)
    _ = gettext_for(request)
    if fields is None:
        return _page(request, "portal/refused.html.j2", 400, reason="bad_request")
    country, hospital_id, purpose = fields
    client = await _client(request)
    started = await case_start_input(client, visitor.case_id)
    hospitals = {h.hospital_id: h.name for h in started.hospitals}
    if hospital_id is not None and hospital_id not in hospitals:
        return _page(request, "portal/refused.html.j2", 400, reason="bad_request")
    if country is None:
        where = _("our coordination team and specialists")
    elif hospital_id:
        where = hospitals[hospital_id]
    else:
        where = _("any hospital in %(country)s") % {"country": words.country_words(country, _)}
    described = {
        "country": country or "", "hospital_id": hospital_id or "", "purpose": purpose,
        "purpose_words": words.purpose_words(purpose, _), "where": where,
        "review": purpose == RECORDS_REVIEW,
    }
    if form.get("confirm") != "yes":
        return _page(request, "portal/withdraw_confirm.html.j2", consent=described)
    try:
        await portal.withdraw_patient_consent(
            client, visitor.case_id, country, hospital_id, purpose
        )
    except Exception as error:  # noqa: BLE001 - the case's refusal, shown to the patient
        return _page(
            request, "portal/withdraw_confirm.html.j2", 409, consent=described,
            error=one_line(error),
        )
    _audit(request, visitor.case_id, "portal_consent_withdrawn")
    request.session[_FLASH] = "review_withdrawn" if purpose == RECORDS_REVIEW else "withdrawn"
    return _private(RedirectResponse("/portal/case#consents", status_code=303))


# -- "send me a new link" --------------------------------------------------------------------------


@router.get("/link", response_class=HTMLResponse)
async def link_form(request: Request) -> Response:
    return _page(request, "portal/link.html.j2")


def _link_allowed(email: str, address: str) -> bool:
    keys = [
        (LINKS_PER_ADDRESS, "portal-link-address", hashlib.sha256(
            email_digest(email).encode()).hexdigest()[:32]),
        (LINK_REQUESTS_PER_CLIENT, "portal-link-client", address),
    ]
    return all(_limiter.hit(limit, *key) for limit, *key in keys)


async def mail_links(client: Client, settings, email: str) -> None:
    """A fresh link to every open case of this address (after the answer, so its timing tells
    nothing either). Failures are the mail's, logged without the address."""
    for case_id in await portal.open_cases_for_email(client, email):
        try:
            await portal.send_status_link(client, settings, case_id)
        except (portal.StatusLinkUnavailable, OSError):
            continue


@router.post("/link", response_class=HTMLResponse)
async def link_request(request: Request, background: BackgroundTasks) -> Response:
    await request.app.state.authenticator.check_csrf(request)
    form = await request.form()
    email = str(form.get("email", "")).strip()
    if not email or "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        return _page(request, "portal/link.html.j2", 400, error="email")
    if not _link_allowed(email, client_address(request)):
        return _page(request, "portal/link.html.j2", 429, error="too_many")
    background.add_task(
        mail_links, await _client(request), request.app.state.settings, email
    )
    # The same answer whether or not the address has a case.
    return _page(request, "portal/link_sent.html.j2")


@router.get("/language/{language}")
async def choose_language(request: Request, language: str, next: str = "/portal/case"):
    """The reader's language for the portal (a cookie the pages read); back to a portal page."""
    from caseflow.message_catalogues import catalogue_name
    from web.pages import available_languages

    target = next if next.startswith("/portal/") and "//" not in next else "/portal/case"
    response = RedirectResponse(target, status_code=303)
    if catalogue_name(language) in available_languages():
        response.set_cookie("lang", language, max_age=365 * 86400, samesite="lax")
    return _private(response)
