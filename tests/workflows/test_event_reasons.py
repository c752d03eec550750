"""Hold, resume and withdraw: their reasons and notes reach the timeline and status, and a
withdrawal in the middle of an activity closes the case."""

import asyncio

from caseflow.case_events import Hold, Resume, Withdraw
from caseflow.case_status import CaseOutcome, CaseStage
from workflows.case import CaseWorkflow

from .cases import case_input, start_case, status, wait_for
from .drive import drive_to


async def test_hold_reason_and_resume_note_are_in_the_timeline(env, worker):
    handle = await start_case(env)
    await handle.execute_update(CaseWorkflow.hold, Hold(reason="waiting for the family"))
    await handle.execute_update(CaseWorkflow.resume, Resume(note="the family called back"))
    timeline = [(e.event, e.detail) for e in (await status(handle)).timeline]
    assert ("hold", "waiting for the family") in timeline
    assert ("resumed", "the family called back") in timeline


async def test_withdrawal_reason_is_in_the_timeline_and_the_status(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(
        CaseWorkflow.withdraw, Withdraw(reason="patient chose local care")
    )
    answer = await status(handle)
    assert answer.withdrawal_reason == "patient chose local care"
    assert ("withdrawal_requested", "patient chose local care") in [
        (e.event, e.detail) for e in answer.timeline
    ]


async def test_withdrawal_while_an_activity_runs_closes_the_case(env, worker, recorded):
    """Cancelling the stage cancels its activity; that is the withdrawal, not a failure."""
    input = case_input()
    hold = recorded.translation_holds[input.case_id] = asyncio.Event()
    try:
        handle = await start_case(env, input)
        await drive_to(env, handle, CaseStage.TRANSLATION)
        await wait_for(
            handle, lambda s: s.stage == CaseStage.TRANSLATION and s.selected_hospital_id
        )
        while not recorded.of(input.case_id, "store_translation_packet"):
            await asyncio.sleep(0.05)
        await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="moved home"))
        result = await handle.result()
        assert result.outcome == CaseOutcome.WITHDRAWN
    finally:
        hold.set()
