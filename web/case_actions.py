"""The case page's action forms: `POST /console/cases/{case_id}/actions/{action}` turns a form into
the event the API and the CLI send, through the same client layer. A refusal (the form's fields or
the workflow validator) comes back as its one line next to the form, with what was typed kept."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import FormData
from temporalio.client import Client, WorkflowUpdateFailedError

from caseflow.case_events import (
    AcceptPatientDocument,
    DischargeRecorded,
    FollowUpRecorded,
    RecordConsent,
    RejectPatientDocument,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    WaiveRequirement,
    Withdraw,
    WithdrawConsent,
)
from caseflow.documents import DocumentRef
from client import cases, inquiries, portal
from client.erasure import erase_case
from client.errors import one_line
from web.access import Forbidden, Principal
from web.case_pages import case_context, load_case, trial_matches
from web.case_routes import actor_id
from web.page_access import page_principal, refused_page
from web.pages import render

router = APIRouter(prefix="/console/cases", tags=["console"], include_in_schema=False)

_DOCUMENTS = TypeAdapter(list[DocumentRef])


class FormRefused(ValueError):
    """A form that cannot become an event; the message names the field, as the CLI would."""


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _list(form: FormData, name: str) -> list[str]:
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def _given(**fields: Any) -> dict[str, Any]:
    """The fields a person filled in; the event's defaults (and its messages) cover the rest."""
    return {k: v for k, v in fields.items() if v not in (None, [], "")}


Action = Callable[[Request, Client, str, FormData, Principal], Awaitable[str]]


async def _waive(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = WaiveRequirement.model_validate(
        _given(item_id=_text(form, "item_id"), reason=_text(form, "reason"),
               waived_by=actor_id(principal))
    )
    return (await cases.waive_requirement(client, case_id, event)).detail


async def _review(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = SubmitReview.model_validate(
        _given(
            outcome=_text(form, "outcome"),
            reviewer_id=_text(form, "reviewer_id"),
            modalities=_list(form, "modalities"),
            target_hospital_ids=_list(form, "target_hospital_ids"),
            requested_kinds=_list(form, "requested_kinds"),
            recommendation=_text(form, "recommendation"),
            reason=_text(form, "reason"),
            question=_text(form, "question"),
        )
    )
    return (await cases.submit_review(client, case_id, event)).detail


async def _consent(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    fields = _given(
        country=_text(form, "country"),
        hospital_id=_text(form, "hospital_id"),
        purpose=_text(form, "purpose"),
        recorded_by=actor_id(principal),
    )
    if _text(form, "change") == "withdraw":
        withdrawal = WithdrawConsent.model_validate(fields)
        return (await cases.withdraw_consent(client, case_id, withdrawal)).detail
    grant = RecordConsent.model_validate(fields)
    return (await cases.record_consent(client, case_id, grant)).detail


async def _select(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    hospital_id = _text(form, "hospital_id")
    if hospital_id is None:
        raise FormRefused("hospital_id: choose a hospital")
    return (await cases.select_hospital(client, case_id, hospital_id)).detail


async def _translation(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    raw = _text(form, "documents")
    if raw is None:
        raise FormRefused("documents: choose the translated files; they upload first")
    try:
        documents = _DOCUMENTS.validate_json(raw)
    except ValidationError:
        raise FormRefused("documents: the uploaded files' references are not valid") from None
    event = TranslationReceived.model_validate(
        _given(documents=documents, language=_text(form, "language"))
    )
    return (await cases.record_translation(client, case_id, event)).detail


async def _travel(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = TravelEvent.model_validate(
        _given(kind=_text(form, "kind"), on=_text(form, "on"),
               planned_admission_date=_text(form, "planned_admission_date"))
    )
    return (await cases.record_travel(client, case_id, event)).detail


def _date(form: FormData, name: str) -> date:
    given = _text(form, name)
    if given is None:
        return date.today()  # as the CLI: today when left out
    try:
        return date.fromisoformat(given)
    except ValueError:
        raise FormRefused(f"{name}: a date like 2026-03-01") from None


async def _admission(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    return (await cases.record_admission(client, case_id, _date(form, "on"))).detail


async def _discharge(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = DischargeRecorded(discharged_on=_date(form, "on"))
    return (await cases.record_discharge(client, case_id, event)).detail


async def _follow_up(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = FollowUpRecorded.model_validate(
        _given(day=_text(form, "day"), status=_text(form, "status"), note=_text(form, "note"))
    )
    return (await cases.record_follow_up(client, case_id, event)).detail


def _required(form: FormData, name: str) -> str:
    value = _text(form, name)
    if value is None:
        raise FormRefused(f"{name}: must not be empty")
    return value


async def _hold(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    return (await cases.hold(client, case_id, _required(form, "reason"))).detail


async def _resume(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    return (await cases.resume(client, case_id, _text(form, "note"))).detail


async def _retry(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    return (await cases.retry_step(client, case_id, _required(form, "step_id"))).detail


async def _skip(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    step_id, reason = _required(form, "step_id"), _required(form, "reason")
    return (await cases.skip_step(client, case_id, step_id, reason)).detail


async def _withdraw(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = Withdraw.model_validate(
        _given(reason=_text(form, "reason"), erase=form.get("erase") == "yes")
    )
    return (await cases.withdraw(client, case_id, event)).detail


async def _erase(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    if _text(form, "confirm_case_id") != case_id:
        raise FormRefused("confirm_case_id: retype the case id exactly to erase the case")
    report = await erase_case(
        client, request.app.state.settings, case_id,
        actor=principal.identity, withdraw_reason=_text(form, "withdraw_reason"),
    )
    return (
        f"case {case_id} erased: {report.versions_deleted} stored objects, "
        f"{len(report.executions_deleted)} workflow runs, {len(report.notices)} hospital notices"
    )


async def _status_link(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    """Mail the patient a fresh link to their status page (client/portal.py), as the case's
    stage changes do."""
    try:
        await portal.send_status_link(client, request.app.state.settings, case_id)
    except portal.StatusLinkUnavailable as error:
        raise FormRefused(str(error)) from None
    request.app.state.access_audit.case_accessed(
        principal.identity, case_id, "status_link_sent", principal.via
    )
    return "a new status link is on its way to the patient's e-mail"


async def _accept_inquiry(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    # The accepting coordinator takes the case on; a supervisor names who does.
    coordinator_id = principal.coordinator_id or _text(form, "coordinator_id")
    if coordinator_id is None:
        raise FormRefused("coordinator_id: name the coordinator who takes the case on")
    settings = request.app.state.settings
    return (await inquiries.accept(client, settings, case_id, coordinator_id)).detail


async def _decline_inquiry(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    reason = _required(form, "reason")
    return (await inquiries.decline(client, case_id, reason, actor_id(principal))).detail


async def _accept_upload(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = AcceptPatientDocument.model_validate(
        _given(document_id=_text(form, "document_id"), item_id=_text(form, "item_id"),
               accepted_by=actor_id(principal))
    )
    return (await cases.accept_patient_document(client, case_id, event)).detail


async def _reject_upload(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    event = RejectPatientDocument.model_validate(
        _given(document_id=_text(form, "document_id"), reason=_text(form, "reason"),
               rejected_by=actor_id(principal))
    )
    settings = request.app.state.settings
    return (await cases.reject_patient_document(settings, client, case_id, event)).detail


# -- the next option and trial referrals (issue 15) ---------------------------------------------


async def _next_option(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    from caseflow.trial_referrals import ChooseNextOption
    from client import trials

    event = ChooseNextOption.model_validate(
        _given(option=_text(form, "option"), reason=_text(form, "reason"),
               chosen_by=actor_id(principal))
    )
    return (await trials.choose_next_option(client, case_id, event)).detail


async def _trial_refer(
    request: Request, client: Client, case_id: str, form: FormData, principal: Principal
) -> str:
    from client import trials

    study_ids = _list(form, "study_ids")
    if not study_ids:
        raise FormRefused("study_ids: tick at least one study")
    ack = await trials.refer_case_to_trials(
        client, request.app.state.settings, case_id, study_ids,
        recipient=_text(form, "to"), referred_by=actor_id(principal),
    )
    return ack.detail


ACTIONS: dict[str, Action] = {
    "next-option": _next_option,
    "trial-refer": _trial_refer,
    "accept-inquiry": _accept_inquiry,
    "decline-inquiry": _decline_inquiry,
    "accept-upload": _accept_upload,
    "reject-upload": _reject_upload,
    "waive": _waive,
    "review": _review,
    "consent": _consent,
    "select": _select,
    "translation": _translation,
    "travel": _travel,
    "admission": _admission,
    "discharge": _discharge,
    "follow-up": _follow_up,
    "hold": _hold,
    "resume": _resume,
    "retry": _retry,
    "skip": _skip,
    "withdraw": _withdraw,
    "erase": _erase,
    "status-link": _status_link,
}


def _typed(form: FormData) -> dict[str, list[str]]:
    """What the person typed, to put back in the refused form (never the CSRF token)."""
    kept: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key != "csrf_token" and isinstance(value, str):
            kept.setdefault(key, []).append(value)
    return kept


@router.post("/{case_id}/actions/{action}")
async def case_action(request: Request, case_id: str, action: str) -> Response:
    htmx = bool(request.headers.get("hx-request"))
    try:
        principal = await page_principal(request)
        if principal.via in ("session", "oidc"):
            await request.app.state.authenticator.check_csrf(request)
        perform = ACTIONS.get(action)
        if perform is None:
            return refused_page(request, status_code=404, message=f"ACTION: no action {action!r}")
        client = await request.app.state.temporal.client()
        status, start = await load_case(request, client, case_id, principal, f"console_{action}")
    except Forbidden as error:
        return refused_page(request, status_code=403, message=str(error))
    except (ValueError, cases.CaseNotFound) as error:
        return refused_page(request, status_code=404, message=one_line(error))
    form = await request.form()
    try:
        detail = await perform(request, client, case_id, form, principal)
    except (ValidationError, ValueError, WorkflowUpdateFailedError, cases.CaseClosed) as error:
        # ValidationError is a ValueError: the form's own fields, 400; the case said no, 409.
        code = 400 if isinstance(error, ValueError) else 409
        refused = {"action": action, "values": _typed(form), "error": one_line(error)}
        # The whole page again: with the ranked studies when it shows them (issue 15).
        matches = {} if htmx else await trial_matches(request, client, status)
        context = case_context(request, principal, status, start, form=refused, **matches)
        template = "console/case/actions.html.j2" if htmx else "console/case.html.j2"
        return render(request, template, status_code=code, **context)
    notice = f"{action}: {detail}" if detail else f"{action}: done"
    if action == "erase":
        request.session["console_notice"] = notice
        if htmx:
            return Response(status_code=204, headers={"HX-Redirect": "/console"})
        return RedirectResponse("/console", status_code=303)
    if not htmx:
        request.session["console_notice"] = notice
        return RedirectResponse(f"/console/cases/{case_id}#actions", status_code=303)
    status = await cases.case_status(client, case_id)
    context = case_context(request, principal, status, start, notice=notice)
    response = render(request, "console/case/actions.html.j2", **context, notice_oob=True)
    # The other sections refresh at once through the live fragment.
    response.headers["HX-Trigger"] = "case-changed"
    return response
