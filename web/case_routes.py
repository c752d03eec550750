"""The coordinators' API: every action the `caseflow case` CLI has, as an endpoint under
/api/v1/cases, calling the same client layer. Each case route checks that the caller may act on
that case before it reads or changes anything, and records the access in the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from temporalio.client import Client

from caseflow.case_events import (
    DischargeRecorded,
    FollowUpRecorded,
    HospitalAcknowledgement,
    HospitalResponse,
    RecordConsent,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    WaiveRequirement,
    Withdraw,
    WithdrawConsent,
)
from caseflow.case_status import CaseStage, CaseStatus, EventAck
from caseflow.consent import ConsentLedger
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.intake import CaseIntake
from client import cases, inquiries
from client import packets as packet_links
from client.erasure import ErasureReport, erase_case
from web.access import Principal, Role, Staff, check_case_access, list_scope
from web.app import temporal_client
from web.uploads import receive_document

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

TemporalClient = Annotated[Client, Depends(temporal_client)]


class StartedCase(BaseModel):
    case_id: str
    ui: str


class StoredDocument(BaseModel):
    document: DocumentRef
    ack: EventAck | None = None


class SelectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hospital_id: str = Field(pattern=r"^[a-z0-9-]{1,60}$")


class DateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on: date | None = None  # today if omitted, as in the CLI


class ReasonBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=4000)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, min_length=1, max_length=4000)


class EraseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Withdraw an open case first, with this reason (the CLI's --withdraw --reason).
    withdraw_reason: str | None = Field(default=None, min_length=1, max_length=4000)


class AuditEntries(BaseModel):
    entries: list[dict[str, Any]]


def actor_id(principal: Principal) -> str:
    """The person id events record as who did it (a coordinator id, or the staff login)."""
    return principal.coordinator_id or principal.identity.split(":", 1)[-1]


def _audit_access(request: Request, principal: Principal, case_id: str, action: str) -> None:
    request.app.state.access_audit.case_accessed(principal.identity, case_id, action, principal.via)


async def _authorized(
    request: Request, client: Client, case_id: str, principal: Principal, action: str
) -> None:
    """Refuse, before anything happens, a case the caller may not act on; audit the access."""
    cases.check_case_id(case_id)
    check_case_access(principal, case_id, await cases.case_coordinator(client, case_id))
    _audit_access(request, principal, case_id, action)


def _with_actor(event: BaseModel, field: str, principal: Principal) -> Any:
    """The event with `field` (waived_by, recorded_by, ...) naming the caller when left out."""
    if getattr(event, field) is None:
        return event.model_copy(update={field: actor_id(principal)})
    return event


# -- starting and reading ---------------------------------------------------------------------


@router.post("", status_code=201)
async def start_case(
    request: Request, intake: CaseIntake, principal: Staff, client: TemporalClient
) -> StartedCase:
    """Validate an intake (the JSON `caseflow case start` reads) and start the case. A
    coordinator starts cases for themselves only."""
    settings = request.app.state.settings
    check_case_access(principal, "(new)", intake.coordinator_id)
    case_id = await cases.start_case(client, settings, intake, date.today())
    _audit_access(request, principal, case_id, "start")
    return StartedCase(case_id=case_id, ui=cases.ui_link(settings, case_id))


def _json(body: bytes) -> Response:
    """A body serialised once, by pydantic: FastAPI would validate the model again first."""
    return Response(content=body, media_type="application/json")


_CASE_LIST = TypeAdapter(list[cases.CaseListEntry])


@router.get("", response_model=list[cases.CaseListEntry])
async def list_cases(
    principal: Staff,
    client: TemporalClient,
    stage: CaseStage | None = None,
    escalated: bool = False,
    coordinator: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Response:
    """Cases by stage, escalation and coordinator, newest first (visibility: no patient data).
    A coordinator sees their own cases only."""
    coordinator = list_scope(principal, coordinator)
    cases.visibility_query(stage, escalated, coordinator)  # refuse a bad filter before the call
    rows = await cases.list_cases(client, stage, escalated, coordinator, limit=limit)
    return _json(_CASE_LIST.dump_json(rows))


@router.get("/{case_id}", response_model=CaseStatus)
async def case_status(
    request: Request, case_id: str, principal: Staff, client: TemporalClient
) -> Response:
    """The case's stage, checklist, triage, hospitals, deadlines and timeline."""
    cases.check_case_id(case_id)
    status = await cases.case_status(client, case_id)
    # One query serves both the answer and the check: the status names the coordinator.
    check_case_access(principal, case_id, status.coordinator_id)
    _audit_access(request, principal, case_id, "status")
    return _json(status.model_dump_json().encode())


@router.get("/{case_id}/consents")
async def consent_ledger(
    request: Request, case_id: str, principal: Staff, client: TemporalClient
) -> ConsentLedger:
    await _authorized(request, client, case_id, principal, "consent_ledger")
    return await cases.consent_ledger(client, case_id)


@router.get("/{case_id}/audit")
async def audit_trail(
    request: Request, case_id: str, principal: Staff, client: TemporalClient
) -> AuditEntries:
    """The case's audit trail, oldest first (opaque ids and counts only)."""
    import asyncio

    from activities.audit import AuditTrail

    await _authorized(request, client, case_id, principal, "audit")
    entries = await asyncio.to_thread(AuditTrail(request.app.state.settings).entries, case_id)
    return AuditEntries(entries=[entry.model_dump(mode="json") for entry in entries])


@router.get("/{case_id}/packets/{hospital_id}")
async def packet(
    request: Request, case_id: str, hospital_id: str, principal: Staff, client: TemporalClient
) -> packet_links.PacketLinks:
    """The files of the packet stored for a hospital, with short-lived download links (each
    link issued is audited under the caller)."""
    await _authorized(request, client, case_id, principal, "packet")
    return await packet_links.packet_links(
        client, request.app.state.settings, case_id, hospital_id, actor=principal.identity
    )


# -- documents ----------------------------------------------------------------------------------


@router.post("/{case_id}/documents", status_code=201)
async def upload_document(
    request: Request, case_id: str, kind: DocumentKind, principal: Staff, client: TemporalClient
) -> StoredDocument:
    """Store the request body (the file's bytes; its name in `X-File-Name`) and add it to the
    case, as `caseflow case upload` does."""
    await _authorized(request, client, case_id, principal, "upload")
    await cases.ensure_open(client, case_id)
    ref = await receive_document(request, request.app.state.settings, case_id, kind)
    return StoredDocument(document=ref, ack=await cases.add_document(client, case_id, ref))


@router.post("/{case_id}/files", status_code=201)
async def store_file(
    request: Request, case_id: str, kind: DocumentKind, principal: Staff, client: TemporalClient
) -> StoredDocument:
    """Store a file without adding it to the checklist: for documents an event then names
    (a hospital's answer, a translation, a visa letter, a discharge summary)."""
    await _authorized(request, client, case_id, principal, "upload")
    await cases.ensure_open(client, case_id)
    ref = await receive_document(request, request.app.state.settings, case_id, kind)
    return StoredDocument(document=ref)


# -- events -------------------------------------------------------------------------------------


@router.post("/{case_id}/waivers")
async def waive(
    request: Request,
    case_id: str,
    event: WaiveRequirement,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "waive")
    event = _with_actor(event, "waived_by", principal)
    return await cases.waive_requirement(client, case_id, event)


@router.post("/{case_id}/review")
async def review(
    request: Request, case_id: str, event: SubmitReview, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "review")
    return await cases.submit_review(client, case_id, event)


@router.post("/{case_id}/consents")
async def record_consent(
    request: Request, case_id: str, event: RecordConsent, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "consent")
    return await cases.record_consent(client, case_id, _with_actor(event, "recorded_by", principal))


@router.post("/{case_id}/consents/withdrawals")
async def withdraw_consent(
    request: Request,
    case_id: str,
    event: WithdrawConsent,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "consent")
    event = _with_actor(event, "recorded_by", principal)
    return await cases.withdraw_consent(client, case_id, event)


class AcknowledgementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str | None = None


@router.post("/{case_id}/hospitals/{hospital_id}/acknowledgement")
async def acknowledge(
    request: Request,
    case_id: str,
    hospital_id: str,
    principal: Staff,
    client: TemporalClient,
    body: Annotated[AcknowledgementBody | None, Body()] = None,
) -> EventAck:
    """Record that a hospital received its packet (as `caseflow case acknowledge`)."""
    await _authorized(request, client, case_id, principal, "acknowledge")
    event = HospitalAcknowledgement.model_validate(
        {"hospital_id": hospital_id, **(body.model_dump(exclude_none=True) if body else {})}
    )
    return await cases.record_hospital_acknowledgement(client, case_id, event)


@router.post("/{case_id}/hospitals/{hospital_id}/response")
async def respond(
    request: Request,
    case_id: str,
    hospital_id: str,
    body: Annotated[dict[str, Any], Body()],
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    """Record a hospital's answer (the JSON `caseflow case respond` reads; documents stored
    first through /files and named here by their DocumentRef)."""
    await _authorized(request, client, case_id, principal, "respond")
    event = HospitalResponse.model_validate({**body, "hospital_id": hospital_id})
    return await cases.record_hospital_response(client, case_id, event)


@router.post("/{case_id}/selection")
async def select(
    request: Request, case_id: str, body: SelectBody, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "select")
    return await cases.select_hospital(client, case_id, body.hospital_id)


@router.post("/{case_id}/translation")
async def translation(
    request: Request,
    case_id: str,
    event: TranslationReceived,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "translation")
    return await cases.record_translation(client, case_id, event)


@router.post("/{case_id}/translation/skip")
async def skip_translation(
    request: Request, case_id: str, body: ReasonBody, principal: Staff, client: TemporalClient
) -> EventAck:
    """Go on without a translation, with a reason (issue 12)."""
    await _authorized(request, client, case_id, principal, "skip_translation")
    return await cases.skip_translation(client, case_id, body.reason, actor_id(principal))


class DestinationsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    countries: list[str]
    reason: str


@router.post("/{case_id}/destinations")
async def change_destinations(
    request: Request,
    case_id: str,
    body: DestinationsBody,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    """New destination countries after intake; referral consent must be in force for each."""
    await _authorized(request, client, case_id, principal, "change_destinations")
    return await cases.change_destinations(client, case_id, body.countries, body.reason)


@router.post("/{case_id}/travel")
async def travel(
    request: Request, case_id: str, event: TravelEvent, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "travel")
    return await cases.record_travel(client, case_id, event)


@router.post("/{case_id}/admission")
async def admit(
    request: Request, case_id: str, body: DateBody, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "admission")
    return await cases.record_admission(client, case_id, body.on or date.today())


@router.post("/{case_id}/discharge")
async def discharge(
    request: Request,
    case_id: str,
    principal: Staff,
    client: TemporalClient,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "discharge")
    given = dict(body or {})
    given.setdefault("discharged_on", date.today().isoformat())
    return await cases.record_discharge(client, case_id, DischargeRecorded.model_validate(given))


@router.post("/{case_id}/follow-ups")
async def follow_up(
    request: Request,
    case_id: str,
    event: FollowUpRecorded,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "follow_up")
    return await cases.record_follow_up(client, case_id, event)


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    coordinator_id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")


@router.post("/{case_id}/coordinator")
async def assign(
    request: Request, case_id: str, body: AssignBody, principal: Staff, client: TemporalClient
) -> EventAck:
    """Hand the case to another coordinator (its coordinator or a supervisor may)."""
    await _authorized(request, client, case_id, principal, "assign")
    return await cases.assign_coordinator(
        client, request.app.state.settings, case_id, body.coordinator_id
    )


class AcceptInquiryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # A supervisor names who takes it on; a coordinator takes it on themselves.
    coordinator_id: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,40}$")


@router.post("/{case_id}/inquiry/accept")
async def accept_inquiry(
    request: Request,
    case_id: str,
    principal: Staff,
    client: TemporalClient,
    body: Annotated[AcceptInquiryBody | None, Body()] = None,
) -> EventAck:
    """Take on a case from a patient's inquiry (INTAKE -> RECORDS): it becomes the caller's (a
    supervisor's: the coordinator named)."""
    await _authorized(request, client, case_id, principal, "accept_inquiry")
    named = body.coordinator_id if body is not None else None
    coordinator_id = named if principal.role == Role.SUPERVISOR else principal.coordinator_id
    if coordinator_id is None:
        raise ValueError("coordinator_id: name the coordinator who takes the case on")
    return await inquiries.accept(client, request.app.state.settings, case_id, coordinator_id)


@router.post("/{case_id}/inquiry/decline")
async def decline_inquiry(
    request: Request, case_id: str, body: ReasonBody, principal: Staff, client: TemporalClient
) -> EventAck:
    """Decline a patient's inquiry: the case closes and the patient is told by e-mail."""
    await _authorized(request, client, case_id, principal, "decline_inquiry")
    return await inquiries.decline(client, case_id, body.reason, actor_id(principal))


@router.post("/{case_id}/hold")
async def hold(
    request: Request, case_id: str, body: ReasonBody, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "hold")
    return await cases.hold(client, case_id, body.reason)


@router.post("/{case_id}/resume")
async def resume(
    request: Request,
    case_id: str,
    principal: Staff,
    client: TemporalClient,
    body: Annotated[NoteBody | None, Body()] = None,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "resume")
    return await cases.resume(client, case_id, body.note if body else None)


@router.post("/{case_id}/steps/{step_id}/retry")
async def retry_step(
    request: Request, case_id: str, step_id: str, principal: Staff, client: TemporalClient
) -> EventAck:
    await _authorized(request, client, case_id, principal, "retry_step")
    return await cases.retry_step(client, case_id, step_id)


@router.post("/{case_id}/steps/{step_id}/skip")
async def skip_step(
    request: Request,
    case_id: str,
    step_id: str,
    body: ReasonBody,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "skip_step")
    return await cases.skip_step(client, case_id, step_id, body.reason)


@router.post("/{case_id}/withdrawal")
async def withdraw(
    request: Request, case_id: str, event: Withdraw, principal: Staff, client: TemporalClient
) -> EventAck:
    """Withdraw the case at any stage (with `erase`, its documents go as it closes)."""
    await _authorized(request, client, case_id, principal, "withdraw")
    return await cases.withdraw(client, case_id, event)


@router.post("/{case_id}/erasure")
async def erase(
    request: Request,
    case_id: str,
    principal: Staff,
    client: TemporalClient,
    body: Annotated[EraseBody | None, Body()] = None,
) -> ErasureReport:
    """Erase a closed case, as `caseflow case erase` does: documents, packets, hospital notices,
    workflow histories. Running it again repeats nothing harmful."""
    await _authorized(request, client, case_id, principal, "erase")
    return await erase_case(
        client,
        request.app.state.settings,
        case_id,
        actor=principal.identity,
        withdraw_reason=body.withdraw_reason if body else None,
    )
