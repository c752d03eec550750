"""A hospital's acknowledgement of the packet: its own SLA, separate from the answer's, and the
record_hospital_acknowledgement update with its rejections."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from caseflow.case_events import HospitalAcknowledgement
from caseflow.case_status import CaseStage, ReferralState
from caseflow.ids import referral_workflow_id
from caseflow.sla import DEFAULT_SLAS, SlaStep, WaitKind
from workflows.case import CaseWorkflow

from .cases import case_id_of, start_case, wait_for, wait_for_stage
from .drive import SELECTED, drive_to, proceed_review

MARGIN = timedelta(minutes=1)
ACK = DEFAULT_SLAS.for_wait(WaitKind.HOSPITAL_ACKNOWLEDGEMENT)
ANSWER = DEFAULT_SLAS.for_wait(WaitKind.HOSPITAL_RESPONSE)


def of_kind(status, kind: WaitKind):
    return [e for e in status.escalations if e.wait == kind]


async def awaiting(env, hospital_id: str = SELECTED):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([hospital_id]))
    await wait_for(handle, lambda s: s.hospitals and s.hospitals[0].state == "awaiting_response")
    child = env.client.get_workflow_handle(referral_workflow_id(case_id_of(handle), hospital_id))
    return handle, child


async def test_acknowledgement_has_its_own_sla_beside_the_answer(env, worker, recorded):
    assert ACK.remind_after < ACK.escalate_coordinator_after < ANSWER.remind_after
    handle, child = await awaiting(env)
    started = await env.get_current_time(child)

    await env.fast_forward(child, ACK.remind_after + MARGIN)
    status = await wait_for(handle, lambda s: len(of_kind(s, WaitKind.HOSPITAL_ACKNOWLEDGEMENT)))
    (reminder,) = of_kind(status, WaitKind.HOSPITAL_ACKNOWLEDGEMENT)
    assert reminder.level == 1 and abs(reminder.at - (started + ACK.remind_after)) < MARGIN
    assert of_kind(status, WaitKind.HOSPITAL_RESPONSE) == []
    notices = [(n.reason, n.step, n.waits_for, n.wait_subject)
               for n in recorded.of(case_id_of(handle), "send_notice")]
    assert (f"hospital {SELECTED} has not acknowledged the referral packet", SlaStep.REMIND,
            WaitKind.HOSPITAL_ACKNOWLEDGEMENT, SELECTED) in notices

    ack = await handle.execute_update(
        CaseWorkflow.record_hospital_acknowledgement,
        HospitalAcknowledgement(hospital_id=SELECTED, reference="INTL-2025-0042"),
    )
    assert "acknowledged" in ack.detail
    status = await wait_for(
        handle, lambda s: any(e.event == "referral_acknowledged" for e in s.timeline)
    )
    referral = status.hospitals[0]
    assert referral.acknowledged_at is not None and referral.delivered_at is not None
    assert referral.acknowledgement_reference == "INTL-2025-0042"
    assert referral.responded_at is None and referral.state == ReferralState.AWAITING_RESPONSE

    # Past the acknowledgement's coordinator step: acknowledged, so nothing more fires for it;
    # past the answer's reminder: that SLA runs on its own.
    now = await env.get_current_time(child)
    await env.fast_forward(child, started + ANSWER.remind_after + MARGIN - now)
    status = await wait_for(handle, lambda s: len(of_kind(s, WaitKind.HOSPITAL_RESPONSE)) == 1)
    assert len(of_kind(status, WaitKind.HOSPITAL_ACKNOWLEDGEMENT)) == 1
    (answer,) = of_kind(status, WaitKind.HOSPITAL_RESPONSE)
    assert abs(answer.at - (started + ANSWER.remind_after)) < MARGIN


async def test_acknowledgement_rejections(env, worker):
    handle = await start_case(env)
    await wait_for_stage(handle, CaseStage.RECORDS)
    event = HospitalAcknowledgement(hospital_id=SELECTED)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(CaseWorkflow.record_hospital_acknowledgement, event)
    assert "case is in RECORDS" in str(raised.value.cause)

    handle, _ = await awaiting(env)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(
            CaseWorkflow.record_hospital_acknowledgement,
            HospitalAcknowledgement(hospital_id="in-chennai-proton"),
        )
    assert "no open referral to hospital in-chennai-proton" in str(raised.value.cause)
    await handle.execute_update(CaseWorkflow.record_hospital_acknowledgement, event)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(CaseWorkflow.record_hospital_acknowledgement, event)
    assert f"hospital {SELECTED} already acknowledged" in str(raised.value.cause)
