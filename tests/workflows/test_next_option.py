"""No silent end (issue 15): after "not a candidate" or every hospital declining, the case waits
for the coordinator's next option; trials go out as referrals and an eligible answer leads on."""

from datetime import timedelta
from importlib import resources

import pytest
from temporalio.client import WorkflowUpdateFailedError

from caseflow.case_events import HospitalResponse, SelectHospital, SubmitReview
from caseflow.case_status import CaseOutcome, CaseStage, ReferralState
from caseflow.trial_matching import match_case, profile_from_intake
from caseflow.trial_referrals import ChooseNextOption, ReferToTrials, referral_target
from caseflow.trial_registry import reader_for
from workflows.case import CaseWorkflow

from .cases import case_id_of, intake, start_case, virtual_today, wait_for, wait_for_stage
from .drive import drive_to


def fixture_studies():
    raw = resources.files("caseflow").joinpath("fictional_trials.json").read_bytes()
    return {s.study_id: s for s in reader_for("clinicaltrials.gov").read(raw, "fixture")}


async def not_a_candidate(env, handle):
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(
        CaseWorkflow.submit_review,
        SubmitReview(outcome="not_a_candidate", reviewer_id="dr-review",
                     recommendation="cord at tolerance; no further photon RT"),
    )
    return await wait_for_stage(handle, CaseStage.NEXT_OPTION)


async def test_not_a_candidate_waits_for_the_next_option_then_closes_with_its_reason(
    env, worker, recorded
):
    handle = await start_case(env)
    status = await not_a_candidate(env, handle)
    assert status.next_option_why == "not a candidate for re-irradiation"
    assert any(d.wait == "next_option" for d in status.open_deadlines)
    # The wait runs under its SLA: the coordinator hears of it after 48 h.
    await env.fast_forward(handle, timedelta(hours=49))
    await wait_for(handle, lambda s: any(e.event == "sla_remind" for e in s.timeline))
    await handle.execute_update(
        CaseWorkflow.choose_next_option,
        ChooseNextOption(option="close", reason="patient chose palliative care at home",
                         chosen_by="coord-1"),
    )
    result = await handle.result()
    assert result.outcome == CaseOutcome.NOT_A_CANDIDATE
    final = await handle.query(CaseWorkflow.status)
    assert final.closed_reason == "patient chose palliative care at home"
    chosen = [e for e in final.timeline if e.event == "next_option_chosen"]
    assert chosen and chosen[0].detail.startswith("close: patient chose")
    assert chosen[0].actor == "coord-1"


async def test_not_a_candidate_to_trial_referral_and_an_eligible_answer_to_travel(
    env, worker, recorded
):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await not_a_candidate(env, handle)
    studies = fixture_studies()
    today = await virtual_today(env, handle)
    matches = match_case(profile_from_intake(intake(), today), list(studies.values()))
    assert matches[0].study_id == "NCT09990001"
    target = referral_target(studies["NCT09990001"], ["CN", "IN"])
    site_id = target.site.hospital_id
    assert site_id == "trial-nct09990001-0"
    assert target.site.contact_email == "bnct-trials@bnct-xiamen.example.invalid"
    ack = await handle.execute_update(
        CaseWorkflow.refer_to_trials, ReferToTrials(targets=[target], referred_by="coord-1")
    )
    assert "NCT09990001" in ack.detail
    status = await wait_for(
        handle,
        lambda s: s.stage == CaseStage.TRIAL_SCREENING
        and any(h.hospital_id == site_id and h.state == ReferralState.AWAITING_RESPONSE
                for h in s.hospitals),
    )
    assert [t.study_id for t in status.trials] == ["NCT09990001"]
    # The same packet machinery as a hospital: a letter asking about this study, by e-mail.
    packet = recorded.of(case_id, "render_referral_packet")[-1]
    assert packet.hospital.hospital_id == site_id
    assert "NCT09990001" in packet.reason and "screening" in packet.question
    sent = recorded.of(case_id, "deliver_packet_email")
    assert sent and sent[-1].to == "bnct-trials@bnct-xiamen.example.invalid"
    # The trial team's SLA runs beside the hospitals'.
    assert any(d.hospital_id == site_id for d in status.open_deadlines)
    await handle.execute_update(
        CaseWorkflow.record_hospital_response,
        HospitalResponse(hospital_id=site_id, decision="accept",
                         opinion="eligible for screening visit",
                         earliest_admission_date=today + timedelta(days=20)),
    )
    await handle.execute_update(CaseWorkflow.select_hospital, SelectHospital(hospital_id=site_id))
    status = await wait_for_stage(handle, CaseStage.TRAVEL)
    assert status.selected_hospital_id == site_id
    assert status.travel is not None and status.travel.visa_needed
    entered = [e.detail for e in status.timeline if e.event == "stage_entered"]
    assert entered[-1] == f"TRAVEL trial NCT09990001 at {site_id}"


async def test_every_trial_team_declining_returns_to_the_next_option(env, worker, recorded):
    handle = await start_case(env)
    await not_a_candidate(env, handle)
    studies = fixture_studies()
    targets = [referral_target(studies[s], ["CN", "IN"]) for s in ("NCT09990001", "NCT09990003")]
    await handle.execute_update(
        CaseWorkflow.choose_next_option,
        ChooseNextOption(option="trials", reason="matched studies in CN and IN"),
    )
    await wait_for_stage(handle, CaseStage.TRIAL_SCREENING)
    await handle.execute_update(CaseWorkflow.refer_to_trials, ReferToTrials(targets=targets))
    await wait_for(handle, lambda s: len([h for h in s.hospitals
                                          if h.state == ReferralState.AWAITING_RESPONSE]) == 2)
    for target in targets:
        await handle.execute_update(
            CaseWorkflow.record_hospital_response,
            HospitalResponse(hospital_id=target.site.hospital_id, decision="decline"),
        )
    status = await wait_for_stage(handle, CaseStage.NEXT_OPTION)
    assert status.next_option_why == "every trial team declined"
    # The same studies are not referred twice; closing now says so in words.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.refer_to_trials,
                                    ReferToTrials(targets=targets[:1]))
    assert "already referred" in str(refused.value.cause)
    await handle.execute_update(
        CaseWorkflow.choose_next_option,
        ChooseNextOption(option="close", reason="no trial accepted the patient"),
    )
    result = await handle.result()
    assert result.outcome == CaseOutcome.NO_FURTHER_OPTION


async def test_every_hospital_declining_offers_a_new_review_round_keeping_the_answers(
    env, worker
):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals))
    for hospital in ("cn-beijing-cancer", "in-chennai-proton"):
        await handle.execute_update(
            CaseWorkflow.record_hospital_response,
            HospitalResponse(hospital_id=hospital, decision="decline"),
        )
    status = await wait_for_stage(handle, CaseStage.NEXT_OPTION)
    assert status.next_option_why == "every hospital declined"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.submit_review,
                                    SubmitReview(outcome="not_a_candidate", reviewer_id="dr-r"))
    assert "NEXT_OPTION" in str(refused.value.cause)
    await handle.execute_update(
        CaseWorkflow.choose_next_option,
        ChooseNextOption(option="hospitals", reason="ask Chennai again with new imaging"),
    )
    status = await wait_for_stage(handle, CaseStage.SPECIALIST_REVIEW)
    assert {h.hospital_id: h.state for h in status.hospitals} == {
        "cn-beijing-cancer": ReferralState.DECLINED, "in-chennai-proton": ReferralState.DECLINED,
    }
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(
            CaseWorkflow.choose_next_option, ChooseNextOption(option="close", reason="x"))
    assert "SPECIALIST_REVIEW" in str(twice.value.cause)


async def test_a_trial_site_without_consent_for_its_country_is_refused(env, worker):
    from .cases import case_input

    only_cn = intake().model_copy(update={"consents": [
        c for c in intake().consents if c.country == "CN"]})
    handle = await start_case(env, case_input(intake=only_cn))
    await not_a_candidate(env, handle)
    target = referral_target(fixture_studies()["NCT09990003"], ["CN", "IN"])
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.refer_to_trials,
                                    ReferToTrials(targets=[target]))
    assert "no referral consent for IN" in str(refused.value.cause)
    status = await handle.query(CaseWorkflow.status)
    assert status.stage == CaseStage.NEXT_OPTION and not status.trials
