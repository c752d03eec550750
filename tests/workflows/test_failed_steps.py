"""A step that fails past its retry budget escalates and waits for retry_step or skip_step;
the case itself never fails."""

from datetime import timedelta

from temporalio.client import WorkflowExecutionStatus

from caseflow.case_events import RetryStep, SkipStep
from caseflow.case_status import CaseStage
from caseflow.ids import referral_workflow_id
from workflows.case import CaseWorkflow

from .cases import case_input, start_case, wait_for
from .drive import SELECTED, drive_to


async def test_failed_packet_step_escalates_then_retry_step_succeeds(env, worker, recorded):
    input = case_input()
    recorded.packet_failures[input.case_id] = 4  # both attempts fail for both hospitals
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    status = await wait_for(handle, lambda s: len(s.failed_steps) == 2)
    step_id = f"referral-{SELECTED}-packet"
    assert step_id in {f.step_id for f in status.failed_steps}
    # The failed step has its own SLA, run by the child that owns the step.
    child = env.client.get_workflow_handle(referral_workflow_id(input.case_id, SELECTED))
    await env.fast_forward(child, timedelta(hours=1, minutes=1))
    await wait_for(handle, lambda s: any(e.wait == "step_failure" for e in s.escalations))
    recorded.packet_failures[input.case_id] = 0
    for failed in status.failed_steps:
        await handle.execute_update(CaseWorkflow.retry_step, RetryStep(step_id=failed.step_id))
    status = await wait_for(
        handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals)
    )
    assert status.failed_steps == []
    assert all(h.packet_prefix for h in status.hospitals)
    assert handle.id  # the case itself never failed
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_failed_step_skipped_moves_on_without_a_packet(env, worker, recorded):
    input = case_input()
    recorded.packet_failures[input.case_id] = 100
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    status = await wait_for(handle, lambda s: len(s.failed_steps) == 2)
    for failed in status.failed_steps:
        await handle.execute_update(
            CaseWorkflow.skip_step, SkipStep(step_id=failed.step_id, reason="sent by hand")
        )
    status = await wait_for(
        handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals)
    )
    assert all(h.packet_prefix is None for h in status.hospitals)
    assert any(e.event == "referral_packet_skipped" for e in status.timeline)
