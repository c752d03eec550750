"""During HOSPITAL_SUBMISSION the hospitals' acknowledgement and answer deadlines are the case's
open deadlines, and SlaDueAt/SlaWaitsFor name the earliest; both move on as hospitals reply."""

import asyncio
from datetime import datetime, timedelta

from temporalio.client import WorkflowHandle

from caseflow import search_attributes as sa
from caseflow.case_events import HospitalAcknowledgement, HospitalResponse
from caseflow.case_status import CaseStage, CaseStatus, Deadline, ReferralState
from caseflow.ids import referral_workflow_id
from caseflow.sla import DEFAULT_SLAS, SlaStep, WaitKind
from workflows.case import CaseWorkflow

from .cases import HOSPITAL_IDS, case_id_of, start_case, wait_for
from .drive import SELECTED, accept, drive_to, proceed_review

MARGIN = timedelta(minutes=1)
ACK = DEFAULT_SLAS.for_wait(WaitKind.HOSPITAL_ACKNOWLEDGEMENT)
ANSWER = DEFAULT_SLAS.for_wait(WaitKind.HOSPITAL_RESPONSE)
OTHER = HOSPITAL_IDS[1]


def deadline(status: CaseStatus, kind: WaitKind, hospital_id: str) -> Deadline | None:
    return next(
        (d for d in status.open_deadlines if d.wait == kind and d.hospital_id == hospital_id),
        None,
    )


def hospital_deadlines(status: CaseStatus) -> set[tuple[str, str]]:
    return {(d.wait.value, d.hospital_id) for d in status.open_deadlines if d.hospital_id}


async def attributes_when(
    handle: WorkflowHandle, due: datetime | None, waits_for: str | None, timeout: float = 10.0
) -> None:
    """Wait until the case's SlaDueAt and SlaWaitsFor are these (the case publishes them on the
    children's reports)."""
    loop = asyncio.get_running_loop()
    stop = loop.time() + timeout
    while True:
        attributes = (await handle.describe()).typed_search_attributes
        seen = (attributes.get(sa.SLA_DUE_AT), attributes.get(sa.SLA_WAITS_FOR))
        if seen == (due, waits_for):
            return
        if loop.time() > stop:
            raise AssertionError(f"search attributes {seen}, expected {(due, waits_for)}")
        await asyncio.sleep(0.05)


async def test_hospital_deadlines_are_open_deadlines_and_the_earliest_is_searchable(env, worker):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review())
    everything = {
        (kind.value, h)
        for kind in (WaitKind.HOSPITAL_ACKNOWLEDGEMENT, WaitKind.HOSPITAL_RESPONSE)
        for h in HOSPITAL_IDS
    }
    status = await wait_for(
        handle,
        lambda s: all(h.state == ReferralState.AWAITING_RESPONSE for h in s.hospitals)
        and hospital_deadlines(s) == everything
        and all(d.due_at for d in s.open_deadlines),
    )
    assert status.stage == CaseStage.HOSPITAL_SUBMISSION
    for referral in status.hospitals:
        hospital_id = referral.hospital_id
        assert referral.delivered_at is not None
        ack = deadline(status, WaitKind.HOSPITAL_ACKNOWLEDGEMENT, hospital_id)
        answer = deadline(status, WaitKind.HOSPITAL_RESPONSE, hospital_id)
        assert ack is not None and answer is not None
        # What it waits for, when the next step falls due, and how far it has escalated.
        assert ack.subject == hospital_id
        assert ack.waits_for == f"hospital_acknowledgement:{hospital_id}"
        assert answer.waits_for == f"hospital_response:{hospital_id}"
        for d, policy in ((ack, ACK), (answer, ANSWER)):
            assert d.steps_fired == 0 and d.next_step == SlaStep.REMIND.value
            assert d.due_at is not None
            assert abs(d.due_at - (referral.delivered_at + policy.remind_after)) < MARGIN
        # The child's own status carries the same waits.
        assert referral.open_deadlines and {d.hospital_id for d in referral.open_deadlines} == {
            hospital_id
        }
    acks = [deadline(status, WaitKind.HOSPITAL_ACKNOWLEDGEMENT, h) for h in HOSPITAL_IDS]
    first = min((d for d in acks if d is not None), key=lambda d: d.due_at or datetime.max)
    await attributes_when(handle, first.due_at, first.waits_for)

    # The selected hospital's acknowledgement goes unanswered past its reminder: level 1, and
    # its next step (the coordinator's) is due a day later; the other hospital's is now earliest.
    child = env.client.get_workflow_handle(referral_workflow_id(case_id, SELECTED))
    await env.fast_forward(child, ACK.remind_after + MARGIN)
    status = await wait_for(
        handle,
        lambda s: (d := deadline(s, WaitKind.HOSPITAL_ACKNOWLEDGEMENT, SELECTED)) is not None
        and d.steps_fired == 1
        and d.due_at is not None,
    )
    reminded = deadline(status, WaitKind.HOSPITAL_ACKNOWLEDGEMENT, SELECTED)
    assert reminded is not None and reminded.due_at is not None
    assert reminded.next_step == SlaStep.ESCALATE_COORDINATOR.value
    assert abs(reminded.due_at - (reminded.started_at + ACK.escalate_coordinator_after)) < MARGIN
    other_ack = deadline(status, WaitKind.HOSPITAL_ACKNOWLEDGEMENT, OTHER)
    assert other_ack is not None and other_ack.due_at is not None
    assert other_ack.due_at < reminded.due_at
    await attributes_when(handle, other_ack.due_at, f"hospital_acknowledgement:{OTHER}")

    # The other hospital acknowledges: its acknowledgement wait ends, its answer's stays.
    await handle.execute_update(
        CaseWorkflow.record_hospital_acknowledgement, HospitalAcknowledgement(hospital_id=OTHER)
    )
    status = await wait_for(
        handle,
        lambda s: deadline(s, WaitKind.HOSPITAL_ACKNOWLEDGEMENT, OTHER) is None,
    )
    assert deadline(status, WaitKind.HOSPITAL_RESPONSE, OTHER) is not None
    assert len(status.open_deadlines) == 3
    await attributes_when(handle, reminded.due_at, f"hospital_acknowledgement:{SELECTED}")

    # The selected hospital accepts: an answer implies receipt, so both its waits end, and the
    # other hospital's answer is what the case waits for first.
    await accept(env, handle, SELECTED)
    status = await wait_for(
        handle, lambda s: hospital_deadlines(s) == {("hospital_response", OTHER)}
    )
    other_answer = deadline(status, WaitKind.HOSPITAL_RESPONSE, OTHER)
    assert other_answer is not None and other_answer.due_at is not None
    assert other_answer.steps_fired == 0
    await attributes_when(handle, other_answer.due_at, f"hospital_response:{OTHER}")

    # The other declines: nothing is waited for under an SLA any more (selection is the
    # coordinator's), so there is no due time to sort by.
    await handle.execute_update(
        CaseWorkflow.record_hospital_response,
        HospitalResponse(hospital_id=OTHER, decision="decline"),
    )
    status = await wait_for(handle, lambda s: s.open_deadlines == [])
    assert status.stage == CaseStage.HOSPITAL_SUBMISSION
    await attributes_when(handle, None, None)
