"""Every SLA fires reminder, then coordinator, then supervisor, at the right simulated time."""

from datetime import timedelta

import pytest

from caseflow import search_attributes as sa
from caseflow.case_events import Hold, Resume
from caseflow.case_status import CaseStage
from caseflow.ids import referral_workflow_id
from caseflow.sla import DEFAULT_SLAS, WaitKind
from workflows.case import CaseWorkflow

from .cases import case_id_of, start_case, wait_for
from .drive import SELECTED, drive_to, step

MARGIN = timedelta(minutes=1)

# (stage to reach, wait kind, steps to take inside the stage first)
WAITS = [
    (CaseStage.RECORDS, WaitKind.RECORDS_UPLOAD, None),
    (CaseStage.SPECIALIST_REVIEW, WaitKind.SPECIALIST_REVIEW, None),
    (CaseStage.HOSPITAL_SUBMISSION, WaitKind.HOSPITAL_RESPONSE, None),
    (CaseStage.TRANSLATION, WaitKind.TRANSLATION, None),
    (CaseStage.TRAVEL, WaitKind.VISA_LETTER, None),
    (CaseStage.ADMISSION, WaitKind.DISCHARGE, "admit"),
    (CaseStage.FOLLOW_UP, WaitKind.FOLLOW_UP, "first-follow-up-due"),
]


async def _open_deadline(handle, kind: WaitKind):
    status = await wait_for(handle, lambda s: any(d.wait == kind for d in s.open_deadlines))
    return next(d for d in status.open_deadlines if d.wait == kind)


@pytest.mark.parametrize(("stage", "kind", "setup"), WAITS, ids=[w[1].value for w in WAITS])
async def test_sla_reminds_then_escalates_to_coordinator_then_supervisor(
    env, worker, recorded, stage, kind, setup
):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await drive_to(env, handle, stage)
    if setup == "admit":
        from caseflow.case_events import AdmissionRecorded

        today = (await env.get_current_time(handle)).date()
        await handle.execute_update(
            CaseWorkflow.record_admission, AdmissionRecorded(admitted_on=today)
        )
    if setup == "first-follow-up-due":
        await env.fast_forward(handle, timedelta(days=14))
    # The hospital's wait runs in the referral child, on the child's own clock.
    clock = (
        env.client.get_workflow_handle(referral_workflow_id(case_id, SELECTED))
        if kind == WaitKind.HOSPITAL_RESPONSE
        else handle
    )
    if kind == WaitKind.HOSPITAL_RESPONSE:
        await wait_for(handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals))
    deadline = await _open_deadline(handle, kind) if clock is handle else None
    policy = DEFAULT_SLAS.for_wait(kind)
    offsets = [
        policy.remind_after,
        policy.escalate_coordinator_after,
        policy.escalate_supervisor_after,
    ]
    started = deadline.started_at if deadline else await env.get_current_time(clock)

    def escalations(s):
        return [e for e in s.escalations if e.wait == kind and e.subject != "day-30"]

    for level, offset in enumerate(offsets, start=1):
        now = await env.get_current_time(clock)
        # Just before the step: nothing new has fired.
        await env.fast_forward(clock, started + offset - now - MARGIN)
        before = await handle.query(CaseWorkflow.status)
        assert len(escalations(before)) == level - 1, f"level {level} fired early"
        await env.fast_forward(clock, 2 * MARGIN)
        after = await wait_for(handle, lambda s, n=level: len(escalations(s)) >= n)
        fired = escalations(after)[level - 1]
        assert fired.level == level
        assert abs(fired.at - (started + offset)) < MARGIN
        assert fired.notified

    notices = [
        n
        for n in recorded.of(case_id, "send_notice")
        if n.notice_id.endswith(("remind", "escalate_coordinator", "escalate_supervisor"))
    ]
    mine = [n for n in notices if kind.value in _reason_kind(n.reason, kind)]
    assert [n.audience for n in mine][-3:] == [
        ["coordinator"],
        ["coordinator"],
        ["coordinator", "supervisor"],
    ]
    for notice in mine:
        assert notice.reason.startswith(_REASONS[kind])
    timeline = [e.event for e in (await handle.query(CaseWorkflow.status)).timeline]
    for event in ("sla_remind", "sla_escalate_coordinator", "sla_escalate_supervisor"):
        assert any(e.endswith(event) for e in timeline)
    attributes = (await clock.describe()).typed_search_attributes
    assert attributes.get(sa.ESCALATED) is True
    assert attributes.get(sa.ESCALATION_LEVEL) == 3


_REASONS = {
    WaitKind.RECORDS_UPLOAD: "records incomplete",
    WaitKind.SPECIALIST_REVIEW: "specialist review pending",
    WaitKind.HOSPITAL_RESPONSE: f"hospital {SELECTED} has not answered",
    WaitKind.TRANSLATION: "translated documents not received",
    WaitKind.VISA_LETTER: "visa invitation letter not received",
    WaitKind.DISCHARGE: "discharge not recorded",
    WaitKind.FOLLOW_UP: "follow-up day-14 not recorded",
}


def _reason_kind(reason: str, kind: WaitKind) -> str:
    return kind.value if reason.startswith(_REASONS[kind]) else ""


async def test_hold_pauses_escalation_and_resume_continues_the_clock(env, worker):
    handle = await start_case(env)
    deadline = await _open_deadline(handle, WaitKind.RECORDS_UPLOAD)
    policy = DEFAULT_SLAS.for_wait(WaitKind.RECORDS_UPLOAD)
    await env.fast_forward(handle, timedelta(days=1))
    await handle.execute_update(CaseWorkflow.hold, Hold(reason="patient in hospital locally"))
    await env.fast_forward(handle, timedelta(days=10))
    held = await handle.query(CaseWorkflow.status)
    assert held.escalations == []
    assert held.on_hold
    await handle.execute_update(CaseWorkflow.resume, Resume())
    # 1 day before the hold + 2 days after it = the 3-day reminder, 10 days late.
    await env.fast_forward(handle, policy.remind_after - timedelta(days=1) + MARGIN)
    status = await wait_for(handle, lambda s: len(s.escalations) == 1)
    assert status.escalations[0].at - deadline.started_at >= policy.remind_after + timedelta(
        days=10
    )
    assert status.stage == CaseStage.RECORDS


async def test_records_wait_ends_without_escalation_when_complete(env, worker):
    handle = await start_case(env)
    await step(env, handle, CaseStage.RECORDS)
    await wait_for(handle, lambda s: s.stage == CaseStage.SPECIALIST_REVIEW)
    status = await handle.query(CaseWorkflow.status)
    assert [d.wait for d in status.open_deadlines] == [WaitKind.SPECIALIST_REVIEW]
