"""What HospitalReferralWorkflow takes and says: its input, its reports to the case, and its
signals' arguments. Plain models, passed through the sandbox as case_state.py is, so a new
referral run does not build their validators again (issue 14: worker CPU)."""

from pydantic import BaseModel, ConfigDict

from caseflow.case_events import SubmitReview
from caseflow.case_status import Escalation, FailedStep, HospitalReferralStatus, TriageFlagEntry
from caseflow.consent import ConsentLedger
from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentRef
from caseflow.hospitals import Hospital
from caseflow.intake import CaseIntake
from caseflow.sla import SlaDefaults
from workflows.sla_watch import StepRetry


class ReferralInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str
    parent_workflow_id: str
    hospital: Hospital
    intake: CaseIntake
    documents: list[DocumentRef]
    triage_flags: list[TriageFlagEntry]
    review: SubmitReview
    coordinator_id: str
    # Who the letter and mail name (the case's snapshot); the case signals reassignments.
    coordinator_contact: CoordinatorContact | None = None
    slas: SlaDefaults
    retry: StepRetry = StepRetry()
    on_hold: bool = False
    letter_language: str = "en"
    # The case's consent ledger when the referral started; the case signals every change.
    # None (referrals started before the ledger existed): the intake's grants.
    consent: ConsentLedger | None = None
    # Where the letter renders (the case's letters_task_queue); None: this workflow's queue.
    letters_task_queue: str | None = None
    # The case's code generation (workflows/generations.py); None: workflow.patched decides.
    generation: int | None = None


class ReferralProgress(BaseModel):
    """What the child tells the case: its status plus the event that changed it."""

    model_config = ConfigDict(extra="forbid")

    status: HospitalReferralStatus
    event: str
    detail: str = ""
    escalation: Escalation | None = None
    failed_step: FailedStep | None = None
    cleared_step_id: str | None = None


class ReferralReports(BaseModel):
    """Every report a referral made since its last signal, oldest first."""

    model_config = ConfigDict(extra="forbid")

    reports: list[ReferralProgress]


class HoldChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_hold: bool
