"""Drives a test case to a given stage through the same updates the CLI sends."""

from datetime import timedelta

from temporalio.client import WorkflowHandle

from caseflow.case_events import (
    AddDocument,
    AdmissionRecorded,
    DischargeRecorded,
    HospitalResponse,
    SelectHospital,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
)
from caseflow.case_status import CaseStage, ReferralState
from caseflow.documents import DocumentKind
from workflows.case import CaseWorkflow

from .cases import (
    HOSPITAL_IDS,
    WORKUP_KINDS,
    case_id_of,
    document,
    virtual_today,
    wait_for,
    wait_for_stage,
)

SELECTED = HOSPITAL_IDS[0]
ORDER = [
    CaseStage.RECORDS,
    CaseStage.SPECIALIST_REVIEW,
    CaseStage.HOSPITAL_SUBMISSION,
    CaseStage.TRANSLATION,
    CaseStage.TRAVEL,
    CaseStage.ADMISSION,
    CaseStage.FOLLOW_UP,
]


def proceed_review(targets=tuple(HOSPITAL_IDS)) -> SubmitReview:
    return SubmitReview(
        outcome="proceed",
        reviewer_id="dr-review",
        modalities=["sbrt"],
        target_hospital_ids=list(targets),
        recommendation="SBRT re-irradiation or BNCT",
    )


async def accept(env, handle, hospital_id: str = SELECTED) -> None:
    today = await virtual_today(env, handle)
    await handle.execute_update(
        CaseWorkflow.record_hospital_response,
        HospitalResponse(
            hospital_id=hospital_id,
            decision="accept",
            opinion="suitable for SBRT",
            cost_estimate={"amount": 12000, "currency": "USD"},
            earliest_admission_date=today + timedelta(days=30),
            visa_invitation_possible=True,
        ),
    )


async def step(env, handle: WorkflowHandle, stage: CaseStage) -> None:
    """Perform what `stage` waits for, so the case moves to the next stage."""
    case_id = case_id_of(handle)
    today = await virtual_today(env, handle)
    if stage == CaseStage.RECORDS:
        for kind in WORKUP_KINDS:
            await handle.execute_update(
                CaseWorkflow.add_document, AddDocument(ref=document(case_id, kind))
            )
    elif stage == CaseStage.SPECIALIST_REVIEW:
        await handle.execute_update(CaseWorkflow.submit_review, proceed_review())
    elif stage == CaseStage.HOSPITAL_SUBMISSION:
        await wait_for(
            handle,
            lambda s: all(
                h.state
                in (ReferralState.AWAITING_RESPONSE, ReferralState.NEEDS_MORE_INFORMATION)
                for h in s.hospitals
            ),
        )
        await accept(env, handle)
        await handle.execute_update(
            CaseWorkflow.record_hospital_response,
            HospitalResponse(hospital_id=HOSPITAL_IDS[1], decision="decline"),
        )
        await handle.execute_update(
            CaseWorkflow.select_hospital, SelectHospital(hospital_id=SELECTED)
        )
    elif stage == CaseStage.TRANSLATION:
        await handle.execute_update(
            CaseWorkflow.record_translation,
            TranslationReceived(
                documents=[document(case_id, DocumentKind.TRANSLATION)], language="zh-CN"
            ),
        )
    elif stage == CaseStage.TRAVEL:
        for travel in ("visa_letter_received", "visa_granted", "flights_booked", "arrived"):
            await handle.execute_update(
                CaseWorkflow.record_travel, TravelEvent(kind=travel, on=today)
            )
    elif stage == CaseStage.ADMISSION:
        await handle.execute_update(
            CaseWorkflow.record_admission, AdmissionRecorded(admitted_on=today)
        )
        await handle.execute_update(
            CaseWorkflow.record_discharge, DischargeRecorded(discharged_on=today)
        )


async def drive_to(env, handle: WorkflowHandle, target: CaseStage) -> None:
    await wait_for_stage(handle, CaseStage.RECORDS)
    for stage in ORDER[: ORDER.index(target)]:
        await step(env, handle, stage)
        await wait_for_stage(handle, ORDER[ORDER.index(stage) + 1])
