"""Issue 11: a step retries infrastructure errors for as long as its kind's patience and
escalates while it does; only a real failure is parked for retry_step/skip_step, with the true
number of attempts."""

from datetime import timedelta

from caseflow.case_status import CaseStage
from caseflow.hospitals import HospitalDirectory
from caseflow.sla import DEFAULT_SLAS, SlaPolicy, WaitKind
from workflows.case import CaseWorkflow
from workflows.sla_watch import RETRYING_PREFIX, StepRetry
from workflows.step_policies import StepKind, StepPatience

from .cases import case_input, start_case, wait_for
from .drive import drive_to, proceed_review

PATIENT = StepRetry(
    patience=StepPatience(
        by_kind={StepKind.PACKET: timedelta(hours=3), StepKind.WEBHOOK: timedelta(hours=3),
                 StepKind.EMAIL: timedelta(hours=3)},
        initial_interval=timedelta(milliseconds=100),
        maximum_interval=timedelta(milliseconds=300),
    )
)


async def test_short_outage_retries_past_the_old_budget_and_parks_nothing(env, worker, recorded):
    input = case_input(retry=PATIENT)
    # Eight failures: the old budget (two attempts) would have parked both packet steps.
    recorded.packet_failures[input.case_id] = 8
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    status = await wait_for(
        handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals), timeout=30
    )
    assert status.failed_steps == []
    assert not any(e.wait == "step_failure" for e in status.escalations)
    assert len(recorded.of(input.case_id, "render_referral_packet")) == 8 + len(status.hospitals)


async def test_long_outage_escalates_while_retrying_then_continues(env, worker, recorded):
    # Time cannot be skipped while an activity retries, so the step-failure policy is short.
    quick = SlaPolicy(
        remind_after=timedelta(seconds=2),
        escalate_coordinator_after=timedelta(seconds=3),
        escalate_supervisor_after=timedelta(seconds=4),
    )
    slas = DEFAULT_SLAS.model_copy(
        update={"policies": {**DEFAULT_SLAS.policies, WaitKind.STEP_FAILURE: quick}}
    )
    input = case_input(retry=PATIENT, slas=slas)
    recorded.packet_failures[input.case_id] = 10**6
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    status = await wait_for(
        handle,
        lambda s: any(e.deadline_id.startswith(RETRYING_PREFIX) for e in s.escalations),
        timeout=30,
    )
    assert status.failed_steps == []  # still retrying: nothing parked
    notices = recorded.of(input.case_id, "send_notice")
    reminders = [n for n in notices if "still retrying" in n.reason]
    assert reminders
    recorded.packet_failures[input.case_id] = 0  # storage is back
    status = await wait_for(
        handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals), timeout=30
    )
    assert status.failed_steps == []
    assert not any(d.deadline_id.startswith(RETRYING_PREFIX) for d in status.open_deadlines)


async def test_real_failure_is_parked_at_once_with_its_attempts(env, worker, recorded):
    webhook = "cn-xiamen-bnct"  # delivers by signed webhook
    directory = HospitalDirectory.load_default()
    input = case_input(retry=PATIENT, hospitals=directory.subset([webhook]).hospitals)
    # Three infrastructure errors, then the hospital refuses: parked, after four attempts.
    recorded.delivery_errors[(input.case_id, webhook)] = ["EndpointUnavailable"] * 3 + [
        "DeliveryRejected"
    ]
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([webhook]))
    status = await wait_for(handle, lambda s: len(s.failed_steps) == 1, timeout=30)
    (failed,) = status.failed_steps
    assert failed.step_id == f"referral-{webhook}-delivery"
    assert failed.error_type == "DeliveryRejected"
    assert failed.attempts == 4
