"""Packet delivery by the hospital's channel: webhook, email or manual; consent re-checked by the
activity on every attempt; 410 falls back to manual; other failures are failed steps."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from caseflow.case_events import (
    HospitalResponse,
    RecordConsent,
    RetryStep,
    SkipStep,
    WithdrawConsent,
)
from caseflow.case_status import CaseStage, ReferralState
from caseflow.hospitals import HospitalDirectory
from workflows.case import CaseWorkflow

from .cases import case_input, start_case, wait_for
from .drive import drive_to, proceed_review

WEBHOOK, EMAIL, MANUAL = "cn-xiamen-bnct", "in-chennai-proton", "cn-beijing-cancer"
DIRECTORY = HospitalDirectory.load_default()


async def submitted(env, targets):
    """A case with the three channels' hospitals, its review sent to `targets`."""
    input = case_input(hospitals=DIRECTORY.subset([WEBHOOK, EMAIL, MANUAL]).hospitals)
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review(targets))
    return input.case_id, handle


def referral(status, hospital_id):
    return next(h for h in status.hospitals if h.hospital_id == hospital_id)


def delivered(*hospital_ids):
    return lambda s: all(referral(s, h).delivered_at is not None for h in hospital_ids)


async def test_each_hospital_gets_the_packet_through_its_own_channel(env, worker, recorded):
    case_id, handle = await submitted(env, [WEBHOOK, EMAIL, MANUAL])
    status = await wait_for(handle, delivered(WEBHOOK, EMAIL, MANUAL))

    sent = {r.notice.hospital_id: r for r in recorded.sent(case_id)}
    assert set(sent) == {WEBHOOK, EMAIL}  # the manual hospital gets nothing automatically
    hook, mail = sent[WEBHOOK], sent[EMAIL]
    assert hook.url == DIRECTORY.get(WEBHOOK).webhook_url and hook.endpoint_id == WEBHOOK
    assert hook.packet_id == referral(status, WEBHOOK).packet_id
    assert hook.notice.manifest_sha256 == referral(status, WEBHOOK).packet_sha256
    assert hook.consent.ledger_workflow_id == handle.id  # the gate reads the live ledger
    assert mail.to == DIRECTORY.get(EMAIL).contact_email
    assert mail.letter_key.endswith("/letter.pdf")
    notices = recorded.of(case_id, "send_notice")
    assert [n.notice_id for n in notices if n.notice_id.endswith("packet-ready")] == [
        f"{case_id}.{MANUAL}.packet-ready"
    ]

    by_channel = {h.hospital_id: (h.channel, h.recipients) for h in status.hospitals}
    assert by_channel == {
        WEBHOOK: ("webhook", [f"webhook:{WEBHOOK}"]),
        EMAIL: ("email", [DIRECTORY.get(EMAIL).contact_email]),
        MANUAL: ("manual", ["coordinator:coord-1"]),
    }
    # The webhook's receipt time is the channel's, not the workflow's.
    assert referral(status, WEBHOOK).delivered_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert referral(status, WEBHOOK).delivery_receipt.startswith("HTTP 200")
    assert referral(status, EMAIL).delivery_receipt.startswith(f"Message-ID <{mail.packet_id}@")
    entries = {e.detail.split(":")[0]: e for e in status.timeline
               if e.event == "referral_packet_delivered"}
    for hospital_id in (WEBHOOK, EMAIL, MANUAL):
        entry = entries[f"hospital {hospital_id}"]
        assert entry.packet_sha256 == referral(status, hospital_id).packet_sha256
        assert entry.recipients == referral(status, hospital_id).recipients
    status = await wait_for(
        handle, lambda s: all(h.state == ReferralState.AWAITING_RESPONSE for h in s.hospitals)
    )


async def test_consent_withdrawn_between_attempts_blocks_and_escalates(env, worker, recorded):
    input = case_input(hospitals=DIRECTORY.subset([WEBHOOK, EMAIL, MANUAL]).hospitals)
    key = (input.case_id, WEBHOOK)
    # The first attempt meets a down endpoint; the retry comes after the withdrawal.
    recorded.delivery_errors[key] = ["EndpointUnavailable"]
    recorded.delivery_retry_delay[key] = timedelta(seconds=2)
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([WEBHOOK]))
    await wait_for(
        handle, lambda s: recorded.of(input.case_id, "deliver_packet_webhook_failed") != []
    )
    await handle.execute_update(
        CaseWorkflow.withdraw_consent,
        WithdrawConsent(country="CN", hospital_id=WEBHOOK, purpose="referral"),
    )
    status = await wait_for(
        handle, lambda s: referral(s, WEBHOOK).state == ReferralState.DELIVERY_BLOCKED
    )
    assert recorded.sent(input.case_id) == []  # nothing was sent
    assert referral(status, WEBHOOK).delivered_at is None
    assert any(e.subject == f"consent {WEBHOOK}" and e.level == 2 for e in status.escalations)
    notices = [n.notice_id for n in recorded.of(input.case_id, "send_notice")]
    assert f"{input.case_id}.{WEBHOOK}.consent-blocked-1" in notices

    await handle.execute_update(
        CaseWorkflow.record_consent,
        RecordConsent(country="CN", hospital_id=WEBHOOK, purpose="referral"),
    )
    await wait_for(handle, delivered(WEBHOOK))
    assert len(recorded.sent(input.case_id)) == 1


async def test_gone_endpoint_falls_back_to_manual_and_escalates(env, worker, recorded):
    input = case_input(hospitals=DIRECTORY.subset([WEBHOOK, EMAIL, MANUAL]).hospitals)
    recorded.delivery_errors[(input.case_id, WEBHOOK)] = ["EndpointGone"]
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([WEBHOOK]))
    status = await wait_for(handle, delivered(WEBHOOK))
    hospital = referral(status, WEBHOOK)
    assert hospital.endpoint_disabled and hospital.channel == "manual"
    assert hospital.recipients == ["coordinator:coord-1"]
    assert recorded.sent(input.case_id) == []
    assert any(e.subject == f"endpoint {WEBHOOK}" and e.level == 2 for e in status.escalations)
    notices = [n.notice_id for n in recorded.of(input.case_id, "send_notice")]
    assert f"{input.case_id}.{WEBHOOK}.endpoint-{WEBHOOK}" in notices
    assert f"{input.case_id}.{WEBHOOK}.packet-ready" in notices
    assert any(e.event == "referral_endpoint_disabled" for e in status.timeline)


@pytest.mark.parametrize(
    ("errors", "decision"),
    [
        (["DeliveryRejected"], "retry"),
        (["LetterMissing"], "skip"),
        (["EndpointUnavailable", "EndpointUnavailable"], "retry"),  # retries used up
    ],
)
async def test_other_delivery_failures_are_failed_steps(env, worker, recorded, errors, decision):
    input = case_input(hospitals=DIRECTORY.subset([WEBHOOK, EMAIL, MANUAL]).hospitals)
    recorded.delivery_errors[(input.case_id, EMAIL)] = list(errors)
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([EMAIL]))
    step_id = f"referral-{EMAIL}-delivery"
    status = await wait_for(handle, lambda s: [f.step_id for f in s.failed_steps] == [step_id])
    assert status.failed_steps[0].error_type == errors[-1]
    assert referral(status, EMAIL).state == ReferralState.STEP_FAILED
    assert recorded.sent(input.case_id) == []
    if decision == "retry":
        await handle.execute_update(CaseWorkflow.retry_step, RetryStep(step_id=step_id))
        status = await wait_for(handle, delivered(EMAIL))
        assert referral(status, EMAIL).channel == "email"
        assert len(recorded.sent(input.case_id)) == 1
    else:
        await handle.execute_update(
            CaseWorkflow.skip_step, SkipStep(step_id=step_id, reason="phoned it through")
        )
        status = await wait_for(handle, delivered(EMAIL))
        assert referral(status, EMAIL).channel == "manual"
        assert recorded.sent(input.case_id) == []
        assert any(
            e.event == "step_skip_requested" and e.detail == f"{step_id}: phoned it through"
            for e in status.timeline
        )
    assert status.failed_steps == []


async def test_an_answer_recorded_before_the_packet_went_out_counts(env, worker, recorded):
    """The hospital answered (by phone) while its delivery step had failed: the answer is the
    referral's as soon as the step is skipped, and the coordinator's update does not wait."""
    input = case_input(hospitals=DIRECTORY.subset([WEBHOOK, EMAIL, MANUAL]).hospitals)
    recorded.delivery_errors[(input.case_id, EMAIL)] = ["DeliveryRejected"]
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([EMAIL]))
    step_id = f"referral-{EMAIL}-delivery"
    await wait_for(handle, lambda s: [f.step_id for f in s.failed_steps] == [step_id])
    await asyncio.wait_for(
        handle.execute_update(
            CaseWorkflow.record_hospital_response,
            HospitalResponse(hospital_id=EMAIL, decision="decline"),
        ),
        timeout=10,
    )
    await handle.execute_update(
        CaseWorkflow.skip_step, SkipStep(step_id=step_id, reason="phoned it through")
    )
    status = await wait_for(handle, lambda s: s.stage == CaseStage.NEXT_OPTION)
    assert any(e.event == "all_hospitals_declined" for e in status.timeline)
