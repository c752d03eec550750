"""Erasing a closed case: every version of its documents and packets (and the packets' reply
routing objects), a notice to each hospital that received a packet, then its closed workflow
executions (case and referrals, every run).

Each step is recorded in the audit trail, which stays: it holds opaque ids, counts and channels,
never patient data. History goes last, so a failed notice can be retried from the same facts;
running the erasure again repeats nothing harmful (deletes find nothing, notices carry the same
Message-ID / webhook-id).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.audit import AuditAction, AuditEvent, AuditTrail
from activities.documents import DocumentStore
from activities.erasure_notices import ErasureNotices
from activities.payloads import EraseCaseDocumentsInput, ErasureNotice, NoticeSent
from activities.s3_client import build_s3_client
from activities.smtp_relay import SmtpTransport
from caseflow.case_events import Withdraw
from caseflow.hospitals import Hospital, HospitalDirectory
from caseflow.ids import case_workflow_id
from caseflow.settings import CaseflowSettings
from client import cases as case_client
from client.coordinator_contacts import lookup_contact
from client.referral_routes import erase_routes
from workflows.case_state import CaseWorkflowInput

if TYPE_CHECKING:
    import httpx

NOTIFIED_CHANNELS = ("email", "webhook")


class CaseStillOpen(RuntimeError):
    """Erasure needs a closed case; the message says how to close it."""


class ErasureIncomplete(RuntimeError):
    """Some step failed; nothing after it ran, and running the erasure again is safe."""


class ErasureReport(BaseModel):
    case_id: str
    versions_deleted: int
    delete_markers_deleted: int
    notices: list[NoticeSent]
    manual_hospitals: list[str]  # received a packet by hand: the coordinator tells them
    executions_deleted: list[str]  # workflow_id/run_id
    audit_entries_kept: int
    routes_deleted: int = 0  # routes/packets/<packet_id>.json of the case's packets


async def _case_runs(client: Client, case_id: str, known: set[str]) -> list[tuple[str, str]]:
    """Every run of the case's workflows: the case (all continue-as-new runs) and referrals."""
    prefix = case_workflow_id(case_id)
    runs: dict[tuple[str, str], WorkflowExecutionStatus | None] = {}
    # The case id has a fixed length, so the prefix matches this case's workflows only.
    async for execution in client.list_workflows(f'WorkflowId STARTS_WITH "{prefix}"'):
        runs[(execution.id, execution.run_id)] = execution.status
    for workflow_id in known - {w for w, _ in runs}:
        try:
            described = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        runs[(described.id, described.run_id)] = described.status
    running = sorted(w for (w, _), status in runs.items()
                     if status == WorkflowExecutionStatus.RUNNING)
    if running:
        raise CaseStillOpen(f"case {case_id}: workflow {running[0]} is still running")
    return sorted(runs)


async def _case_hospitals(client: Client, case_id: str) -> dict[str, Hospital]:
    """The hospital snapshot the case carried (its input), so notices reach the endpoints the
    packets went to even if the directory changed since."""
    handle = case_client.case_handle(client, case_id)
    with case_client.in_caseflow_words(case_id):
        async for event in handle.fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            [workflow_input] = await client.data_converter.decode(
                started.input.payloads, [CaseWorkflowInput]
            )
            return {h.hospital_id: h for h in workflow_input.hospitals}
    return {}


async def erase_case(
    client: Client,
    settings: CaseflowSettings,
    case_id: str,
    *,
    actor: str = "coordinator",
    withdraw_reason: str | None = None,
    directory: HospitalDirectory | None = None,
    http: httpx.AsyncClient | None = None,
) -> ErasureReport:
    """Erase a closed case (or, with `withdraw_reason`, withdraw an open one first)."""
    case_client.check_case_id(case_id)
    handle = case_client.case_handle(client, case_id)
    described = await case_client.describe_case(client, case_id)
    if described.status == WorkflowExecutionStatus.RUNNING:
        if withdraw_reason is None:
            raise CaseStillOpen(
                f"case {case_id} is still open: add --withdraw --reason TEXT to withdraw it "
                "with erasure first"
            )
        await case_client.withdraw(client, case_id, Withdraw(reason=withdraw_reason, erase=True))
        with case_client.in_caseflow_words(case_id):
            await handle.result()
    status = await case_client.case_status(client, case_id)
    audit = AuditTrail(settings)
    directory = directory or HospitalDirectory.load_default()
    carried = await _case_hospitals(client, case_id)

    # 1. Documents and packets: every version and delete marker under cases/<case_id>/.
    store = DocumentStore(settings, audit=audit)
    try:
        erased = await asyncio.to_thread(
            store.erase_case_documents, EraseCaseDocumentsInput(case_id=case_id)
        )
    finally:
        store.close()

    # 2. A notice to each hospital a packet reached, by the case's record and the audit trail.
    entries = await asyncio.to_thread(audit.entries, case_id)
    # The reply path's routing objects (packet id -> case, hospital) go with the packets.
    packet_ids = {h.packet_id for h in status.hospitals if h.packet_id} | {
        e.subject for e in entries if e.action == AuditAction.PACKET_GENERATED and e.subject
    }
    s3 = build_s3_client(settings)
    try:
        routes_deleted = await asyncio.to_thread(erase_routes, s3, settings, packet_ids)
    finally:
        s3.close()
    delivered = {
        (h.hospital_id, h.packet_id)
        for h in status.hospitals
        if h.packet_id and h.delivered_at and h.channel in NOTIFIED_CHANNELS
    } | {
        (e.hospital_id, e.subject)
        for e in entries
        if e.action == AuditAction.PACKET_DELIVERED and e.hospital_id and e.subject
    }
    manual = sorted(
        h.hospital_id for h in status.hospitals
        if h.packet_id and h.channel not in NOTIFIED_CHANNELS
    )
    erased_at = datetime.now(UTC)
    # Whom hospitals confirm the deletion to: the case's coordinator as the directory has them.
    contact = await lookup_contact(settings, status.coordinator_id)
    own_http = http is None
    if http is None:
        import httpx  # only erasure sends over HTTP; the web service need not load it at start

        http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)
    notices = ErasureNotices(
        smtp=SmtpTransport.from_settings(settings),
        sender=settings.smtp_sender,
        http=http,
        webhook_secrets=settings.webhook_secrets,
        audit=audit,
    )
    sent: list[NoticeSent] = []
    failed: list[str] = []
    try:
        for hospital_id, packet_id in sorted(delivered):
            notice = ErasureNotice(
                case_id=case_id,
                packet_id=packet_id,
                hospital=carried.get(hospital_id) or directory.get(hospital_id),
                erased_at=erased_at,
                contact=contact,
            )
            try:
                sent.append(await notices.send_erasure_notice(notice))
            except Exception as error:  # noqa: BLE001 - reported below, by hospital id only
                failed.append(f"{hospital_id} ({type(error).__name__})")
    finally:
        if own_http:
            await http.aclose()
    if failed:
        raise ErasureIncomplete(
            f"case {case_id}: documents erased, but erasure notices failed for "
            f"{', '.join(failed)}; history kept, run the erasure again"
        )

    # 3. The closed executions: history, memo, summaries and visibility records go with them.
    known = {case_workflow_id(case_id)} | {h.workflow_id for h in status.hospitals}
    runs = await _case_runs(client, case_id, known)
    for workflow_id, run_id in runs:
        try:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                )
            )
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
    await asyncio.to_thread(
        audit.record,
        AuditEvent.now(
            case_id=case_id,
            action=AuditAction.HISTORY_DELETED,
            actor=actor,
            workflow_id=case_workflow_id(case_id),
            detail={"runs": len(runs), "workflows": len({w for w, _ in runs})},
        ),
    )
    kept = len(await asyncio.to_thread(audit.entries, case_id))
    return ErasureReport(
        case_id=case_id,
        versions_deleted=erased.versions_deleted,
        delete_markers_deleted=erased.delete_markers_deleted,
        notices=sent,
        manual_hospitals=manual,
        executions_deleted=[f"{w}/{r}" for w, r in runs],
        audit_entries_kept=kept,
        routes_deleted=routes_deleted,
    )
