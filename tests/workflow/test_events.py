"""Rejections, withdrawal, continue-as-new and failed steps."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from caseflow.case_events import (
    AddDocument,
    AdmissionRecorded,
    AssignCoordinator,
    FollowUpRecorded,
    HospitalResponse,
    Resume,
    RetryStep,
    SelectHospital,
    SkipStep,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    WaiveRequirement,
    Withdraw,
)
from caseflow.case_status import CaseOutcome, CaseStage, ReferralState
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id, referral_workflow_id
from workflows.case import CaseWorkflow

from .cases import case_id_of, case_input, document, start_case, wait_for, wait_for_stage
from .drive import SELECTED, drive_to, proceed_review

OTHER_CASE = new_case_id()


def _rejections():
    """(stage, update, argument builder, words the one-line reason must contain)."""
    return [
        (CaseStage.RECORDS, "submit_review", lambda c: proceed_review(), "case is in RECORDS"),
        (
            CaseStage.RECORDS,
            "add_document",
            lambda c: AddDocument(ref=document(OTHER_CASE, DocumentKind.LABS)),
            "belongs to another case",
        ),
        (
            CaseStage.RECORDS,
            "waive_requirement",
            lambda c: WaiveRequirement(item_id="no_such_item", reason="lost"),
            "unknown checklist item",
        ),
        (
            CaseStage.SPECIALIST_REVIEW,
            "waive_requirement",
            lambda c: WaiveRequirement(item_id="biopsy", reason="lost"),
            "case is in SPECIALIST_REVIEW",
        ),
        (
            CaseStage.SPECIALIST_REVIEW,
            "submit_review",
            lambda c: proceed_review(["xx-unknown"]),
            "unknown hospital 'xx-unknown'",
        ),
        (
            CaseStage.SPECIALIST_REVIEW,
            "submit_review",
            lambda c: SubmitReview(
                outcome="proceed",
                reviewer_id="dr",
                modalities=["lu_psma"],
                target_hospital_ids=[SELECTED],
            ),
            "offers none of the proposed modalities",
        ),
        (
            CaseStage.HOSPITAL_SUBMISSION,
            "record_hospital_response",
            lambda c: HospitalResponse(hospital_id="cn-xiamen-bnct", decision="accept"),
            "no open referral to hospital cn-xiamen-bnct",
        ),
        (
            CaseStage.HOSPITAL_SUBMISSION,
            "select_hospital",
            lambda c: SelectHospital(hospital_id=SELECTED),
            "has not accepted",
        ),
        (
            CaseStage.HOSPITAL_SUBMISSION,
            "record_translation",
            lambda c: TranslationReceived(
                documents=[document(c, DocumentKind.TRANSLATION)], language="zh-CN"
            ),
            "case is in HOSPITAL_SUBMISSION",
        ),
        (
            CaseStage.TRAVEL,
            "record_travel",
            lambda c: TravelEvent(kind="arrived", on="2020-01-01"),
            "arrived before flights were booked",
        ),
        (
            CaseStage.TRAVEL,
            "record_travel",
            lambda c: TravelEvent(kind="visa_granted", on="2020-01-01"),
            "before the visa letter was received",
        ),
        (
            CaseStage.TRAVEL,
            "record_travel",
            lambda c: TravelEvent(kind="visa_letter_received", on="2999-01-01"),
            "is in the future",
        ),
        (
            CaseStage.ADMISSION,
            "record_discharge",
            lambda c: {"discharged_on": "2020-01-01"},
            "admission is not recorded yet",
        ),
        (
            CaseStage.ADMISSION,
            "record_follow_up",
            lambda c: FollowUpRecorded(day=14, status="well"),
            "case is in ADMISSION",
        ),
        (
            CaseStage.FOLLOW_UP,
            "record_follow_up",
            lambda c: FollowUpRecorded(day=15, status="well"),
            "no follow-up on day 15",
        ),
        (
            CaseStage.FOLLOW_UP,
            "record_follow_up",
            lambda c: FollowUpRecorded(day=30, status="well"),
            "is not due until",
        ),
        (
            CaseStage.FOLLOW_UP,
            "record_admission",
            lambda c: AdmissionRecorded(admitted_on="2020-01-01"),
            "case is in FOLLOW_UP",
        ),
        (CaseStage.RECORDS, "resume", lambda c: Resume(), "not on hold"),
        (
            CaseStage.RECORDS,
            "assign_coordinator",
            lambda c: AssignCoordinator(coordinator_id="coord-1"),
            "already the coordinator",
        ),
        (CaseStage.RECORDS, "retry_step", lambda c: RetryStep(step_id="nope"), "not a failed step"),
        (
            CaseStage.RECORDS,
            "skip_step",
            lambda c: SkipStep(step_id="nope", reason="x"),
            "not a failed step",
        ),
    ]


# Cases per stage are shared across the parametrized rejections: rejections change nothing.
_cases: dict[CaseStage, object] = {}


@pytest.mark.parametrize(
    ("stage", "update", "build", "reason"),
    _rejections(),
    ids=[f"{r[0].value}-{r[1]}-{i}" for i, r in enumerate(_rejections())],
)
async def test_wrong_events_are_rejected_with_a_reason(env, worker, stage, update, build, reason):
    handle = _cases.get(stage)
    if handle is None:
        handle = await start_case(env)
        await drive_to(env, handle, stage)
        if stage == CaseStage.TRAVEL:
            # The stage asks for the visa letter right after it is entered: let that settle.
            await wait_for(
                handle, lambda s: any(e.event == "visa_letter_requested" for e in s.timeline)
            )
        _cases[stage] = handle
    before = await handle.query(CaseWorkflow.status)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(update, build(case_id_of(handle)))
    message = str(raised.value.cause)
    assert reason in message
    assert "\n" not in message
    assert "Test" not in message and "Patient" not in message  # no patient name leaks
    after = await handle.query(CaseWorkflow.status)
    # Nothing was recorded (children report asynchronously, so their news is left out).
    assert _own(after.timeline) == _own(before.timeline)
    assert after.stage == stage


def _own(timeline):
    return [e for e in timeline if not e.event.startswith("referral_")]


async def test_withdrawal_mid_submission_cancels_children_and_erases(env, worker, recorded):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals))
    ack = await handle.execute_update(
        CaseWorkflow.withdraw, Withdraw(reason="patient chose local care", erase=True)
    )
    assert ack.stage == CaseStage.CLOSED
    result = await handle.result()
    assert result.outcome == CaseOutcome.WITHDRAWN
    assert result.documents_erased
    assert recorded.of(case_id, "erase_case_documents") == [{"case_id": case_id}]
    status = await handle.query(CaseWorkflow.status)
    assert {h.state for h in status.hospitals} == {ReferralState.CANCELLED}
    assert status.open_deadlines == []
    for hospital_id in ("cn-beijing-cancer", "in-chennai-proton"):
        child = env.client.get_workflow_handle(referral_workflow_id(case_id, hospital_id))
        assert (await child.describe()).status.name == "CANCELED"
    with pytest.raises(RPCError, match="already completed"):
        await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="again"))


async def test_withdrawal_in_records_without_erasure(env, worker, recorded):
    handle = await start_case(env)
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="duplicate case"))
    result = await handle.result()
    assert result.outcome == CaseOutcome.WITHDRAWN and not result.documents_erased
    assert recorded.of(case_id_of(handle), "erase_case_documents") == []


async def test_continue_as_new_keeps_state_and_the_sla_clock(env, worker):
    handle = await start_case(env, case_input(continue_as_new_after_events=100))
    case_id = case_id_of(handle)
    first = await wait_for_stage(handle, CaseStage.RECORDS)
    started = first.open_deadlines[0].started_at
    # Each added document is a few history events; enough of them pass the limit.
    for index in range(30):
        await handle.execute_update(
            CaseWorkflow.add_document,
            AddDocument(ref=document(case_id, DocumentKind.OTHER, salt=str(index))),
        )
    status = await wait_for(handle, lambda s: s.run_count >= 2)
    assert len(status.documents) == 30
    assert status.stage == CaseStage.RECORDS
    assert status.open_deadlines[0].started_at == started
    assert any(e.event == "continued_as_new" for e in status.timeline)
    assert any(e.event == "case_opened" for e in status.timeline)
    # The reminder still fires 3 days after the records wait began, not after the new run.
    now = await env.get_current_time(handle)
    await env.fast_forward(handle, started + timedelta(days=3) + timedelta(minutes=1) - now)
    status = await wait_for(handle, lambda s: len(s.escalations) == 1)
    assert abs(status.escalations[0].at - (started + timedelta(days=3))) < timedelta(minutes=1)


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
    assert (await handle.describe()).status.name == "RUNNING"


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
