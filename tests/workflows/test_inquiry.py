"""A patient's inquiry: confirmed, it starts a case that waits in INTAKE for a coordinator under
the 24 h SLA; accepted it moves to RECORDS, declined it closes and tells the patient; never
confirmed, it ends with nothing started."""

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from caseflow.case_events import AcceptInquiry, DeclineInquiry
from caseflow.case_status import CaseStage
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id, inquiry_workflow_id, new_case_id
from caseflow.inquiry import INQUIRY_POOL
from caseflow.portal_links import email_digest
from caseflow.sla import DEFAULT_SLAS, WaitKind
from tests.inquiry_builders import fictional_inquiry
from workflows.case import CaseWorkflow
from workflows.inquiry import ConfirmInquiry, InquiryInput, InquiryWorkflow

from .cases import HOSPITAL_IDS, case_input, start_case, wait_for
from .conftest import TASK_QUEUE

MARGIN = timedelta(minutes=1)
POLICY = DEFAULT_SLAS.for_wait(WaitKind.INQUIRY_ACCEPTANCE)


async def submit(env, hours: int = 48):
    inquiry_id = new_case_id()
    inquiry = fictional_inquiry()
    handle = await env.client.start_workflow(
        InquiryWorkflow.run,
        InquiryInput(
            inquiry_id=inquiry_id, inquiry=inquiry,
            hospitals=HospitalDirectory.load_default().subset(HOSPITAL_IDS).hospitals,
            confirmation_hours=hours,
        ),
        id=inquiry_workflow_id(inquiry_id), task_queue=TASK_QUEUE,
    )
    return inquiry_id, inquiry, handle


async def mailed_nonce(recorded, inquiry_id: str) -> str:
    for _ in range(200):
        mails = recorded.of(inquiry_id, "send_inquiry_confirmation")
        if mails:
            return mails[0].nonce
        import asyncio

        await asyncio.sleep(0.05)
    raise AssertionError("no confirmation mail")


async def confirmed_case(env, recorded):
    inquiry_id, inquiry, handle = await submit(env)
    nonce = await mailed_nonce(recorded, inquiry_id)
    ack = await handle.execute_update(
        InquiryWorkflow.confirm,
        ConfirmInquiry(nonce=nonce, email_sha256=email_digest(inquiry.email)),
    )
    case = env.client.get_workflow_handle(case_workflow_id(ack.case_id))
    return handle, nonce, inquiry, ack, case


async def test_confirmed_inquiry_starts_a_case_waiting_in_intake(env, worker, recorded):
    handle, nonce, inquiry, ack, case = await confirmed_case(env, recorded)
    assert not ack.already_confirmed
    status = await wait_for(case, lambda s: any(d.wait == WaitKind.INQUIRY_ACCEPTANCE
                                                for d in s.open_deadlines))
    assert status.stage == CaseStage.INTAKE and status.coordinator_id == INQUIRY_POOL
    assert (await handle.result()).outcome == "confirmed"
    mail = recorded.of(handle.id.removeprefix("inquiry-"), "send_inquiry_confirmation")[0]
    assert mail.email == inquiry.email and mail.language == "en"
    # The ledger carries what the patient read, not just the purpose.
    ledger = await case.query(CaseWorkflow.consent_ledger)
    review = ledger.events[0]
    assert review.purpose == "records_review" and review.country is None
    assert review.text_sha256 and review.text_version and review.given_by == "patient"
    assert {(e.purpose, e.country) for e in ledger.events[1:]} == {("referral", "CN"),
                                                                   ("referral", "IN")}


async def test_second_use_of_the_link_changes_nothing_and_a_wrong_one_is_refused(
    env, worker, recorded
):
    inquiry_id, inquiry, handle = await submit(env)
    nonce = await mailed_nonce(recorded, inquiry_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            InquiryWorkflow.confirm,
            ConfirmInquiry(nonce="x" * 32, email_sha256=email_digest(inquiry.email)),
        )
    assert "not valid" in str(refused.value.cause)
    right = ConfirmInquiry(nonce=nonce, email_sha256=email_digest(inquiry.email))
    first = await handle.execute_update(InquiryWorkflow.confirm, right)
    await handle.result()
    # The workflow has ended: a second click finds its result (client/inquiries.py does).
    with pytest.raises((RPCError, WorkflowUpdateFailedError)):
        await handle.execute_update(InquiryWorkflow.confirm, right, id=str(uuid.uuid4()))
    assert (await handle.result()).case_id == first.case_id


async def test_never_confirmed_inquiry_ends_with_nothing_started(env, worker, recorded):
    inquiry_id, _, handle = await submit(env, hours=48)
    await mailed_nonce(recorded, inquiry_id)
    await env.fast_forward(handle, timedelta(hours=48) + MARGIN)
    result = await handle.result()
    assert result.outcome == "expired" and result.case_id is None


async def test_intake_sla_reminds_then_escalates_within_24_hours(env, worker, recorded):
    _, _, _, ack, case = await confirmed_case(env, recorded)
    await wait_for(case, lambda s: s.stage == CaseStage.INTAKE and s.open_deadlines)
    await env.fast_forward(case, POLICY.remind_after + MARGIN)
    await wait_for(case, lambda s: len(s.escalations) >= 1)
    await env.fast_forward(case, POLICY.escalate_supervisor_after - POLICY.remind_after)
    status = await wait_for(case, lambda s: len(s.escalations) >= 3)
    assert [e.step for e in status.escalations[:3]] == [
        "remind", "escalate_coordinator", "escalate_supervisor"]
    assert POLICY.escalate_supervisor_after <= timedelta(hours=24)
    notices = recorded.of(ack.case_id, "send_notice")
    assert notices and all(n.coordinator_id == INQUIRY_POOL for n in notices)
    assert "inquiry" in notices[0].reason


async def test_accept_moves_to_records_and_assigns_the_coordinator(env, worker, recorded):
    _, _, _, _, case = await confirmed_case(env, recorded)
    await wait_for(case, lambda s: s.stage == CaseStage.INTAKE)
    ack = await case.execute_update(
        CaseWorkflow.accept_inquiry, AcceptInquiry(coordinator_id="coord-ana"))
    assert ack.stage == CaseStage.RECORDS
    status = await wait_for(case, lambda s: s.stage == CaseStage.RECORDS)
    assert status.coordinator_id == "coord-ana"
    assert not any(d.wait == WaitKind.INQUIRY_ACCEPTANCE for d in status.open_deadlines)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await case.execute_update(
            CaseWorkflow.decline_inquiry, DeclineInquiry(reason="x", declined_by="coord-ben"))
    assert "allowed in INTAKE" in str(refused.value.cause)


async def test_decline_closes_and_tells_the_patient(env, worker, recorded):
    _, _, inquiry, ack, case = await confirmed_case(env, recorded)
    await wait_for(case, lambda s: s.stage == CaseStage.INTAKE)
    await case.execute_update(
        CaseWorkflow.decline_inquiry,
        DeclineInquiry(reason="We cannot help with this tumour site.", declined_by="coord-ana"))
    result = await case.result()
    assert result["outcome"] == "declined"
    mail = recorded.of(ack.case_id, "send_inquiry_declined")
    assert len(mail) == 1 and mail[0].email == inquiry.email and mail[0].language == "en"


async def test_a_coordinator_started_case_takes_no_inquiry_decision(env, worker):
    handle = await start_case(env, case_input())
    await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CaseWorkflow.accept_inquiry, AcceptInquiry(coordinator_id="coord-ana"))
    assert "did not start from a patient's inquiry" in str(refused.value.cause)
