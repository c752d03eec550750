"""The coordinator's thin client to a case: start it, send it events, read it, list cases and
fetch referral packets. Talks to Temporal through the client and to S3 through boto3 only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Literal, overload

from pydantic import BaseModel, ConfigDict
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.portal_uploads import PortalUploadStore
from caseflow import search_attributes as sa
from caseflow.case_events import (
    AcceptPatientDocument,
    AddDocument,
    AddPatientDocument,
    AdmissionRecorded,
    AssignCoordinator,
    ChangeDestinations,
    DischargeRecorded,
    FollowUpRecorded,
    Hold,
    HospitalAcknowledgement,
    HospitalResponse,
    RecordConsent,
    RejectPatientDocument,
    Resume,
    RetryStep,
    SelectHospital,
    SkipStep,
    SkipTranslation,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    WaiveRequirement,
    Withdraw,
    WithdrawConsent,
)
from caseflow.case_status import CaseProgress, CaseStage, CaseStatus, EventAck
from caseflow.consent import ConsentLedger
from caseflow.documents import DocumentRef
from caseflow.hospitals import Hospital, HospitalDirectory
from caseflow.ids import CASE_ID_PATTERN, case_workflow_id, new_case_id
from caseflow.intake import CaseIntake, Patient, check_intake
from caseflow.portal_links import email_digest
from caseflow.settings import OPS_UI_PATH, CaseflowSettings
from client.coordinator_contacts import lookup_contact
from workflows.case import CaseWorkflow
from workflows.case_state import CaseWorkflowInput
from workflows.generations import CURRENT_GENERATION

_COORDINATOR_ID = re.compile(r"^[a-z0-9_-]{1,40}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_HOSPITAL_ID = re.compile(r"^[a-z0-9-]{1,60}$")

# The memo key under which a case carries who it is for (see PatientMemo).
PATIENT_MEMO = "patient"


class CaseNotFound(LookupError):
    """No case with that id; the message carries only the opaque id."""


class CaseClosed(RuntimeError):
    """The case has closed and takes no more events."""


def check_case_id(case_id: str) -> str:
    if not CASE_ID_PATTERN.fullmatch(case_id):
        raise ValueError(
            "CASE_ID: a case id is 26 characters of a-z and 2-7, as 'case start' prints"
        )
    return case_id


def case_handle(client: Client, case_id: str) -> WorkflowHandle:
    return client.get_workflow_handle_for(
        CaseWorkflow.run, case_workflow_id(check_case_id(case_id))
    )


def ui_link(settings: CaseflowSettings, case_id: str) -> str:
    """The case in the Temporal Web UI, where ops staff follow it: through the web service's
    login (web/ops_routes.py), which serves the UI at OPS_UI_PATH."""
    return (
        f"{settings.public_url.rstrip('/')}{OPS_UI_PATH}/namespaces/{settings.temporal_namespace}"
        f"/workflows/{case_workflow_id(case_id)}"
    )


@contextmanager
def in_caseflow_words(case_id: str) -> Iterator[None]:
    """Temporal's not-found and already-completed errors, said as a coordinator reads them."""
    try:
        yield
    except RPCError as error:
        # Checked first: an event sent to a closed case may come back as NOT_FOUND too.
        if "already completed" in str(error):
            raise CaseClosed(
                f"CASE_ID: case {case_id} is closed; it takes no more events"
            ) from None
        if error.status == RPCStatusCode.NOT_FOUND:
            raise CaseNotFound(f"CASE_ID: no case {case_id}") from None
        raise
    except WorkflowQueryRejectedError:
        raise CaseClosed(f"CASE_ID: case {case_id} cannot answer now") from None


async def _update(
    client: Client, case_id: str, update, event, update_id: str | None = None
) -> EventAck:
    """Send one event; the ack says where the case stands once it has acted on it."""
    with in_caseflow_words(case_id):
        handle = case_handle(client, case_id)
        ack = await handle.execute_update(update, event, id=update_id)
    return ack if ack.settled else await _settled(handle, ack)


async def _settled(handle: WorkflowHandle, ack: EventAck) -> EventAck:
    """The ack with the stage after the event, for a case started before its handlers waited
    for the run to react (`EventAck.settled`): such a handler built its ack before the case's
    run reacted in the same workflow task (a review that proceeds answered in
    SPECIALIST_REVIEW), and a query is answered after that task, so it reads the state the event
    led to."""
    if ack.stage == CaseStage.CLOSED:
        return ack
    try:
        progress = await handle.query(CaseWorkflow.progress)
    except (RPCError, WorkflowQueryRejectedError):
        return ack  # closed meanwhile: the event was still recorded as acked
    return ack.model_copy(update={"stage": progress.stage})


async def describe_case(client: Client, case_id: str) -> WorkflowExecutionDescription:
    with in_caseflow_words(case_id):
        return await case_handle(client, case_id).describe()


async def case_coordinator(client: Client, case_id: str) -> str:
    """The coordinator a case is assigned to, from its search attributes: what access checks
    compare with, without running a query on the workflow."""
    description = await describe_case(client, case_id)
    return description.typed_search_attributes.get(sa.COORDINATOR_ID) or ""


async def ensure_open(client: Client, case_id: str) -> None:
    """Refuse uploads for a case that does not exist or has closed, before any bytes move."""
    description = await describe_case(client, case_id)
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise CaseClosed(f"CASE_ID: case {case_id} is closed; it accepts no more documents")


# -- starting -----------------------------------------------------------------------------------


class PatientMemo(BaseModel):
    """Who a case is for, as the case's memo carries it so a work queue can name the patient
    from the list call alone (no query per case).

    Memos go through the data converter, so this is encrypted like every payload
    (docs/data-protection.md); visibility and `temporal workflow show` without the codec see
    ciphertext. Only what a person needs to tell cases apart: never clinical data, and never in
    a workflow id, search attribute, log line or URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    given_name: str
    family_name: str
    date_of_birth: date
    # SHA-256 of the patient's e-mail address (caseflow.portal_links.email_digest), so the
    # portal's "send me a new link" finds the cases for an address by decrypting memos; None
    # for a case started before it, or a patient without an address.
    email_sha256: str | None = None

    @classmethod
    def of(cls, patient: Patient) -> PatientMemo:
        return cls(
            given_name=patient.given_name,
            family_name=patient.family_name,
            date_of_birth=patient.date_of_birth,
            email_sha256=email_digest(patient.email) if patient.email else None,
        )

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def hospitals_for(intake: CaseIntake, directory: HospitalDirectory) -> list[Hospital]:
    """The directory snapshot a case carries: every hospital in its destination countries plus
    any it names, so the specialist may target any of them (the workflow reads no files)."""
    chosen: dict[str, Hospital] = {}
    for country in intake.destinations.countries:
        for hospital in directory.in_country(country):
            chosen[hospital.hospital_id] = hospital
    for hospital_id in intake.destinations.hospital_ids:
        chosen[hospital_id] = directory.get(hospital_id)
    return list(chosen.values())


def case_summary(intake: CaseIntake, hospitals: list[Hospital]) -> str:
    """The Web UI's one-line summary: pathway, countries, coordinator. Never patient data."""
    countries = ",".join(intake.destinations.countries)
    return (
        f"caseflow case: {intake.pathway}, to {countries}, {len(hospitals)} hospitals in scope, "
        f"coordinator {intake.coordinator_id}"
    )


def initial_search_attributes(intake: CaseIntake, hospitals: list[Hospital]):
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.CASE_STAGE, CaseStage.INTAKE.value),
            SearchAttributePair(sa.PATHWAY, intake.pathway),
            SearchAttributePair(sa.DESTINATION_COUNTRIES, list(intake.destinations.countries)),
            SearchAttributePair(sa.HOSPITALS, [h.hospital_id for h in hospitals]),
            SearchAttributePair(sa.COORDINATOR_ID, intake.coordinator_id),
            SearchAttributePair(sa.ESCALATED, False),
            SearchAttributePair(sa.ESCALATION_LEVEL, 0),
        ]
    )


async def start_case(
    client: Client,
    settings: CaseflowSettings,
    intake: CaseIntake,
    today: date,
    directory: HospitalDirectory | None = None,
    case_id: str | None = None,
    **overrides,
) -> str:
    """Start a CaseWorkflow for a validated intake and return the new case id.

    `case_id` (one `new_case_id()` chose earlier, e.g. when a form was shown) makes a retried
    start idempotent: a case already started under it, running or closed, raises
    WorkflowAlreadyStartedError rather than starting a second one.
    `overrides` go to CaseWorkflowInput (e.g. follow_up_days, slas) for demos and tests. The
    coordinator's contact is looked up now, so its letters name a person (the workflow reads no
    directory); pass `coordinator_contact` among the overrides to give it instead.
    """
    intake = check_intake(intake, today)
    directory = directory or HospitalDirectory.load_default()
    directory.check_intake_hospitals(intake)  # unknown or misplaced hospitals, by field
    hospitals = hospitals_for(intake, directory)
    if "coordinator_contact" not in overrides:
        overrides["coordinator_contact"] = await lookup_contact(settings, intake.coordinator_id)
    if "retry" not in overrides:  # issue 11: infrastructure errors retried as settings say
        from client.step_retry import step_retry

        overrides["retry"] = step_retry(settings)
    chosen = case_id is not None
    case_id = check_case_id(case_id) if case_id is not None else new_case_id()
    overrides.setdefault("letters_task_queue", settings.letters_queue())
    overrides.setdefault("generation", CURRENT_GENERATION)  # no patch markers (issue 14)
    workflow_input = CaseWorkflowInput(
        case_id=case_id, intake=intake, hospitals=hospitals, **overrides
    )
    await client.start_workflow(
        CaseWorkflow.run,
        workflow_input,
        id=case_workflow_id(case_id),
        task_queue=settings.task_queue,
        search_attributes=initial_search_attributes(intake, hospitals),
        static_summary=case_summary(intake, hospitals),
        memo={PATIENT_MEMO: PatientMemo.of(intake.patient)},
        id_reuse_policy=(
            WorkflowIDReusePolicy.REJECT_DUPLICATE
            if chosen
            else WorkflowIDReusePolicy.ALLOW_DUPLICATE
        ),
    )
    return case_id


# -- events -------------------------------------------------------------------------------------
# Each sends one update and returns once the workflow has accepted and applied it; a validator's
# rejection arrives as WorkflowUpdateFailedError whose cause holds the reason.


async def add_document(client: Client, case_id: str, ref: DocumentRef) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.add_document, AddDocument(ref=ref))


async def waive_requirement(client: Client, case_id: str, event: WaiveRequirement) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.waive_requirement, event)


async def submit_review(client: Client, case_id: str, event: SubmitReview) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.submit_review, event)


async def record_hospital_response(
    client: Client, case_id: str, event: HospitalResponse
) -> EventAck:
    return await _reply_update(client, case_id, CaseWorkflow.record_hospital_response, event)


async def record_hospital_acknowledgement(
    client: Client, case_id: str, event: HospitalAcknowledgement
) -> EventAck:
    """Record that a hospital received its packet. A coordinator repeating one already recorded
    (same hospital; the same reference, or none given) succeeds and says so, changing nothing;
    a different reference is refused, naming the one recorded."""
    if event.reply_id is None:
        earlier = await _acknowledged_already(client, case_id, event)
        if earlier is not None:
            return earlier
    try:
        return await _reply_update(
            client, case_id, CaseWorkflow.record_hospital_acknowledgement, event
        )
    except WorkflowUpdateFailedError:
        # Two coordinators at once: the other's acknowledgement got there first.
        earlier = await _acknowledged_already(client, case_id, event)
        if earlier is None:
            raise
        return earlier


async def _acknowledged_already(
    client: Client, case_id: str, event: HospitalAcknowledgement
) -> EventAck | None:
    status = await case_status(client, case_id)
    referral = next((h for h in status.hospitals if h.hospital_id == event.hospital_id), None)
    if referral is None or referral.acknowledged_at is None:
        return None
    recorded = referral.acknowledgement_reference
    if event.reference is not None and event.reference != recorded:
        raise ValueError(
            f"reference: hospital {event.hospital_id} already acknowledged the packet "
            + (f"with reference {recorded}" if recorded else "without a reference")
        )
    at = referral.acknowledged_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return EventAck(
        case_id=case_id,
        stage=status.stage,
        detail=f"already recorded: hospital {event.hospital_id} acknowledged the packet at {at}",
        replayed=True,
    )


async def _reply_update(
    client: Client, case_id: str, update, event: HospitalResponse | HospitalAcknowledgement
) -> EventAck:
    """A hospital's reply. With a reply id (the hospitals' reply path) a repeat changes nothing
    and says so: the case is asked first (its memory survives continue-as-new), and the id is
    the update id, so two copies racing each other are applied once."""
    if event.reply_id is not None:
        with in_caseflow_words(case_id):
            earlier = await case_handle(client, case_id).query(
                CaseWorkflow.reply_ack, event.reply_id
            )
        if earlier is not None:
            return earlier
    return await _update(client, case_id, update, event, update_id=event.reply_id)


async def select_hospital(client: Client, case_id: str, hospital_id: str) -> EventAck:
    return await _update(
        client, case_id, CaseWorkflow.select_hospital, SelectHospital(hospital_id=hospital_id)
    )


async def record_translation(client: Client, case_id: str, event: TranslationReceived) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.record_translation, event)


async def record_travel(client: Client, case_id: str, event: TravelEvent) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.record_travel, event)


async def record_admission(client: Client, case_id: str, admitted_on: date) -> EventAck:
    return await _update(
        client, case_id, CaseWorkflow.record_admission, AdmissionRecorded(admitted_on=admitted_on)
    )


async def record_discharge(client: Client, case_id: str, event: DischargeRecorded) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.record_discharge, event)


async def record_follow_up(client: Client, case_id: str, event: FollowUpRecorded) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.record_follow_up, event)


async def record_consent(client: Client, case_id: str, event: RecordConsent) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.record_consent, event)


async def withdraw_consent(client: Client, case_id: str, event: WithdrawConsent) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.withdraw_consent, event)


async def withdraw(client: Client, case_id: str, event: Withdraw) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.withdraw, event)


async def assign_coordinator(
    client: Client, settings: CaseflowSettings, case_id: str, coordinator_id: str
) -> EventAck:
    """Hand the case over; its later letters and mails name the new coordinator's contact."""
    check_case_id(case_id)
    contact = await lookup_contact(settings, coordinator_id)
    return await _update(
        client,
        case_id,
        CaseWorkflow.assign_coordinator,
        AssignCoordinator(coordinator_id=coordinator_id, contact=contact),
    )


async def hold(client: Client, case_id: str, reason: str) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.hold, Hold(reason=reason))


async def resume(client: Client, case_id: str, note: str | None = None) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.resume, Resume(note=note))


async def retry_step(client: Client, case_id: str, step_id: str) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.retry_step, RetryStep(step_id=step_id))


async def skip_step(client: Client, case_id: str, step_id: str, reason: str) -> EventAck:
    return await _update(
        client, case_id, CaseWorkflow.skip_step, SkipStep(step_id=step_id, reason=reason)
    )


# -- issue 12: translation skipped, destinations changed ---------------------------------------


async def skip_translation(
    client: Client, case_id: str, reason: str, skipped_by: str | None = None
) -> EventAck:
    """Go on without a translation (no consent, or the hospital reads the records as they are)."""
    event = SkipTranslation(reason=reason, skipped_by=skipped_by)
    return await _update(client, case_id, CaseWorkflow.skip_translation, event)


async def change_destinations(
    client: Client,
    case_id: str,
    countries: list[str],
    reason: str,
    directory: HospitalDirectory | None = None,
) -> EventAck:
    """New destination countries; the case gets the directory's hospitals in them (the workflow
    reads no files). The case refuses a country without referral consent, and says so."""
    directory = directory or HospitalDirectory.load_default()
    hospitals = [h for country in dict.fromkeys(countries) for h in directory.in_country(country)]
    event = ChangeDestinations.model_validate(
        {"countries": countries, "reason": reason, "hospitals": hospitals}
    )
    return await _update(client, case_id, CaseWorkflow.change_destinations, event)


# -- reading ------------------------------------------------------------------------------------


async def case_status(client: Client, case_id: str) -> CaseStatus:
    """The `status` query; works on running and closed cases alike."""
    with in_caseflow_words(case_id):
        return await case_handle(client, case_id).query(CaseWorkflow.status)


async def case_progress(client: Client, case_id: str) -> CaseProgress:
    """The `progress` query: the stage and what a poller waits for, without the whole status
    (a wait loop reads this; read `case_status` once for the details)."""
    with in_caseflow_words(case_id):
        return await case_handle(client, case_id).query(CaseWorkflow.progress)


async def consent_ledger(client: Client, case_id: str) -> ConsentLedger:
    """Every grant and withdrawal recorded for the case, oldest first (the delivery gate's view)."""
    with in_caseflow_words(case_id):
        return await case_handle(client, case_id).query(CaseWorkflow.consent_ledger)


class CaseListEntry(BaseModel):
    """One row of `case list`: what visibility knows, which is never patient data."""

    model_config = ConfigDict(extra="forbid")

    case_id: str
    workflow_id: str
    execution_status: str
    started_at: datetime | None
    stage: str | None
    pathway: str | None
    coordinator_id: str | None
    hospitals: list[str]
    destination_countries: list[str]
    escalated: bool
    escalation_level: int
    # The earliest next SLA step over every open wait, the hospitals' included, and what that
    # wait is for (e.g. "hospital_response:cn-xiamen-bnct"); None when nothing is due.
    sla_due_at: datetime | None
    sla_waits_for: str | None = None


class NamedCaseEntry(CaseListEntry):
    """A work-queue row: the list row plus who the case is for, decoded from the case's
    encrypted memo by the service, for staff who may see the case. Never returned by the API's
    or the CLI's list, which stay name-free (CaseListEntry); the console shows it to the
    logged-in coordinator (their own cases) or supervisor."""

    patient_name: str | None  # None: a case started before memos (or erased)
    date_of_birth: date | None
    # When the case entered its stage; None for a case that has not published it yet (the queue
    # then shows the time since start and says so).
    stage_entered_at: datetime | None = None


def _utc_instant(value: date | datetime) -> str:
    """A visibility datetime literal; a bare date means the start of that day (UTC), so
    'due before 2026-03-01' admits nothing due on the first."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time.min, tzinfo=UTC)
    elif value.tzinfo is None:
        raise ValueError("due before: give a time zone, or a date")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def visibility_query(
    stage: CaseStage | None = None,
    escalated: bool = False,
    coordinator_id: str | None = None,
    *,
    due_before: date | datetime | None = None,
    country: str | None = None,
    hospital_id: str | None = None,
    open_only: bool = False,
) -> str:
    """The list filter over caseflow's search attributes. Values are checked against their
    patterns (or typed) first, so nothing typed at the CLI or in a form can change the query's
    shape."""
    clauses = ['WorkflowType = "CaseWorkflow"']
    if open_only:
        clauses.append('ExecutionStatus = "Running"')
    if stage is not None:
        clauses.append(f'{sa.CASE_STAGE.name} = "{CaseStage(stage).value}"')
    if escalated:
        clauses.append(f"{sa.ESCALATED.name} = true")
    if coordinator_id is not None:
        if not _COORDINATOR_ID.fullmatch(coordinator_id):
            raise ValueError("coordinator: ids are 1-40 of a-z, 0-9, '_' and '-'")
        clauses.append(f'{sa.COORDINATOR_ID.name} = "{coordinator_id}"')
    if due_before is not None:
        if not isinstance(due_before, date):
            raise ValueError("due before: a date, e.g. 2026-03-01")
        clauses.append(f'{sa.SLA_DUE_AT.name} < "{_utc_instant(due_before)}"')
    if country is not None:
        if not _COUNTRY.fullmatch(country):
            raise ValueError("country: a two-letter country code in capitals, e.g. IN")
        clauses.append(f'{sa.DESTINATION_COUNTRIES.name} = "{country}"')
    if hospital_id is not None:
        if not _HOSPITAL_ID.fullmatch(hospital_id):
            raise ValueError("hospital: ids are 1-60 of a-z, 0-9 and '-'")
        clauses.append(f'{sa.HOSPITALS.name} = "{hospital_id}"')
    return " AND ".join(clauses)


# Read if the case publishes them (see NamedCaseEntry); absent keys leave the fields None.


@overload
async def list_cases(
    client: Client,
    stage: CaseStage | None = ...,
    escalated: bool = ...,
    coordinator_id: str | None = ...,
    limit: int = ...,
    *,
    with_names: Literal[False] = ...,
    due_before: date | datetime | None = ...,
    country: str | None = ...,
    hospital_id: str | None = ...,
    open_only: bool = ...,
) -> list[CaseListEntry]: ...


@overload
async def list_cases(
    client: Client,
    stage: CaseStage | None = ...,
    escalated: bool = ...,
    coordinator_id: str | None = ...,
    limit: int = ...,
    *,
    with_names: Literal[True],
    due_before: date | datetime | None = ...,
    country: str | None = ...,
    hospital_id: str | None = ...,
    open_only: bool = ...,
) -> list[NamedCaseEntry]: ...


async def list_cases(
    client: Client,
    stage: CaseStage | None = None,
    escalated: bool = False,
    coordinator_id: str | None = None,
    limit: int = 200,
    *,
    with_names: bool = False,
    due_before: date | datetime | None = None,
    country: str | None = None,
    hospital_id: str | None = None,
    open_only: bool = False,
) -> list[CaseListEntry] | list[NamedCaseEntry]:
    """Cases matching the filter, newest first, through Temporal visibility (which lags the
    workflow by up to a second or so).

    `with_names` decodes each row's patient memo (one AES-GCM decrypt per row, from what the
    list call already returned: no call per case) into NamedCaseEntry rows. The caller decides
    who may see them: the scope (`coordinator_id`) must already be the reader's."""
    entries: list[CaseListEntry] = []
    named: list[NamedCaseEntry] = []
    query = visibility_query(
        stage,
        escalated,
        coordinator_id,
        due_before=due_before,
        country=country,
        hospital_id=hospital_id,
        open_only=open_only,
    )
    async for execution in client.list_workflows(query, limit=limit):
        attrs = execution.typed_search_attributes
        status = execution.status or WorkflowExecutionStatus.RUNNING
        fields = dict(
            case_id=execution.id.removeprefix("case-"),
            workflow_id=execution.id,
            execution_status=status.name.lower(),
            started_at=execution.start_time,
            stage=attrs.get(sa.CASE_STAGE),
            pathway=attrs.get(sa.PATHWAY),
            coordinator_id=attrs.get(sa.COORDINATOR_ID),
            hospitals=list(attrs.get(sa.HOSPITALS) or []),
            destination_countries=list(attrs.get(sa.DESTINATION_COUNTRIES) or []),
            escalated=bool(attrs.get(sa.ESCALATED)),
            escalation_level=attrs.get(sa.ESCALATION_LEVEL) or 0,
            sla_due_at=attrs.get(sa.SLA_DUE_AT),
            sla_waits_for=attrs.get(sa.SLA_WAITS_FOR),
        )
        if not with_names:
            entries.append(CaseListEntry.model_validate(fields))
            continue
        memo = await patient_memo(execution)
        named.append(
            NamedCaseEntry.model_validate(
                fields
                | dict(
                    patient_name=memo.name if memo else None,
                    date_of_birth=memo.date_of_birth if memo else None,
                    stage_entered_at=attrs.get(sa.STAGE_ENTERED_AT),
                )
            )
        )
    return named if with_names else entries


async def patient_memo(execution: WorkflowExecution) -> PatientMemo | None:
    """The case's patient memo, decrypted by the client's data converter; None if it has none."""
    if PATIENT_MEMO not in execution.raw_info.memo.fields:
        return None
    return await execution.memo_value(PATIENT_MEMO, type_hint=PatientMemo)


async def open_cases_for_patient(
    client: Client, patient: Patient, limit: int = 10_000
) -> list[NamedCaseEntry]:
    """Open cases whose memo names the same person (name and date of birth): the new-case
    form's duplicate check. Matches on decrypted memos only; the name never enters a query."""
    def folded(name: str) -> str:
        return " ".join(name.split()).casefold()

    wanted = PatientMemo.of(patient)
    rows = await list_cases(client, limit=limit, with_names=True, open_only=True)
    return [
        row
        for row in rows
        if row.patient_name is not None
        and row.date_of_birth == wanted.date_of_birth
        and folded(row.patient_name) == folded(wanted.name)
    ]


# --- the portal's quarantine -------------------------------------------------------------------


async def add_patient_document(client: Client, case_id: str, ref: DocumentRef) -> EventAck:
    """A portal upload, stored and verified, now waiting for a coordinator."""
    return await _update(
        client, case_id, CaseWorkflow.add_patient_document, AddPatientDocument(ref=ref)
    )


async def accept_patient_document(
    client: Client, case_id: str, event: AcceptPatientDocument
) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.accept_patient_document, event)


async def reject_patient_document(
    settings: CaseflowSettings, client: Client, case_id: str, event: RejectPatientDocument
) -> EventAck:
    """Reject a quarantined upload, then delete its bytes: the case keeps the reason only."""
    ack = await _update(client, case_id, CaseWorkflow.reject_patient_document, event)
    store = PortalUploadStore(settings)
    try:
        await asyncio.to_thread(store.discard, case_id, event.document_id)
    finally:
        store.close()
    return ack
