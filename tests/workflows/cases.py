"""Builders for workflow tests: a fictional intake, documents and a started case."""

import asyncio
import hashlib
from datetime import UTC, date, datetime, timedelta

from temporalio.client import WorkflowHandle

from caseflow.case_status import CaseStage, CaseStatus
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id, document_id_for, document_key, new_case_id
from caseflow.intake import CaseIntake
from caseflow.sla import DEFAULT_SLAS
from workflows.case import CaseWorkflow
from workflows.case_state import CaseWorkflowInput
from workflows.generations import CURRENT_GENERATION
from workflows.sla_watch import StepRetry

from .conftest import TASK_QUEUE

HOSPITAL_IDS = ["cn-beijing-cancer", "in-chennai-proton"]
WORKUP_KINDS = [
    DocumentKind.BIOPSY_REPORT,
    DocumentKind.IMAGING_MRI,
    DocumentKind.RT_DOSE_PLAN,
    DocumentKind.RT_TREATMENT_SUMMARY,
    DocumentKind.PERFORMANCE_STATUS,
    DocumentKind.LABS,
]
RECORDS_SLA = DEFAULT_SLAS.for_wait("records_upload")


def intake(consent_purposes=("referral", "translation", "travel")) -> CaseIntake:
    granted = "2025-01-02T09:00:00Z"
    return CaseIntake.model_validate(
        {
            "patient": {
                "given_name": "Test",
                "family_name": "Patient",
                "date_of_birth": "1960-05-01",
                "sex": "female",
                "country_of_residence": "KE",
                "preferred_language": "en",
            },
            "clinical": {
                "primary_site": "head_and_neck",
                "histology": "squamous cell carcinoma",
                "recurrence_pattern": "local",
                "lesion_count": 1,
                "largest_lesion_cm": 2.5,
                "prior_rt_courses": [
                    {
                        "site": "oropharynx",
                        "technique": "IMRT",
                        "total_dose_gy": 70,
                        "fractions": 35,
                        "completed_on": "2023-03-01",
                        "oar_max_doses_gy": {"spinal_cord": 44},
                    }
                ],
                "ecog": 1,
            },
            "destinations": {"countries": ["CN", "IN"]},
            "consents": [
                {"country": country, "purpose": purpose, "granted_at": granted}
                for country in ("CN", "IN")
                for purpose in consent_purposes
            ],
            "coordinator_id": "coord-1",
        }
    )


def document(case_id: str, kind: DocumentKind, salt: str = "") -> DocumentRef:
    sha = hashlib.sha256(f"{case_id}{kind}{salt}".encode()).hexdigest()
    document_id = document_id_for(case_id, sha)
    return DocumentRef(
        document_id=document_id,
        case_id=case_id,
        kind=kind,
        key=document_key(case_id, document_id),
        sha256=sha,
        size=1234,
        content_type="application/pdf",
        original_filename=f"{kind.value}.pdf",
        uploaded_at=datetime(2025, 1, 3, tzinfo=UTC),
    )


def case_input(case_id: str | None = None, **changes) -> CaseWorkflowInput:
    directory = HospitalDirectory.load_default()
    values = {
        "case_id": case_id or new_case_id(),
        "intake": intake(),
        "hospitals": directory.subset(HOSPITAL_IDS).hospitals,
        # Activities fail fast in tests: two attempts, then the step escalates.
        "retry": StepRetry(
            maximum_attempts=2, initial_interval=timedelta(milliseconds=100), delivery_attempts=2
        ),
        # As the client starts cases: this code's patches without markers.
        "generation": CURRENT_GENERATION,
    }
    values.update(changes)
    return CaseWorkflowInput(**values)


async def start_case(env, input: CaseWorkflowInput | None = None) -> WorkflowHandle:
    input = input or case_input()
    return await env.client.start_workflow(
        CaseWorkflow.run,
        input,
        id=case_workflow_id(input.case_id),
        task_queue=TASK_QUEUE,
        static_summary=f"Case {input.case_id}",
    )


async def status(handle: WorkflowHandle) -> CaseStatus:
    return await handle.query(CaseWorkflow.status)


async def wait_for(handle: WorkflowHandle, check, timeout: float = 10.0) -> CaseStatus:
    """Poll the status query until `check(status)` holds (the workflow acts asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await status(handle)
        if check(current):
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached; stage {current.stage}, "
                                 f"timeline tail {[e.event for e in current.timeline[-5:]]}")
        await asyncio.sleep(0.05)


async def wait_for_stage(handle: WorkflowHandle, stage: CaseStage) -> CaseStatus:
    return await wait_for(handle, lambda s: s.stage == stage)


def case_id_of(handle: WorkflowHandle) -> str:
    return handle.id.removeprefix("case-")


async def virtual_today(env, handle: WorkflowHandle) -> date:
    return (await env.get_current_time(handle)).date()
