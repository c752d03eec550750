"""Consent on the case: the ledger query, record/withdraw updates and their rejections, and a
withdrawal that blocks a delivery not yet made."""

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.payloads import CONSENT_LEDGER_QUERY
from caseflow.case_events import AddDocument, RecordConsent, RetryStep, WithdrawConsent
from caseflow.case_status import CaseStage, ReferralState
from caseflow.consent import ConsentLedger
from caseflow.documents import DocumentKind
from workflows.case import CaseWorkflow

from .cases import case_input, document, intake, start_case, wait_for, wait_for_stage
from .drive import drive_to, proceed_review

CHENNAI = "in-chennai-proton"
BEIJING = "cn-beijing-cancer"


async def ledger(handle) -> ConsentLedger:
    return await handle.query(CONSENT_LEDGER_QUERY, result_type=ConsentLedger)


async def test_ledger_query_follows_record_and_withdraw(env, worker):
    handle = await start_case(env)
    await wait_for_stage(handle, CaseStage.RECORDS)
    assert (await ledger(handle)).allows("IN", CHENNAI, "referral")

    ack = await handle.execute_update(
        CaseWorkflow.withdraw_consent,
        WithdrawConsent(country="IN", hospital_id=CHENNAI, purpose="referral",
                        recorded_by="coord-1"),
    )
    assert "withdrawn" in ack.detail
    current = await ledger(handle)
    assert not current.allows("IN", CHENNAI, "referral")
    assert current.allows("CN", BEIJING, "referral")

    await handle.execute_update(
        CaseWorkflow.record_consent,
        RecordConsent(country="IN", hospital_id=CHENNAI, purpose="referral"),
    )
    assert (await ledger(handle)).allows("IN", CHENNAI, "referral")
    events = [e.event for e in (await handle.query(CaseWorkflow.status)).timeline]
    assert events.count("consent_withdrawn") == 1 and events.count("consent_recorded") == 1


@pytest.mark.parametrize(
    ("update", "event", "reason"),
    [
        (
            "record_consent",
            RecordConsent(country="IN", purpose="referral"),
            "referral consent for any hospital in IN is already in force",
        ),
        (
            "record_consent",
            RecordConsent(country="IN", hospital_id="xx-nowhere", purpose="travel"),
            "hospital_id: unknown hospital 'xx-nowhere'",
        ),
        (
            "record_consent",
            RecordConsent(country="CN", hospital_id=CHENNAI, purpose="travel"),
            f"hospital_id: hospital {CHENNAI} is not in CN",
        ),
        (
            "record_consent",
            RecordConsent(
                country="IN", hospital_id=CHENNAI, purpose="travel",
                granted_at=datetime(2100, 1, 1, tzinfo=UTC),
            ),
            "granted_at: is in the future",
        ),
        (
            "withdraw_consent",
            WithdrawConsent(country="IN", hospital_id=CHENNAI, purpose="travel"),
            f"consent: no travel consent for hospital {CHENNAI} in IN is in force",
        ),
    ],
)
async def test_consent_updates_are_rejected_with_a_reason(env, worker, update, event, reason):
    no_travel = intake(consent_purposes=("referral", "translation"))
    handle = await start_case(env, case_input(intake=no_travel))
    await wait_for_stage(handle, CaseStage.RECORDS)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(update, event)
    assert reason in str(raised.value.cause)
    assert "\n" not in str(raised.value.cause)


async def test_withdrawal_before_delivery_blocks_it_until_consent_returns(env, worker, recorded):
    input = case_input()
    recorded.packet_failures[input.case_id] = 2  # the packet step fails: delivery not yet made
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([CHENNAI]))
    status = await wait_for(handle, lambda s: len(s.failed_steps) == 1)

    await handle.execute_update(
        CaseWorkflow.withdraw_consent,
        WithdrawConsent(country="IN", hospital_id=CHENNAI, purpose="referral"),
    )
    status = await handle.query(CaseWorkflow.status)
    assert any(
        e.event == "delivery_blocked" and CHENNAI in e.detail for e in status.timeline
    )
    await handle.execute_update(
        CaseWorkflow.retry_step, RetryStep(step_id=status.failed_steps[0].step_id)
    )
    status = await wait_for(
        handle, lambda s: s.hospitals[0].state == ReferralState.DELIVERY_BLOCKED
    )
    referral = status.hospitals[0]
    assert referral.delivered_at is None and referral.escalation_level == 2
    assert any(e.subject == f"consent {CHENNAI}" and e.level == 2 for e in status.escalations)
    notices = recorded.of(input.case_id, "send_notice")
    assert any("consent-blocked" in n.notice_id for n in notices)
    assert recorded.sent(input.case_id) == []  # nothing sent

    await handle.execute_update(
        CaseWorkflow.record_consent,
        RecordConsent(country="IN", hospital_id=CHENNAI, purpose="referral"),
    )
    status = await wait_for(handle, lambda s: s.hospitals[0].delivered_at is not None)
    assert [r.to for r in recorded.sent(input.case_id)] == [status.hospitals[0].recipients[0]]
    assert any(e.event == "referral_delivery_unblocked" for e in status.timeline)
    assert status.hospitals[0].escalation_level == 0
    assert abs(status.hospitals[0].delivered_at - await env.get_current_time(handle)) < (
        timedelta(minutes=1)
    )


async def test_the_ledger_survives_continue_as_new(env, worker):
    handle = await start_case(env, case_input(continue_as_new_after_events=100))
    case_id = handle.id.removeprefix("case-")
    await wait_for_stage(handle, CaseStage.RECORDS)
    await handle.execute_update(
        CaseWorkflow.withdraw_consent,
        WithdrawConsent(country="IN", hospital_id=CHENNAI, purpose="travel"),
    )
    for index in range(30):  # enough history to pass the limit
        await handle.execute_update(
            CaseWorkflow.add_document,
            AddDocument(ref=document(case_id, DocumentKind.OTHER, salt=str(index))),
        )
    await wait_for(handle, lambda s: s.run_count >= 2)
    carried = await ledger(handle)
    assert not carried.allows("IN", CHENNAI, "travel")
    assert carried.allows("IN", CHENNAI, "referral")
    assert [e.action for e in carried.events][-1] == "withdraw"
