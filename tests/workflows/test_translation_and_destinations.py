"""Issue 12: the translation is decided from the languages and validated against the selected
hospital; a missing translation consent escalates like any blocked wait; destination countries
change after intake, with consent checks."""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from caseflow.case_events import (
    ChangeDestinations,
    HospitalResponse,
    RecordConsent,
    SelectHospital,
    SkipTranslation,
    TranslationReceived,
)
from caseflow.case_status import CaseStage, ReferralState
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from caseflow.intake import CaseIntake
from caseflow.sla import DEFAULT_SLAS, SlaStep, WaitKind
from workflows.case import CaseWorkflow

from .cases import (
    HOSPITAL_IDS,
    case_id_of,
    case_input,
    document,
    intake,
    start_case,
    wait_for,
    wait_for_stage,
)
from .drive import SELECTED, accept, drive_to, proceed_review

CHENNAI = HOSPITAL_IDS[1]  # works in English, like the test patient
MARGIN = timedelta(minutes=1)


def reason_of(error: pytest.ExceptionInfo) -> str:
    return error.value.cause.message


async def select(env, handle, hospital_id: str) -> None:
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(handle, lambda s: all(h.state == ReferralState.AWAITING_RESPONSE
                                         for h in s.hospitals))
    await accept(env, handle, hospital_id)
    other = next(h for h in HOSPITAL_IDS if h != hospital_id)
    await handle.execute_update(CaseWorkflow.record_hospital_response,
                                HospitalResponse(hospital_id=other, decision="decline"))
    await handle.execute_update(CaseWorkflow.select_hospital,
                                SelectHospital(hospital_id=hospital_id))


def events(status) -> list[tuple[str, str]]:
    return [(e.event, e.detail) for e in status.timeline]


async def test_no_translation_when_the_hospital_works_in_the_patients_language(
    env, worker, recorded
):
    handle = await start_case(env)
    await select(env, handle, CHENNAI)
    status = await wait_for_stage(handle, CaseStage.TRAVEL)
    assert ("translation_not_needed",
            f"not needed: the patient's language en is the working language of hospital "
            f"{CHENNAI}") in events(status)
    assert recorded.of(case_id_of(handle), "send_translation_job") == []
    assert status.open_deadlines == [] or all(
        d.wait != WaitKind.TRANSLATION for d in status.open_deadlines)


async def test_a_translation_is_needed_and_its_language_must_suit_the_hospital(
    env, worker, recorded
):
    handle = await start_case(env)
    await select(env, handle, SELECTED)
    status = await wait_for(handle, lambda s: any(e.event == "translation_job_sent"
                                                  for e in s.timeline))
    assert ("translation_needed", f"into zh-CN: the patient's language en is not the working "
            f"language of hospital {SELECTED}") in events(status)
    (job,) = recorded.of(case_id_of(handle), "send_translation_job")
    assert job.target_language == "zh-CN"
    translated = [document(case_id_of(handle), DocumentKind.TRANSLATION)]
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.record_translation,
                                    TranslationReceived(documents=translated, language="ta"))
    assert reason_of(refused) == (
        f"language: language ta is not one that hospital {SELECTED} reads (zh-CN, en)"
    )
    await handle.execute_update(CaseWorkflow.record_translation,
                                TranslationReceived(documents=translated, language="zh-CN"))
    await wait_for_stage(handle, CaseStage.TRAVEL)


async def test_a_missing_translation_consent_escalates_until_the_patient_grants_it(
    env, worker, recorded
):
    handle = await start_case(env, case_input(intake=intake(("referral", "travel"))))
    case_id = case_id_of(handle)
    await select(env, handle, SELECTED)
    status = await wait_for(handle, lambda s: any(
        d.wait == WaitKind.TRANSLATION_CONSENT for d in s.open_deadlines))
    policy = DEFAULT_SLAS.for_wait(WaitKind.TRANSLATION_CONSENT)
    await env.fast_forward(handle, policy.escalate_supervisor_after + MARGIN)
    status = await wait_for(handle, lambda s: len(
        [e for e in s.escalations if e.wait == WaitKind.TRANSLATION_CONSENT]) == 3)
    notices = [n for n in recorded.of(case_id, "send_notice")
               if n.waits_for == WaitKind.TRANSLATION_CONSENT]
    assert [n.step for n in notices] == [SlaStep.REMIND, SlaStep.ESCALATE_COORDINATOR,
                                         SlaStep.ESCALATE_SUPERVISOR]
    assert notices[0].reason.startswith(f"no translation consent for hospital {SELECTED}")
    assert notices[0].wait_subject == SELECTED and notices[2].audience[-1] == "supervisor"
    assert recorded.of(case_id, "send_translation_job") == []

    await handle.execute_update(CaseWorkflow.record_consent,
                                RecordConsent(country="CN", purpose="translation"))
    await wait_for(handle, lambda s: any(e.event == "translation_job_sent" for e in s.timeline))
    status = await handle.query(CaseWorkflow.status)
    assert all(d.wait != WaitKind.TRANSLATION_CONSENT for d in status.open_deadlines)


async def test_the_coordinator_skips_a_translation_with_a_reason(env, worker, recorded):
    handle = await start_case(env, case_input(intake=intake(("referral", "travel"))))
    await select(env, handle, SELECTED)
    await wait_for(handle, lambda s: any(
        d.wait == WaitKind.TRANSLATION_CONSENT for d in s.open_deadlines))
    skip = SkipTranslation(reason="the hospital reads the English records", skipped_by="coord-1")
    ack = await handle.execute_update(CaseWorkflow.skip_translation, skip)
    assert ack.detail == "translation skipped"
    status = await wait_for_stage(handle, CaseStage.TRAVEL)
    assert ("translation_skipped", "the hospital reads the English records") in events(status)
    assert recorded.of(case_id_of(handle), "send_translation_job") == []
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.record_translation, TranslationReceived(
            documents=[document(case_id_of(handle), DocumentKind.TRANSLATION)],
            language="zh-CN"))
    assert "case is in TRAVEL" in reason_of(refused)


def india_only() -> CaseIntake:
    data = intake().model_dump(mode="json")
    data["destinations"] = {"countries": ["IN"]}
    data["consents"] = [c for c in data["consents"] if c["country"] == "IN"]
    return CaseIntake.model_validate(data)


async def test_destinations_change_after_intake_with_consent(env, worker):
    directory = HospitalDirectory.load_default()
    handle = await start_case(env, case_input(
        intake=india_only(), hospitals=directory.subset([CHENNAI]).hospitals))
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    case_id = case_id_of(handle)

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.submit_review, proceed_review([SELECTED]))
    assert reason_of(refused) == (
        f"target_hospital_ids: hospital '{SELECTED}' is outside the case's destination "
        f"countries (IN; hospitals {CHENNAI}); to add a country, caseflow case destinations "
        f"{case_id} --countries IN,CN --reason ..."
    )
    change = ChangeDestinations(countries=["IN", "CN"], reason="patient asks about BNCT",
                                hospitals=directory.in_country("CN"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.change_destinations, change)
    assert reason_of(refused) == (
        "countries: no referral consent for CN is in force; record the patient's consent for "
        "it first (caseflow case consent record)"
    )
    stray = change.model_copy(update={
        "countries": ["CN"], "hospitals": [*change.hospitals, directory.get(CHENNAI)]})
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.change_destinations, stray)
    assert reason_of(refused) == f"hospitals: {CHENNAI} are not in CN"

    await handle.execute_update(CaseWorkflow.record_consent,
                                RecordConsent(country="CN", purpose="referral"))
    ack = await handle.execute_update(CaseWorkflow.change_destinations, change)
    assert ack.detail.startswith("destinations IN,CN; ")
    again = await handle.execute_update(CaseWorkflow.change_destinations, change)
    assert again.detail == "already recorded: destinations IN,CN"
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([SELECTED]))
    status = await wait_for_stage(handle, CaseStage.HOSPITAL_SUBMISSION)
    assert [h.hospital_id for h in status.hospitals] == [SELECTED]
    assert any(e.event == "destinations_changed" and e.detail.startswith("IN to IN,CN")
               for e in status.timeline)
