"""The patient's e-mails from the case: one per stage change and one per records request, in the
patient's language, never for internal steps, never twice for one change (a retried send is
the same notice), and none for a patient without an address."""

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from caseflow.case_events import AddDocument, ReviewOutcome, SubmitReview
from caseflow.case_status import CaseStage
from caseflow.documents import DocumentKind
from workflows.case import CaseWorkflow
from workflows.referral import HospitalReferralWorkflow

from .cases import case_input, document, intake, start_case, wait_for, wait_for_stage
from .drive import drive_to, step


def _with_patient(email: str | None, language: str = "zh-CN"):
    base = intake()
    patient = base.patient.model_copy(update={"email": email, "preferred_language": language})
    return base.model_copy(update={"patient": patient})


async def _notices(recorded, handle, count: int) -> list:
    case_id = handle.id.removeprefix("case-")

    def enough(_status) -> bool:
        return len(recorded.of(case_id, "send_patient_notice")) >= count

    await wait_for(handle, enough)
    return recorded.of(case_id, "send_patient_notice")


async def test_a_stage_change_sends_one_notice_in_the_patients_language(env, worker, recorded):
    handle = await start_case(env, case_input(intake=_with_patient("p1@example.invalid")))
    case_id = handle.id.removeprefix("case-")
    # Leaving INTAKE (into RECORDS) is the first notice, with the first status link.
    [first] = await _notices(recorded, handle, 1)
    assert (first.reason, first.stage, first.language) == ("stage_changed", "RECORDS", "zh-CN")
    assert first.email == "p1@example.invalid"
    # Documents arriving are internal steps: no mail until the stage changes.
    await handle.execute_update(
        CaseWorkflow.add_document, AddDocument(ref=document(case_id, DocumentKind.BIOPSY_REPORT))
    )
    await step(env, handle, CaseStage.RECORDS)
    await wait_for_stage(handle, CaseStage.SPECIALIST_REVIEW)
    notices = await _notices(recorded, handle, 2)
    assert [(n.reason, n.stage) for n in notices] == [
        ("stage_changed", "RECORDS"),
        ("stage_changed", "SPECIALIST_REVIEW"),
    ]
    assert len({n.notice_id for n in notices}) == 2


async def test_need_more_records_sends_one_notice_naming_the_kinds(env, worker, recorded):
    handle = await start_case(env, case_input(intake=_with_patient("p2@example.invalid", "en")))
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(
        CaseWorkflow.submit_review,
        SubmitReview(
            outcome=ReviewOutcome.NEED_MORE_RECORDS,
            reviewer_id="dr-review",
            requested_kinds=[DocumentKind.BORON_PET, DocumentKind.IMAGING_CT],
            recommendation="a boron PET and a newer CT",
        ),
    )
    await wait_for_stage(handle, CaseStage.RECORDS)
    notices = await _notices(recorded, handle, 3)
    assert [n.reason for n in notices] == ["stage_changed", "stage_changed", "records_requested"]
    request = notices[-1]
    assert request.stage == "RECORDS"
    assert request.requested_kinds == [DocumentKind.BORON_PET, DocumentKind.IMAGING_CT]
    assert request.language == "en"
    # The history with the patched notices replays (committed ones, without them: test_replay).
    replayer = Replayer(
        workflows=[CaseWorkflow, HospitalReferralWorkflow], data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(await handle.fetch_history())


async def test_a_retried_send_is_one_notice(env, worker, recorded):
    input = case_input(intake=_with_patient("p3@example.invalid"))
    recorded.patient_mail_failures[input.case_id] = 2
    handle = await start_case(env, input)
    [sent] = await _notices(recorded, handle, 1)
    failed = recorded.of(input.case_id, "send_patient_notice_failed")
    # Two attempts failed, the third sent: the same notice (same id, same Message-ID) each time.
    assert [f.notice_id for f in failed] == [sent.notice_id, sent.notice_id]
    status = await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    assert not any(e.event == "patient_not_notified" for e in status.timeline)
    assert len(recorded.of(input.case_id, "send_patient_notice")) == 1


async def test_no_address_no_notice(env, worker, recorded):
    handle = await start_case(env, case_input(intake=_with_patient(None)))
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    assert recorded.of(handle.id.removeprefix("case-"), "send_patient_notice") == []
