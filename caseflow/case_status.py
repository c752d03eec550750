"""What a case looks like from outside: its stage, outcome and the `status` query's result.

Read models only. The workflow fills them from its state; the CLI prints them. They carry the
domain's own words (stage, checklist item, hospital id) and leave clinical detail in the intake.
"""

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow.case_events import HospitalResponse, ReviewOutcome
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.sla import WaitKind
from caseflow.triage import Phrase

_VIEW_CONFIG = ConfigDict(extra="forbid")


class CaseStage(StrEnum):
    INTAKE = "INTAKE"
    RECORDS = "RECORDS"
    SPECIALIST_REVIEW = "SPECIALIST_REVIEW"
    HOSPITAL_SUBMISSION = "HOSPITAL_SUBMISSION"
    # Issue 15: the first option failed (not a candidate, or every hospital declined); the
    # coordinator chooses trials, other hospitals, or closing with a reason.
    NEXT_OPTION = "NEXT_OPTION"
    # Issue 15: referrals to trial sites, waiting for the trial teams' answers.
    TRIAL_SCREENING = "TRIAL_SCREENING"
    TRANSLATION = "TRANSLATION"
    TRAVEL = "TRAVEL"
    ADMISSION = "ADMISSION"
    FOLLOW_UP = "FOLLOW_UP"
    CLOSED = "CLOSED"


class CaseOutcome(StrEnum):
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    NOT_A_CANDIDATE = "not_a_candidate"
    # A patient's inquiry a coordinator declined in INTAKE (issue 10).
    DECLINED = "declined"
    # Issue 15: closed by the coordinator after every hospital or trial team declined.
    NO_FURTHER_OPTION = "no_further_option"


class TimelineEntry(BaseModel):
    """One thing that happened to the case. `event` is a stable code; `detail` is short text
    without patient data (ids, kinds, levels), safe to print in a queue view."""

    model_config = _VIEW_CONFIG

    at: datetime
    stage: CaseStage
    event: str
    detail: str = ""
    actor: str | None = None
    # A packet's stored identity and who it went to (packet_stored, packet_delivered).
    packet_id: str | None = None
    packet_sha256: str | None = None
    recipients: list[str] = Field(default_factory=list)


class ReferralState(StrEnum):
    # Tracked separately, as [Medplum referrals] asks (docs/sources.md): delivered, acknowledged,
    # accepted/declined and outcome are different facts.
    PREPARING = "preparing"
    PACKET_STORED = "packet_stored"
    # No referral consent in force: nothing is sent until it is recorded again.
    DELIVERY_BLOCKED = "delivery_blocked"
    DELIVERED = "delivered"
    AWAITING_RESPONSE = "awaiting_response"
    NEEDS_MORE_INFORMATION = "needs_more_information"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    STEP_FAILED = "step_failed"
    CANCELLED = "cancelled"
    SELECTED = "selected"
    NOT_SELECTED = "not_selected"


class Deadline(BaseModel):
    """An open wait with its SLA. `paused_for` accumulates time spent on hold, which the SLA
    clock does not count."""

    model_config = _VIEW_CONFIG

    deadline_id: str
    wait: WaitKind
    subject: str = ""  # e.g. a hospital id or "day-30"; never patient data
    started_at: datetime
    paused_for: timedelta = timedelta(0)
    held_since: datetime | None = None
    steps_fired: int = 0  # the escalation level: 0 none, 1 reminded, 2 coordinator, 3 supervisor
    next_step: str | None = None
    due_at: datetime | None = None
    # Set on a referral child's waits (acknowledgement, answer, a failed step of its own).
    hospital_id: str | None = None

    @property
    def waits_for(self) -> str:
        """What the wait is for, in a few safe words: the wait kind, and the hospital, travel
        step, follow-up day or step it concerns (e.g. `hospital_response:cn-xiamen-bnct`).
        The `SlaWaitsFor` search attribute shows this for the earliest wait."""
        if self.hospital_id is not None:
            return f"{self.wait.value}:{self.hospital_id}"
        if self.wait in _SUBJECT_IS_THE_WAIT or not self.subject:
            return self.wait.value
        return f"{self.wait.value}:{self.subject}"


# Waits of the case's own whose subject only repeats the stage ("records", "review", ...).
_SUBJECT_IS_THE_WAIT = frozenset(
    {
        WaitKind.RECORDS_UPLOAD,
        WaitKind.SPECIALIST_REVIEW,
        WaitKind.TRANSLATION,
        WaitKind.ADMISSION,
        WaitKind.DISCHARGE,
    }
)


def next_due(deadlines: Iterable[Deadline]) -> Deadline | None:
    """The open wait whose next SLA step falls due first (None when none has a due time, e.g.
    everything on hold); the first listed wins a tie."""
    due = [d for d in deadlines if d.due_at is not None]
    return min(due, key=lambda d: d.due_at or datetime.max) if due else None


class HospitalReferralStatus(BaseModel):
    model_config = _VIEW_CONFIG

    hospital_id: str
    workflow_id: str
    state: ReferralState = ReferralState.PREPARING
    packet_id: str | None = None
    packet_prefix: str | None = None  # cases/<case_id>/packets/<packet_id>/
    packet_sha256: str | None = None  # of the packet's manifest.json, as stored
    channel: str = "manual"
    # Set when the hospital's webhook answered 410: delivery fell back to manual.
    endpoint_disabled: bool = False
    recipients: list[str] = Field(default_factory=list)  # endpoint, address or coordinator
    # Delivery, acknowledgement and answer are separate facts, each with its time and SLA.
    delivered_at: datetime | None = None  # the channel's receipt time
    delivery_receipt: str | None = None  # e.g. "HTTP 200" or the mail's Message-ID
    acknowledged_at: datetime | None = None
    acknowledgement_reference: str | None = None
    responded_at: datetime | None = None
    response: HospitalResponse | None = None
    escalation_level: int = 0
    failed_step_id: str | None = None
    # The referral's SLA waits still open (acknowledgement, answer), as the child reports them.
    open_deadlines: list[Deadline] = Field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.state in {
            ReferralState.ACCEPTED,
            ReferralState.DECLINED,
            ReferralState.CANCELLED,
            ReferralState.SELECTED,
            ReferralState.NOT_SELECTED,
        }


class Escalation(BaseModel):
    model_config = _VIEW_CONFIG

    at: datetime
    deadline_id: str
    wait: WaitKind
    subject: str = ""
    step: str  # remind | escalate_coordinator | escalate_supervisor
    level: int = Field(ge=1, le=3)
    notice_id: str
    notified: bool = True


class ChecklistEntry(BaseModel):
    model_config = _VIEW_CONFIG

    item_id: str
    title: str
    accepts: list[DocumentKind]
    reason: str
    source: str
    satisfied_by: list[str] = Field(default_factory=list)
    waived_reason: str | None = None
    missing: bool


class TriageFlagEntry(BaseModel):
    model_config = _VIEW_CONFIG

    code: str
    level: str
    message: str
    source: str
    # The message as the letter's catalogue knows it (cases opened before this have none: their
    # letters show `message` in each language the catalogue has it in).
    phrases: list[Phrase] = Field(default_factory=list)


class FailedStep(BaseModel):
    """An activity that used up its retries; the case waits for retry_step or skip_step."""

    model_config = _VIEW_CONFIG

    step_id: str
    activity: str
    failed_at: datetime
    error_type: str | None = None
    attempts: int = 0
    hospital_id: str | None = None  # set when the step belongs to a referral child


class TravelProgress(BaseModel):
    model_config = _VIEW_CONFIG

    visa_needed: bool = True
    visa_letter_requested_on: date | None = None
    visa_letter_received_on: date | None = None
    visa_granted_on: date | None = None
    visa_refused_on: date | None = None
    flights_booked_on: date | None = None
    arrived_on: date | None = None
    planned_admission_date: date | None = None


class FollowUpState(BaseModel):
    model_config = _VIEW_CONFIG

    day: int
    due_on: date
    status: Literal["scheduled", "due", "recorded"] = "scheduled"
    recorded_status: str | None = None


class TrialReferralView(BaseModel):
    """A trial site the case was referred to: the study it stands for (issue 15)."""

    model_config = _VIEW_CONFIG

    site_id: str
    registry: str
    study_id: str
    title: str


class CaseStatus(BaseModel):
    """The `status` query's answer."""

    model_config = _VIEW_CONFIG

    case_id: str
    workflow_id: str
    pathway: str
    stage: CaseStage
    stage_entered_at: datetime
    time_in_stage: timedelta
    outcome: CaseOutcome | None = None
    coordinator_id: str
    on_hold: bool = False
    hold_reason: str | None = None
    # Why the case was withdrawn (set from the withdraw request on).
    withdrawal_reason: str | None = None
    checklist: list[ChecklistEntry]
    missing_items: list[str]
    triage_flags: list[TriageFlagEntry]
    triage_note: str = (
        "Triage is advisory: a qualified oncologist at the receiving hospital decides."
    )
    documents: list[DocumentRef]
    # Patient uploads waiting for a coordinator to accept or reject them (not on the checklist).
    quarantined: list[DocumentRef] = Field(default_factory=list)
    review_outcome: ReviewOutcome | None = None
    target_hospital_ids: list[str] = Field(default_factory=list)
    hospitals: list[HospitalReferralStatus]
    selected_hospital_id: str | None = None
    travel: TravelProgress | None = None
    admitted_on: date | None = None
    discharged_on: date | None = None
    follow_ups: list[FollowUpState] = Field(default_factory=list)
    # The case's own waits and those of every referral still open, each hospital's labelled.
    open_deadlines: list[Deadline]
    escalations: list[Escalation]
    escalation_level: int = 0
    failed_steps: list[FailedStep]
    timeline: list[TimelineEntry]
    run_count: int = 1  # how many runs (continue-as-new) the case has had
    # Issue 15: why the case waits in NEXT_OPTION, why a closed case closed (in words), and the
    # studies its trial sites stand for (by site id, as in `hospitals`).
    next_option_why: str | None = None
    closed_reason: str | None = None
    trials: list[TrialReferralView] = Field(default_factory=list)


class CaseProgress(BaseModel):
    """The `progress` query's answer: what a poller waits for (the stage, and what the script's
    and the demo's waits test), a few hundred bytes instead of the whole CaseStatus. Hospitals are
    named by id, as in `CaseStatus.hospitals`; read `status` once for their details."""

    model_config = _VIEW_CONFIG

    stage: CaseStage
    outcome: CaseOutcome | None = None
    on_hold: bool = False
    escalation_level: int = 0
    missing_items: list[str] = Field(default_factory=list)  # checklist item ids
    packets_stored: list[str] = Field(default_factory=list)  # hospitals whose packet is stored
    delivered: list[str] = Field(default_factory=list)  # hospitals whose channel took it
    answered: list[str] = Field(default_factory=list)  # hospitals that answered
    travel_started: bool = False
    follow_ups_due: list[int] = Field(default_factory=list)  # days due, not yet recorded
    follow_ups_open: list[int] = Field(default_factory=list)  # days scheduled or due
    failed_steps: list[str] = Field(default_factory=list)  # step ids waiting for retry/skip


class EventAck(BaseModel):
    """What every accepted update returns: where the case stands after it."""

    model_config = _VIEW_CONFIG

    case_id: str
    stage: CaseStage
    detail: str = ""
    # True when the event's reply id was already recorded: nothing changed this time.
    replayed: bool = False
    # True when `stage` is the stage after the case's run acted on the event in the same workflow
    # task; False from cases started before that (issue 14), whose client asks `progress`.
    settled: bool = False


class CaseResult(BaseModel):
    """The CaseWorkflow's result when the case closes."""

    model_config = _VIEW_CONFIG

    case_id: str
    outcome: CaseOutcome
    closed_at: datetime
    documents_erased: bool = False
