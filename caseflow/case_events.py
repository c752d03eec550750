"""The events a case accepts: one pydantic model per CaseWorkflow update or signal input.

Shape checks live here (the CLI validates the same JSON before sending); checks that need case
state (stage, known hospitals and documents) live in the workflow's update validators.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caseflow.consent import RECORDS_REVIEW
from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.free_text import MultiLineText, SingleLineText
from caseflow.hospitals import Hospital, Modality

_EVENT_CONFIG = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

HospitalId = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,60}$")]
PersonId = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,40}$")]
# Free text a person types (reasons, opinions). It stays in workflow state and packets only.
Note = Annotated[MultiLineText, Field(min_length=1, max_length=4000)]
# Who recorded a hospital's acknowledgement or answer, as the timeline names it: an identity such
# as "hospital:cn-xiamen-bnct (signed callback)", "hospital:<id> (reply link)" or "user:<login>".
AnsweredBy = Annotated[str, Field(pattern=r"^[a-z]+:[A-Za-z0-9@._-]{1,80}( \([a-z ]{1,30}\))?$")]
# The idempotency key of a hospital's reply (a callback's webhook-id, a reply form's nonce),
# hashed by the web service to an opaque id; a repeat of the same key changes nothing.
ReplyId = Annotated[str, Field(pattern=r"^[a-z]{1,12}-[0-9a-f]{32}$")]


class AddDocument(BaseModel):
    """A document already stored in S3 by the CLI, now added to the case."""

    model_config = _EVENT_CONFIG

    ref: DocumentRef


class AddPatientDocument(BaseModel):
    """A document a patient uploaded through the portal, stored and verified: it waits in
    quarantine until a coordinator accepts it onto the checklist or rejects it."""

    model_config = _EVENT_CONFIG

    ref: DocumentRef


class AcceptPatientDocument(BaseModel):
    """A coordinator accepts a quarantined document into the case; with `item_id`, onto that
    checklist item (the document takes the item's kind that suits its content)."""

    model_config = _EVENT_CONFIG

    document_id: str = Field(pattern=r"^d[a-z2-7]{26}$")
    item_id: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,60}$")
    accepted_by: PersonId | None = None


class RejectPatientDocument(BaseModel):
    """A coordinator rejects a quarantined document (wrong patient, unreadable, not records);
    the reason stays in workflow state."""

    model_config = _EVENT_CONFIG

    document_id: str = Field(pattern=r"^d[a-z2-7]{26}$")
    reason: Note
    rejected_by: PersonId | None = None


class WaiveRequirement(BaseModel):
    model_config = _EVENT_CONFIG

    item_id: SingleLineText = Field(min_length=1, max_length=80)
    reason: Note
    waived_by: PersonId | None = None


class ReviewOutcome(StrEnum):
    PROCEED = "proceed"
    NEED_MORE_RECORDS = "need_more_records"
    NOT_A_CANDIDATE = "not_a_candidate"


class SubmitReview(BaseModel):
    """The specialist's review. Triage is advisory: this is where a person decides."""

    model_config = _EVENT_CONFIG

    outcome: ReviewOutcome
    reviewer_id: PersonId
    modalities: list[Modality] = Field(default_factory=list, max_length=20)
    target_hospital_ids: list[HospitalId] = Field(default_factory=list, max_length=20)
    requested_kinds: list[DocumentKind] = Field(default_factory=list, max_length=30)
    recommendation: Note | None = None
    # What the referral letter and FHIR ServiceRequest say; None: derived from the intake
    # (site, histology, RT-free interval) and the modalities.
    reason: Note | None = None
    question: Note | None = None

    @model_validator(mode="after")
    def _fields_match_outcome(self) -> "SubmitReview":
        if self.outcome == ReviewOutcome.PROCEED and not self.target_hospital_ids:
            raise ValueError("target_hospital_ids: proceed needs at least one target hospital")
        if self.outcome == ReviewOutcome.NEED_MORE_RECORDS and not self.requested_kinds:
            raise ValueError("requested_kinds: need_more_records needs at least one kind")
        if len(set(self.target_hospital_ids)) != len(self.target_hospital_ids):
            raise ValueError("target_hospital_ids: a hospital is listed twice")
        return self


class HospitalDecision(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"
    NEEDS_MORE_INFORMATION = "needs_more_information"


class CostEstimate(BaseModel):
    model_config = _EVENT_CONFIG

    amount: float = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. USD, INR, CNY")


class HospitalResponse(BaseModel):
    """A hospital's answer to a referral [sources.md, "Referrals and packets"]."""

    model_config = _EVENT_CONFIG

    hospital_id: HospitalId
    decision: HospitalDecision
    opinion: Note | None = None
    proposed_treatment: Note | None = None
    cost_estimate: CostEstimate | None = None
    earliest_admission_date: date | None = None
    visa_invitation_possible: bool = False
    # Documents the hospital sent back (opinion, plan, estimate), already uploaded by the CLI.
    documents: list[DocumentRef] = Field(default_factory=list, max_length=50)
    # The hospitals' reply path (web service); None when a coordinator records it by hand.
    answered_by: AnsweredBy | None = None
    reply_id: ReplyId | None = None


class SelectHospital(BaseModel):
    model_config = _EVENT_CONFIG

    hospital_id: HospitalId


class TranslationReceived(BaseModel):
    """The vendor's translated documents, uploaded by the CLI, for the translation job."""

    model_config = _EVENT_CONFIG

    documents: list[DocumentRef] = Field(min_length=1, max_length=100)
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class SkipTranslation(BaseModel):
    """The coordinator goes on without a translation (no consent, or none needed), with why."""

    model_config = _EVENT_CONFIG

    reason: Note
    skipped_by: PersonId | None = None


class ChangeDestinations(BaseModel):
    """New destination countries after intake. The client adds the directory's hospitals in
    them (the workflow reads no files); referral consent must be in force for each country."""

    model_config = _EVENT_CONFIG

    countries: list[Literal["IN", "CN"]] = Field(min_length=1, max_length=2)
    reason: Note
    hospitals: list[Hospital] = Field(default_factory=list, max_length=200)

    @field_validator("countries")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class TravelEventKind(StrEnum):
    VISA_LETTER_REQUESTED = "visa_letter_requested"
    VISA_LETTER_RECEIVED = "visa_letter_received"
    VISA_GRANTED = "visa_granted"
    VISA_REFUSED = "visa_refused"
    FLIGHTS_BOOKED = "flights_booked"
    ARRIVED = "arrived"


class TravelEvent(BaseModel):
    model_config = _EVENT_CONFIG

    kind: TravelEventKind
    on: date
    # flights_booked may set the planned admission date agreed with the hospital.
    planned_admission_date: date | None = None
    document: DocumentRef | None = None  # e.g. the visa invitation letter

    @model_validator(mode="after")
    def _admission_only_with_flights(self) -> "TravelEvent":
        if (
            self.planned_admission_date is not None
            and self.kind != TravelEventKind.FLIGHTS_BOOKED
        ):
            raise ValueError("planned_admission_date: only flights_booked may set it")
        return self


class AdmissionRecorded(BaseModel):
    model_config = _EVENT_CONFIG

    admitted_on: date


class DischargeRecorded(BaseModel):
    model_config = _EVENT_CONFIG

    discharged_on: date
    summary: DocumentRef | None = None


class FollowUpRecorded(BaseModel):
    model_config = _EVENT_CONFIG

    day: int = Field(gt=0, description="the scheduled follow-up, in days after discharge")
    status: Literal["well", "recurrence", "toxicity", "deceased", "lost_to_follow_up"]
    note: Note | None = None
    document: DocumentRef | None = None


class Withdraw(BaseModel):
    model_config = _EVENT_CONFIG

    reason: Note
    erase: bool = False


class AssignCoordinator(BaseModel):
    model_config = _EVENT_CONFIG

    coordinator_id: PersonId
    # Who later letters and mails name (the client looks it up); None: the coordinator id only.
    contact: CoordinatorContact | None = None

    @model_validator(mode="after")
    def _contact_is_theirs(self) -> "AssignCoordinator":
        if self.contact is not None and self.contact.coordinator_id != self.coordinator_id:
            raise ValueError("contact: is another coordinator's")
        return self


class Hold(BaseModel):
    model_config = _EVENT_CONFIG

    reason: Note


class Resume(BaseModel):
    model_config = _EVENT_CONFIG

    note: Note | None = None


class RetryStep(BaseModel):
    """Run a failed step again; `step_id` is the one `status` lists under failed steps."""

    model_config = _EVENT_CONFIG

    step_id: SingleLineText = Field(min_length=1, max_length=200)


class SkipStep(BaseModel):
    model_config = _EVENT_CONFIG

    step_id: SingleLineText = Field(min_length=1, max_length=200)
    reason: Note


ConsentCountry = Literal["IN", "CN"]
ConsentPurposeName = Literal["referral", "translation", "travel"]
# What can be withdrawn: every ledger purpose, the records review included (caseflow.consent).
WithdrawablePurpose = Literal["records_review", "referral", "translation", "travel"]


class RecordConsent(BaseModel):
    """A consent the patient gave after intake, or gave again after withdrawing it
    [sources.md, "Consent and erasure"]. `hospital_id=None` covers every hospital in the country."""

    model_config = _EVENT_CONFIG

    country: ConsentCountry
    hospital_id: HospitalId | None = None
    purpose: ConsentPurposeName
    granted_at: datetime | None = None  # when the patient signed; None: when it is recorded
    recorded_by: PersonId | None = None
    # What the patient read (caseflow/consent_texts.py) and who gave it, when the portal records
    # it; None when a coordinator records a consent signed elsewhere (and in older histories).
    text_id: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    text_version: str | None = Field(default=None, pattern=r"^[0-9A-Za-z.-]{1,20}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    text_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    text: MultiLineText | None = Field(default=None, max_length=8000)
    given_by: Literal["patient", "representative"] | None = None

    @field_validator("granted_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError("granted_at: needs a time zone, e.g. 2025-01-01T09:00:00Z")
        return value


class WithdrawConsent(BaseModel):
    """The patient withdraws a consent. A withdrawn referral consent stops any delivery to the
    hospitals it covers that has not happened yet, retries included. The records review consent
    (the portal's inquiry) has no country: withdrawn, the case goes to no specialist review and
    its coordinator is told that erasure is their next step (DPDP s.8(7))."""

    model_config = _EVENT_CONFIG

    # None exactly for records_review, as in the ledger (caseflow.consent.ConsentEvent).
    country: ConsentCountry | None = None
    hospital_id: HospitalId | None = None
    purpose: WithdrawablePurpose
    recorded_by: PersonId | None = None

    @model_validator(mode="after")
    def _country_unless_review(self) -> "WithdrawConsent":
        if (self.country is None) != (self.purpose == RECORDS_REVIEW):
            raise ValueError("country: needed for every purpose but records_review")
        if self.purpose == RECORDS_REVIEW and self.hospital_id is not None:
            raise ValueError("hospital_id: the records review consent names no hospital")
        return self


class AcceptInquiry(BaseModel):
    """A coordinator takes on a case that started from a patient's inquiry (INTAKE -> RECORDS);
    the case becomes theirs."""

    model_config = _EVENT_CONFIG

    coordinator_id: PersonId
    contact: CoordinatorContact | None = None

    @model_validator(mode="after")
    def _contact_is_theirs(self) -> "AcceptInquiry":
        if self.contact is not None and self.contact.coordinator_id != self.coordinator_id:
            raise ValueError("contact: is another coordinator's")
        return self


class DeclineInquiry(BaseModel):
    """A coordinator declines an inquiry: the case closes and the patient is told by e-mail, in
    their language, with this reason."""

    model_config = _EVENT_CONFIG

    reason: Note
    declined_by: PersonId


class HospitalAcknowledgement(BaseModel):
    """The hospital confirms it received the referral packet (not yet an answer)."""

    model_config = _EVENT_CONFIG

    hospital_id: HospitalId
    # The hospital's own reference for the referral (a ticket number), if it gave one.
    reference: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._/-]{1,80}$")
    # As on HospitalResponse: who recorded it, and the reply's idempotency key.
    answered_by: AnsweredBy | None = None
    reply_id: ReplyId | None = None


# Signals between a case and its referral children (not for the CLI).
class ReferralStepDecision(BaseModel):
    """The parent forwards retry_step/skip_step for a child's failed step."""

    model_config = _EVENT_CONFIG

    step_id: str
    action: Literal["retry", "skip"]
    decided_at: datetime
