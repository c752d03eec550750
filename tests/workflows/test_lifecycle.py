"""The case lifecycle on a time-skipping server: every stage, a year of follow-up, branches."""

from datetime import UTC, datetime, time, timedelta

from caseflow import search_attributes as sa
from caseflow.case_events import FollowUpRecorded, HospitalResponse, SubmitReview
from caseflow.case_status import CaseOutcome, CaseStage, ReferralState
from caseflow.documents import DocumentKind
from caseflow.trial_referrals import ChooseNextOption
from workflows.case import CaseWorkflow

from .cases import case_id_of, start_case, wait_for, wait_for_stage
from .drive import ORDER, drive_to, proceed_review, step


async def test_every_stage_through_a_year_of_follow_up(env, worker, recorded):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await drive_to(env, handle, CaseStage.FOLLOW_UP)

    status = await wait_for(handle, lambda s: len(s.follow_ups) == 5)
    assert [f.day for f in status.follow_ups] == [14, 30, 90, 180, 365]
    discharged = status.discharged_on
    assert discharged is not None
    for follow_up in status.follow_ups:
        # Each follow-up timer fires at midnight UTC of its day after discharge, not before.
        due_at = datetime.combine(follow_up.due_on, time(), UTC)
        assert follow_up.due_on == discharged + timedelta(days=follow_up.day)
        now = await env.get_current_time(handle)
        await env.fast_forward(handle, due_at - now - timedelta(hours=1))
        current = await wait_for(handle, lambda s: s.stage == CaseStage.FOLLOW_UP)
        due = next(f for f in current.follow_ups if f.day == follow_up.day)
        assert due.status == "scheduled", f"day {follow_up.day} fired early"
        await env.fast_forward(handle, timedelta(hours=2))
        await wait_for(
            handle,
            lambda s, day=follow_up.day: next(f for f in s.follow_ups if f.day == day).status
            == "due",
        )
        await handle.execute_update(
            CaseWorkflow.record_follow_up, FollowUpRecorded(day=follow_up.day, status="well")
        )

    result = await handle.result()
    assert result.outcome == CaseOutcome.COMPLETED
    final = await handle.query(CaseWorkflow.status)
    entered = [e.detail.split()[0] for e in final.timeline if e.event == "stage_entered"]
    assert entered == [s.value for s in ORDER] + ["CLOSED"]
    assert final.selected_hospital_id == "cn-beijing-cancer"
    by_id = {h.hospital_id: h for h in final.hospitals}
    assert by_id["cn-beijing-cancer"].state == ReferralState.SELECTED
    assert by_id["in-chennai-proton"].state == ReferralState.NOT_SELECTED
    assert (await env.get_current_time(handle)).date() >= discharged + timedelta(days=365)

    # Side effects: one packet per hospital, one translation job, packet-ready notices.
    packets = recorded.of(case_id, "render_referral_packet")
    assert sorted(p.hospital.hospital_id for p in packets) == sorted(by_id)
    assert all(p.written_on for p in packets)
    assert len(recorded.of(case_id, "send_translation_job")) == 1
    notices = [n.reason for n in recorded.of(case_id, "send_notice")]
    assert any("visa invitation letter" in reason for reason in notices)
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.CASE_STAGE) == "CLOSED"
    assert described.typed_search_attributes.get(sa.HOSPITALS) == [
        "cn-beijing-cancer",
        "in-chennai-proton",
    ]


async def test_need_more_records_returns_to_records_with_the_kinds(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(
        CaseWorkflow.submit_review,
        SubmitReview(
            outcome="need_more_records",
            reviewer_id="dr-review",
            requested_kinds=[DocumentKind.BORON_PET],
            recommendation="BNCT centre asks for a boron PET",
        ),
    )
    status = await wait_for_stage(handle, CaseStage.RECORDS)
    assert status.missing_items == ["boron_pet"]


async def test_not_a_candidate_closes_the_case_only_when_the_coordinator_says_why(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(
        CaseWorkflow.submit_review,
        SubmitReview(outcome="not_a_candidate", reviewer_id="dr-review"),
    )
    # No silent end (issue 15): the next option waits for the coordinator.
    await wait_for_stage(handle, CaseStage.NEXT_OPTION)
    await handle.execute_update(
        CaseWorkflow.choose_next_option,
        ChooseNextOption(option="close", reason="the patient declined further treatment"),
    )
    result = await handle.result()
    assert result.outcome == CaseOutcome.NOT_A_CANDIDATE


async def test_all_hospitals_declining_leads_to_a_new_review_round_when_chosen(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals))
    for hospital in ("cn-beijing-cancer", "in-chennai-proton"):
        await handle.execute_update(
            CaseWorkflow.record_hospital_response,
            HospitalResponse(hospital_id=hospital, decision="decline"),
        )
    await wait_for_stage(handle, CaseStage.NEXT_OPTION)
    await handle.execute_update(
        CaseWorkflow.choose_next_option,
        ChooseNextOption(option="hospitals", reason="a new review round"),
    )
    status = await wait_for_stage(handle, CaseStage.SPECIALIST_REVIEW)
    assert any(e.event == "all_hospitals_declined" for e in status.timeline)
    # A new review can target again.
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review(["cn-beijing-cancer"]))
    await wait_for_stage(handle, CaseStage.HOSPITAL_SUBMISSION)


async def test_needs_more_information_keeps_the_referral_open(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals))
    await handle.execute_update(
        CaseWorkflow.record_hospital_response,
        HospitalResponse(hospital_id="cn-beijing-cancer", decision="needs_more_information"),
    )
    status = await wait_for(
        handle, lambda s: s.hospitals[0].state == ReferralState.NEEDS_MORE_INFORMATION
    )
    response = status.hospitals[0].response
    assert response is not None and response.decision == "needs_more_information"
    await step(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for_stage(handle, CaseStage.TRANSLATION)
