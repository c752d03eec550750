"""A review's referrals start together (REFERRALS_TOGETHER_PATCH): one workflow task issues every
start, rather than one task per start's confirmation (issue 14: a task and its three events
fewer a case, and the second packet starts sooner)."""

from temporalio.api.enums.v1 import EventType

from caseflow.case_status import CaseStage, ReferralState

from .cases import HOSPITAL_IDS, start_case, wait_for
from .drive import drive_to


async def test_every_referral_of_a_review_starts_in_one_workflow_task(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(
        handle, lambda s: all(h.state == ReferralState.AWAITING_RESPONSE for h in s.hospitals)
    )
    events = (await handle.fetch_history()).events
    starts = [
        i
        for i, event in enumerate(events)
        if event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    ]
    assert len(starts) == len(HOSPITAL_IDS)
    between = [e.event_type for e in events[starts[0] : starts[-1]]]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED not in between
