"""The console's case page: one case's header, checklist with uploads, triage, referrals, answers,
deadlines, timeline and action forms, and the live fragment that refreshes it as the case changes.

Pages call the client layer directly. Every view is audited like the API's reads; a page request
without a login is sent to the login page, one for another coordinator's case gets a 403 page."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from temporalio.client import Client

from caseflow.case_events import HospitalDecision, ReviewOutcome, TravelEventKind
from caseflow.case_status import CaseStage, CaseStatus, HospitalReferralStatus, ReferralState
from caseflow.documents import DocumentKind
from caseflow.hospitals import Modality
from caseflow.intake import ConsentGrant, DestinationCountry
from client import cases
from client import packets as packet_links
from client.case_start import CaseWorkflowInput, case_start_input
from client.errors import one_line
from web.access import Forbidden, Principal, check_case_access
from web.page_access import page_principal, refused_page
from web.pages import render

router = APIRouter(prefix="/console/cases", tags=["console"], include_in_schema=False)

# Seconds between the page's polls of its live fragment.
LIVE_EVERY_SECONDS = 3
_STARTS_KEPT = 512


def audit_view(request: Request, principal: Principal, case_id: str, action: str) -> None:
    request.app.state.access_audit.case_accessed(principal.identity, case_id, action, principal.via)


async def start_input(request: Request, client: Client, case_id: str) -> CaseWorkflowInput:
    """The case's start input, kept per case in the process: it never changes for a case, and the
    page and its live fragment need it (the patient's name, the hospitals in scope)."""
    kept: OrderedDict[str, CaseWorkflowInput] = request.app.state.__dict__.setdefault(
        "console_case_starts", OrderedDict()
    )
    found = kept.get(case_id)
    if found is None:
        found = kept[case_id] = await case_start_input(client, case_id)
        while len(kept) > _STARTS_KEPT:
            kept.popitem(last=False)
    return found


async def load_case(
    request: Request, client: Client, case_id: str, principal: Principal, action: str
) -> tuple[CaseStatus, CaseWorkflowInput]:
    """The status (whose coordinator decides access) and the start input, after the check."""
    cases.check_case_id(case_id)
    status = await cases.case_status(client, case_id)
    check_case_access(principal, case_id, status.coordinator_id)
    audit_view(request, principal, case_id, action)
    return status, await start_input(request, client, case_id)


# -- what the page shows -----------------------------------------------------------------------


def live_version(status: CaseStatus) -> str:
    """Changes exactly when the case does: the status without the clock's own field."""
    body = status.model_dump_json(exclude={"time_in_stage"})
    return hashlib.sha256(body.encode()).hexdigest()[:20]


def accepted_hospitals(status: CaseStatus) -> list[HospitalReferralStatus]:
    return [
        h for h in status.hospitals
        if h.response is not None and h.response.decision == HospitalDecision.ACCEPT
        and h.state in (ReferralState.ACCEPTED, ReferralState.SELECTED)
    ]


def available_actions(status: CaseStatus) -> list[str]:
    """The forms that make sense now. The workflow's validators still decide: a form shown on a
    page that has gone stale is refused with their one line."""
    stage = status.stage
    if stage == CaseStage.CLOSED:
        return ["erase"]
    shown: list[str] = []
    if stage == CaseStage.INTAKE:
        # A patient's inquiry waiting for a coordinator (the workflow refuses other cases).
        shown += ["accept-inquiry", "decline-inquiry"]
    if stage == CaseStage.RECORDS and any(not i.satisfied_by for i in status.checklist):
        shown.append("waive")
    if stage == CaseStage.SPECIALIST_REVIEW:
        shown.append("review")
    if stage in (CaseStage.HOSPITAL_SUBMISSION, CaseStage.TRIAL_SCREENING) and (
        accepted_hospitals(status)
    ):
        shown.append("select")
    if stage == CaseStage.NEXT_OPTION:  # issue 15: the coordinator's next option
        shown.append("next-option")
    if stage == CaseStage.TRANSLATION:
        shown.append("translation")
    if stage == CaseStage.TRAVEL:
        shown.append("travel")
    if stage == CaseStage.ADMISSION:
        shown.append("discharge" if status.admitted_on else "admission")
    if stage == CaseStage.FOLLOW_UP:
        shown.append("follow-up")
    if status.failed_steps:
        shown += ["retry", "skip"]
    shown.append("resume" if status.on_hold else "hold")
    shown += ["status-link", "consent", "withdraw", "erase"]
    return shown


def actions_version(status: CaseStatus) -> str:
    """Changes when the action forms' choices do, so a live refresh leaves a form being filled
    alone unless its choices changed."""
    parts = [
        status.stage.value, str(status.on_hold), ",".join(available_actions(status)),
        ",".join(i.item_id for i in status.checklist if not i.satisfied_by),
        ",".join(sorted(step.step_id for step in status.failed_steps)),
        ",".join(h.hospital_id for h in accepted_hospitals(status)),
        ",".join(f"{f.day}:{f.status}" for f in status.follow_ups),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} d"
    if hours >= 1:
        return f"{hours} h"
    return f"{max(int(span.total_seconds() // 60), 0)} min"


def case_context(
    request: Request,
    principal: Principal,
    status: CaseStatus,
    start: CaseWorkflowInput,
    **extra: Any,
) -> dict[str, Any]:
    """What every part of the case page renders from."""
    hospitals = {h.hospital_id: h for h in start.hospitals}
    patient = start.intake.patient
    deadlines_by_subject: dict[str, list] = {}
    for deadline in status.open_deadlines:
        deadlines_by_subject.setdefault(deadline.subject, []).append(deadline)
    stages = [s for s in CaseStage]
    return {
        "status": status,
        "case_id": status.case_id,
        "patient_name": f"{patient.given_name} {patient.family_name}",
        "hospital_names": {
            **{k: h.name for k, h in hospitals.items()},
            # Trial sites (issue 15) by the study they stand for.
            **{t.site_id: f"{t.study_id}: {t.title}" for t in status.trials},
        },
        "hospitals_in_scope": start.hospitals,
        "stages": stages,
        "stage_index": stages.index(status.stage),
        "deadlines_by_subject": deadlines_by_subject,
        "accepted": accepted_hospitals(status),
        "answered": [h for h in status.hospitals if h.response is not None],
        "actions": available_actions(status),
        "version": live_version(status),
        "actions_key": actions_version(status),
        "live_every": LIVE_EVERY_SECONDS,
        "ui_link": cases.ui_link(request.app.state.settings, status.case_id),
        "when": when,
        "duration": duration,
        "review_outcomes": list(ReviewOutcome),
        "modalities": list(Modality),
        "document_kinds": list(DocumentKind),
        "travel_kinds": list(TravelEventKind),
        "follow_up_statuses": ["well", "recurrence", "toxicity", "deceased", "lost_to_follow_up"],
        "countries": get_args(DestinationCountry),
        "consent_purposes": get_args(ConsentGrant.model_fields["purpose"].annotation),
        "today": datetime.now(UTC).date().isoformat(),
        "form": None,
        "notice": None,
        "trial_matches": None,
        "trial_matches_error": None,
        **extra,
    }


# -- routes ------------------------------------------------------------------------------------


async def _client(request: Request) -> Client:
    return await request.app.state.temporal.client()


@router.get("/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str) -> Response:
    try:
        principal = await page_principal(request)
        status, start = await load_case(
            request, await _client(request), case_id, principal, "console_view"
        )
    except Forbidden as error:
        return refused_page(request, status_code=403, message=str(error))
    except (ValueError, cases.CaseNotFound) as error:
        return refused_page(request, status_code=404, message=one_line(error))
    notice = request.session.pop("console_notice", None) if "session" in request.scope else None
    return render(
        request, "console/case.html.j2",
        **case_context(request, principal, status, start, notice=notice,
                       **await trial_matches(request, await _client(request), status)),
    )


async def trial_matches(request: Request, client: Client, status: CaseStatus) -> dict[str, Any]:
    """The ranked studies for a case looking for its next option (issue 15), or why none show."""
    if status.stage not in (CaseStage.NEXT_OPTION, CaseStage.TRIAL_SCREENING):
        return {}
    from client import trials

    try:
        found = await trials.case_trial_matches(
            client, request.app.state.settings, status.case_id
        )
    except ValueError as error:
        return {"trial_matches_error": one_line(error)}
    return {"trial_matches": found}


@router.get("/{case_id}/live")
async def case_live(request: Request, case_id: str, v: str = "", a: str = "") -> Response:
    """204 when nothing changed since version `v` (htmx leaves the page alone), else the changed
    sections as out-of-band swaps; the action forms only when their choices changed (`a`)."""
    try:
        principal = await page_principal(request)
        status, start = await load_case(
            request, await _client(request), case_id, principal, "console_live"
        )
    except Forbidden as error:
        return refused_page(request, status_code=403, message=str(error))
    except (ValueError, cases.CaseNotFound) as error:
        return refused_page(request, status_code=404, message=one_line(error))
    context = case_context(request, principal, status, start)
    if context["version"] == v:
        return Response(status_code=204)
    return render(
        request, "console/case_live.html.j2",
        **context, include_actions=context["actions_key"] != a,
    )


@router.get("/{case_id}/packets/{hospital_id}", response_class=HTMLResponse)
async def packet_page(request: Request, case_id: str, hospital_id: str) -> Response:
    """The packet stored for a hospital, as fresh short-lived links (each issue audited)."""
    try:
        principal = await page_principal(request)
        client = await _client(request)
        cases.check_case_id(case_id)
        check_case_access(principal, case_id, await cases.case_coordinator(client, case_id))
        audit_view(request, principal, case_id, "packet")
        links = await packet_links.packet_links(
            client, request.app.state.settings, case_id, hospital_id, actor=principal.identity
        )
    except Forbidden as error:
        return refused_page(request, status_code=403, message=str(error))
    except (LookupError, ValueError) as error:
        return refused_page(request, status_code=404, message=one_line(error))
    return render(request, "console/packet.html.j2", links=links, case_id=case_id, when=when)
