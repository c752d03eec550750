"""Validators reject events for the wrong stage, or naming an unknown hospital, document,
checklist item or step, with a one-line reason and nothing recorded."""

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from caseflow.case_events import (
    AddDocument,
    AdmissionRecorded,
    AssignCoordinator,
    FollowUpRecorded,
    HospitalResponse,
    Resume,
    RetryStep,
    SelectHospital,
    SkipStep,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    WaiveRequirement,
)
from caseflow.case_status import CaseStage
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id
from workflows.case import CaseWorkflow

from .cases import case_id_of, document, start_case, wait_for
from .drive import SELECTED, drive_to, proceed_review

OTHER_CASE = new_case_id()


def _rejections():
    """(stage, update, argument builder, words the one-line reason must contain)."""
    return [
        (CaseStage.RECORDS, "submit_review", lambda c: proceed_review(), "case is in RECORDS"),
        (
            CaseStage.RECORDS,
            "add_document",
            lambda c: AddDocument(ref=document(OTHER_CASE, DocumentKind.LABS)),
            "belongs to another case",
        ),
        (
            CaseStage.RECORDS,
            "waive_requirement",
            lambda c: WaiveRequirement(item_id="no_such_item", reason="lost"),
            "unknown checklist item",
        ),
        (
            CaseStage.SPECIALIST_REVIEW,
            "waive_requirement",
            lambda c: WaiveRequirement(item_id="biopsy", reason="lost"),
            "case is in SPECIALIST_REVIEW",
        ),
        (
            CaseStage.SPECIALIST_REVIEW,
            "submit_review",
            lambda c: proceed_review(["xx-unknown"]),
            "hospital 'xx-unknown' is outside the case's destination countries",
        ),
        (
            CaseStage.SPECIALIST_REVIEW,
            "submit_review",
            lambda c: SubmitReview(
                outcome="proceed",
                reviewer_id="dr",
                modalities=["lu_psma"],
                target_hospital_ids=[SELECTED],
            ),
            "offers none of the proposed modalities",
        ),
        (
            CaseStage.HOSPITAL_SUBMISSION,
            "record_hospital_response",
            lambda c: HospitalResponse(hospital_id="cn-xiamen-bnct", decision="accept"),
            "no open referral to hospital cn-xiamen-bnct",
        ),
        (
            CaseStage.HOSPITAL_SUBMISSION,
            "select_hospital",
            lambda c: SelectHospital(hospital_id=SELECTED),
            "has not accepted",
        ),
        (
            CaseStage.HOSPITAL_SUBMISSION,
            "record_translation",
            lambda c: TranslationReceived(
                documents=[document(c, DocumentKind.TRANSLATION)], language="zh-CN"
            ),
            "case is in HOSPITAL_SUBMISSION",
        ),
        (
            CaseStage.TRAVEL,
            "record_travel",
            lambda c: TravelEvent(kind="arrived", on="2020-01-01"),
            "arrived before flights were booked",
        ),
        (
            CaseStage.TRAVEL,
            "record_travel",
            lambda c: TravelEvent(kind="visa_granted", on="2020-01-01"),
            "before the visa letter was received",
        ),
        (
            CaseStage.TRAVEL,
            "record_travel",
            lambda c: TravelEvent(kind="visa_letter_received", on="2999-01-01"),
            "is in the future",
        ),
        (
            CaseStage.ADMISSION,
            "record_discharge",
            lambda c: {"discharged_on": "2020-01-01"},
            "admission is not recorded yet",
        ),
        (
            CaseStage.ADMISSION,
            "record_follow_up",
            lambda c: FollowUpRecorded(day=14, status="well"),
            "case is in ADMISSION",
        ),
        (
            CaseStage.FOLLOW_UP,
            "record_follow_up",
            lambda c: FollowUpRecorded(day=15, status="well"),
            "no follow-up on day 15",
        ),
        (
            CaseStage.FOLLOW_UP,
            "record_follow_up",
            lambda c: FollowUpRecorded(day=30, status="well"),
            "is not due until",
        ),
        (
            CaseStage.FOLLOW_UP,
            "record_admission",
            lambda c: AdmissionRecorded(admitted_on="2020-01-01"),
            "case is in FOLLOW_UP",
        ),
        (CaseStage.RECORDS, "resume", lambda c: Resume(), "not on hold"),
        (
            CaseStage.RECORDS,
            "assign_coordinator",
            lambda c: AssignCoordinator(coordinator_id="coord-1"),
            "already the coordinator",
        ),
        (CaseStage.RECORDS, "retry_step", lambda c: RetryStep(step_id="nope"), "not a failed step"),
        (
            CaseStage.RECORDS,
            "skip_step",
            lambda c: SkipStep(step_id="nope", reason="x"),
            "not a failed step",
        ),
    ]


# Cases per stage are shared across the parametrized rejections: rejections change nothing.
_cases: dict[CaseStage, WorkflowHandle] = {}


@pytest.mark.parametrize(
    ("stage", "update", "build", "reason"),
    _rejections(),
    ids=[f"{r[0].value}-{r[1]}-{i}" for i, r in enumerate(_rejections())],
)
async def test_wrong_events_are_rejected_with_a_reason(env, worker, stage, update, build, reason):
    handle = _cases.get(stage)
    if handle is None:
        handle = await start_case(env)
        await drive_to(env, handle, stage)
        if stage == CaseStage.TRAVEL:
            # The stage asks for the visa letter right after it is entered: let that settle.
            await wait_for(
                handle, lambda s: any(e.event == "visa_letter_requested" for e in s.timeline)
            )
        _cases[stage] = handle
    before = await handle.query(CaseWorkflow.status)
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(update, build(case_id_of(handle)))
    message = str(raised.value.cause)
    assert reason in message
    assert "\n" not in message
    assert "Test" not in message and "Patient" not in message  # no patient name leaks
    after = await handle.query(CaseWorkflow.status)
    # Nothing was recorded (children report asynchronously, so their news is left out).
    assert _own(after.timeline) == _own(before.timeline)
    assert after.stage == stage


def _own(timeline):
    return [e for e in timeline if not e.event.startswith("referral_")]
