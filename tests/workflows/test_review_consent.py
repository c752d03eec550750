"""The records review consent (the portal's inquiry, no country) withdrawn on the case: recorded
in the ledger and the timeline, the coordinator mailed that erasure is next, and no specialist
review while it stays withdrawn (the case holds in RECORDS; a review already due is refused)."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from caseflow.case_events import AddDocument, WithdrawConsent
from caseflow.case_status import CaseStage
from caseflow.sla import DEFAULT_SLAS, WaitKind
from tests.inquiry_builders import fictional_inquiry
from workflows.case import CaseWorkflow

from .cases import WORKUP_KINDS, case_input, document, start_case, wait_for, wait_for_stage
from .drive import drive_to, proceed_review

REVIEW = WithdrawConsent(purpose="records_review", recorded_by="patient-portal")
RECORDS_SLA = DEFAULT_SLAS.for_wait(WaitKind.RECORDS_UPLOAD)


def inquiry_case():
    """A case whose ledger starts with the inquiry's events: the records review grant first."""
    return case_input(consent_events=fictional_inquiry().consent_events())


async def refusal(handle, update, event) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(update, event)
    reason = str(raised.value.cause).removeprefix("InvalidCaseEvent: ")
    assert "\n" not in reason
    return reason


async def test_withdrawn_in_records_is_recorded_the_coordinator_told_and_the_case_holds(
    env, worker, recorded
):
    input = inquiry_case()
    handle = await start_case(env, input)
    await wait_for_stage(handle, CaseStage.RECORDS)

    ack = await handle.execute_update(CaseWorkflow.withdraw_consent, REVIEW)
    assert ack.detail == "records_review consent withdrawn"
    ledger = await handle.query(CaseWorkflow.consent_ledger)
    assert ledger.review_withdrawn() and ledger.events[-1].recorded_by == "patient-portal"
    assert ledger.allows("IN", "in-chennai-proton", "referral")  # the referral consent stands
    status = await handle.query(CaseWorkflow.status)
    assert [(e.event, e.detail, e.actor) for e in status.timeline][-1] == (
        "consent_withdrawn", "records_review consent", "patient-portal"
    )
    [notice] = await _notices(recorded, input.case_id, "records-review-withdrawn")
    assert notice.audience == ["coordinator"] and notice.coordinator_id == status.coordinator_id
    assert "caseflow case withdraw --erase" in notice.reason

    # Every record arrives: the case still goes to no specialist review.
    for kind in WORKUP_KINDS:
        await handle.execute_update(
            CaseWorkflow.add_document, AddDocument(ref=document(input.case_id, kind))
        )
    status = await handle.query(CaseWorkflow.status)
    assert status.stage == CaseStage.RECORDS and not any(i.missing for i in status.checklist)

    # The SLA keeps the coordinator on it, in words that say why the case waits.
    await env.fast_forward(handle, RECORDS_SLA.remind_after + timedelta(minutes=1))
    status = await wait_for(handle, lambda s: len(s.escalations) >= 1)
    assert status.stage == CaseStage.RECORDS
    reminders = [n for n in recorded.of(input.case_id, "send_notice") if n is not notice]
    assert reminders and "withdrew the records review consent" in reminders[0].reason

    assert await refusal(handle, CaseWorkflow.withdraw_consent, REVIEW) == (
        "consent: the records_review consent is already withdrawn"
    )


async def test_withdrawn_in_review_refuses_the_review_with_one_line(env, worker, recorded):
    input = inquiry_case()
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.withdraw_consent, REVIEW)
    assert await refusal(handle, CaseWorkflow.submit_review, proceed_review()) == (
        "submit_review: the patient withdrew the records review consent"
    )
    status = await handle.query(CaseWorkflow.status)
    assert status.stage == CaseStage.SPECIALIST_REVIEW
    assert not any(e.event == "review_submitted" for e in status.timeline)
    assert await _notices(recorded, input.case_id, "records-review-withdrawn")


async def test_a_case_without_a_review_consent_has_none_to_withdraw(env, worker):
    handle = await start_case(env)  # a coordinator's intake: no records review event
    await wait_for_stage(handle, CaseStage.RECORDS)
    assert await refusal(handle, CaseWorkflow.withdraw_consent, REVIEW) == (
        "consent: no records_review consent is in force"
    )
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)  # and its review goes ahead


async def _notices(recorded, case_id: str, kind: str) -> list:
    """The notices of this kind, once the background mail has gone."""
    for _ in range(100):
        found = [n for n in recorded.of(case_id, "send_notice") if kind in n.notice_id]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []
