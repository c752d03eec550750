"""The reasons and notes that come with hold, resume and withdraw reach the timeline and status."""

from caseflow.case_events import Hold, Resume, Withdraw
from caseflow.case_status import CaseStage
from workflows.case import CaseWorkflow

from .cases import start_case, status
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
