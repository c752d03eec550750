"""CaseWorkflow's input and its whole state, which continue-as-new carries to the next run."""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from caseflow.case_events import (
        AcceptInquiry,
        DeclineInquiry,
        SkipTranslation,
        SubmitReview,
        TranslationReceived,
        Withdraw,
    )
    from caseflow.case_status import (
        CaseOutcome,
        CaseStage,
        Deadline,
        Escalation,
        FailedStep,
        FollowUpState,
        HospitalReferralStatus,
        TimelineEntry,
        TravelProgress,
        TriageFlagEntry,
    )
    from caseflow.checklist import RecordsChecklist
    from caseflow.consent import ConsentEvent, ConsentLedger
    from caseflow.contacts import CoordinatorContact
    from caseflow.documents import DocumentRef
    from caseflow.hospitals import Hospital
    from caseflow.intake import CaseIntake
    from caseflow.sla import DEFAULT_SLAS, SlaDefaults
    from caseflow.trial_referrals import ChooseNextOption, TrialReferralTarget
    from workflows.sla_watch import StepAction, StepRetry

DEFAULT_FOLLOW_UP_DAYS = [14, 30, 90, 180, 365]


class CaseState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: CaseStage = CaseStage.INTAKE
    stage_entered_at: datetime
    stage_seq: int = 0
    outcome: CaseOutcome | None = None
    closed_at: datetime | None = None
    coordinator_id: str
    # Who letters and mails name for the coordinator; None in state from before contacts.
    coordinator_contact: CoordinatorContact | None = None
    on_hold: bool = False
    hold_reason: str | None = None
    checklist: RecordsChecklist
    # Grants and withdrawals since intake; None only in state carried from before the ledger.
    consent: ConsentLedger | None = None
    triage_flags: list[TriageFlagEntry] = Field(default_factory=list)
    documents: dict[str, DocumentRef] = Field(default_factory=dict)
    # Patient uploads from the portal awaiting a coordinator's decision, and those rejected (by
    # document id, with the reason); accepted ones move to `documents`.
    quarantined: dict[str, DocumentRef] = Field(default_factory=dict)
    rejected_documents: dict[str, str] = Field(default_factory=dict)
    pending_review: SubmitReview | None = None
    review: SubmitReview | None = None
    referrals: dict[str, HospitalReferralStatus] = Field(default_factory=dict)
    selected_hospital_id: str | None = None
    translation_job_id: str | None = None
    translation_job_sent: bool = False
    translation: TranslationReceived | None = None
    travel: TravelProgress | None = None
    admitted_on: date | None = None
    discharged_on: date | None = None
    follow_ups: list[FollowUpState] = Field(default_factory=list)
    deadlines: dict[str, Deadline] = Field(default_factory=dict)
    escalations: list[Escalation] = Field(default_factory=list)
    failed_steps: dict[str, FailedStep] = Field(default_factory=dict)
    step_decisions: dict[str, StepAction] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    withdrawal: Withdraw | None = None
    documents_erased: bool = False
    run_count: int = 1
    # Hospitals' replies already recorded, by reply id (what the ack said), so a repeat after
    # continue-as-new is still answered "already recorded" rather than rejected.
    reply_ids: dict[str, str] = Field(default_factory=dict)
    # A case from a patient's inquiry (issue 10): the coordinator's decision in INTAKE, and
    # whether the patient has been told of a decline.
    inquiry_accepted: AcceptInquiry | None = None
    inquiry_declined: DeclineInquiry | None = None
    decline_mail_sent: bool = False
    # Issue 12: the translation decided from the languages (noted once), a coordinator's
    # decision to go on without one, and destinations changed after intake (None: the
    # intake's countries and `CaseWorkflowInput.hospitals`).
    translation_decided: bool = False
    translation_skipped: SkipTranslation | None = None
    destination_countries: list[str] | None = None
    hospitals: list[Hospital] | None = None
    # Issue 15: why the case waits for the next option, the coordinator's choice, the trial
    # sites referred to (by site id), trial targets not yet started, and a close's reason.
    next_option_why: str | None = None
    next_option: ChooseNextOption | None = None
    trial_targets: dict[str, TrialReferralTarget] = Field(default_factory=dict)
    trial_pending: list[str] = Field(default_factory=list)
    closed_reason: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _translation_job_sent_from_timeline(cls, data: Any) -> Any:
        # State carried from runs before the field existed: the timeline recorded the send.
        if isinstance(data, dict) and "translation_job_sent" not in data:
            job_id = data.get("translation_job_id")
            data = dict(data)
            data["translation_job_sent"] = job_id is not None and any(
                _field(e, "event") == "translation_job_sent" and job_id in _field(e, "detail")
                for e in data.get("timeline", [])
            )
        return data


def _field(entry: Any, name: str) -> Any:
    return entry.get(name, "") if isinstance(entry, dict) else getattr(entry, name)


class CaseWorkflowInput(BaseModel):
    """How a case starts (the CLI builds it) and how it continues as new (with `carried`)."""

    model_config = ConfigDict(extra="forbid")

    case_id: str
    intake: CaseIntake
    # A snapshot of the directory entries the case may use; the workflow never reads files.
    hospitals: list[Hospital] = Field(min_length=1)
    slas: SlaDefaults = DEFAULT_SLAS
    follow_up_days: list[int] = Field(default_factory=lambda: list(DEFAULT_FOLLOW_UP_DAYS))
    retry: StepRetry = StepRetry()
    # Testing and operations: continue as new once history reaches this many events, in
    # addition to whenever Temporal suggests it.
    continue_as_new_after_events: int | None = Field(default=None, ge=100)
    # The intake coordinator's contact, snapshot by the client at start (the workflow reads no
    # directory); None: letters name the coordinator id only. The state carries later changes.
    coordinator_contact: CoordinatorContact | None = None
    # Started by a confirmed portal inquiry (workflows/inquiry.py): the case waits in INTAKE for
    # a coordinator to accept or decline it. False: a coordinator started it, straight to
    # RECORDS, as every case before the portal.
    from_inquiry: bool = False
    # The ledger's first events with the texts the patient read; None: the intake's grants.
    consent_events: list[ConsentEvent] | None = None
    # The task queue the referral letters render on (render workers, settings.letters_queue());
    # None (cases started before the render pool): the case's own queue.
    letters_task_queue: str | None = None
    # The code generation that started the case (workflows/generations.py): it takes that
    # generation's patches without markers. None (cases started before): workflow.patched.
    generation: int | None = None
    carried: CaseState | None = None

    @model_validator(mode="after")
    def _contact_of_the_coordinator(self) -> "CaseWorkflowInput":
        contact = self.coordinator_contact
        if contact is not None and contact.coordinator_id != self.intake.coordinator_id:
            raise ValueError("coordinator_contact: is not the intake coordinator's")
        return self

    @field_validator("follow_up_days")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(day <= 0 for day in value) or value != sorted(set(value)):
            raise ValueError("follow_up_days: positive, increasing, no repeats")
        return value
