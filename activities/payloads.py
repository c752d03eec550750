"""Every activity's input and result, and the call options workflows schedule them with.

Pure models with no I/O imports (no boto3, httpx, Jinja2 or WeasyPrint), so workflows and clients
can import them without loading what the activities need, as the samples' `shared.py` does.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.common import RetryPolicy

from caseflow.case_status import TriageFlagEntry
from caseflow.consent import ConsentLedger, ConsentPurpose
from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.hospitals import Hospital
from caseflow.ids import CaseId
from caseflow.intake import CaseIntake, ConsentGrant, DestinationCountry, HospitalIdRef
from caseflow.sla import SlaStep, WaitKind

_FROZEN = ConfigDict(extra="forbid", frozen=True)
_PACKET_ID = r"^[a-z0-9-]{8,64}$"
# Keys and reasons end up in mail headers: keep them to safe characters and one line.
_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,200}$"

# --- Consent ------------------------------------------------------------------------------------

# The case workflow's query that delivery activities ask for the live consent ledger.
CONSENT_LEDGER_QUERY = "consent_ledger"


class DeliveryConsent(BaseModel):
    """Which consent a delivery needs, the ledger as the workflow saw it, and where to ask for
    the live one."""

    model_config = _FROZEN

    country: DestinationCountry
    hospital_id: HospitalIdRef
    purpose: ConsentPurpose = "referral"
    ledger: ConsentLedger
    # The workflow answering the `consent_ledger` query (the case workflow, `case-<case_id>`).
    # None: only the snapshot is checked (acceptable when the worker has no client, e.g. tests).
    ledger_workflow_id: str | None = None


# --- Documents (activities/documents.py) -------------------------------------------------------


class StoreDocumentInput(BaseModel):
    case_id: CaseId
    kind: DocumentKind
    # A path readable where the store runs (the CLI's machine, or the worker's).
    path: str
    # Kept in the DocumentRef only; defaults to the path's last component.
    original_filename: str | None = None


class DocumentCheck(BaseModel):
    document_id: str
    size: int
    sha256: str
    s3_checksum: str
    version_id: str | None


class PresignDocumentInput(BaseModel):
    ref: DocumentRef
    expires_in: timedelta = timedelta(hours=24)


class PresignedUrl(BaseModel):
    url: str
    expires_at: datetime


class EraseCaseDocumentsInput(BaseModel):
    case_id: CaseId


class CaseErasure(BaseModel):
    case_id: str
    versions_deleted: int
    delete_markers_deleted: int
    uploads_aborted: int


# --- Letters and packets (activities/letters.py) ------------------------------------------------


class ReferralPacketRequest(BaseModel):
    """Everything the letter says. Holds PHI: it travels only in (encoded) activity payloads."""

    model_config = _FROZEN

    packet_id: str = Field(pattern=_PACKET_ID)
    case_id: str
    hospital: Hospital
    intake: CaseIntake
    documents: list[DocumentRef]
    triage_flags: list[TriageFlagEntry]
    modalities: list[str] = Field(default_factory=list)
    recommendation: str | None = None
    reviewer_id: str | None = None
    coordinator_id: str
    # Who the letter names as the hospital's contact; None: the coordinator id only.
    coordinator_contact: CoordinatorContact | None = None
    language: str = "en"
    written_on: date  # the workflow's date, so a re-render is byte-identical
    # Why the case is referred and what the hospital is asked (the letter and the FHIR
    # ServiceRequest). None: caseflow's words from the intake and modalities, in the letter's
    # languages (activities/letter_words.py).
    reason: str | None = Field(default=None, max_length=4000)
    question: str | None = Field(default=None, max_length=4000)
    created_at: datetime | None = None  # workflow.now(); None: midnight UTC of written_on
    # The grants in force for this hospital (the case's consent ledger); None: the intake's.
    consents: list[ConsentGrant] | None = None

    def created(self) -> datetime:
        return self.created_at or datetime.combine(self.written_on, datetime.min.time(), UTC)


class TranslationPacketRequest(BaseModel):
    model_config = _FROZEN

    packet_id: str = Field(pattern=_PACKET_ID)
    case_id: str
    target_language: str
    documents: list[DocumentRef] = Field(min_length=1)


class PacketDocument(BaseModel):
    model_config = _FROZEN

    document_id: str
    kind: str
    size: int
    sha256: str
    content_type: str
    url: str


class StoredPacket(BaseModel):
    model_config = _FROZEN

    packet_id: str
    prefix: str
    letter_key: str | None
    manifest_key: str
    manifest_url: str
    documents: list[PacketDocument]
    links_expire_at: datetime
    created: bool  # False when a retry found the packet already stored
    # Referral packets only (None for translation packets and packets stored before them).
    sha256: str | None = None  # of manifest.json: the packet's identity in the timeline
    letter_pdf_key: str | None = None
    letter_pdf_sha256: str | None = None
    bundle_key: str | None = None
    bundle_sha256: str | None = None
    letter_url: str | None = None  # presigned letter.pdf
    bundle_url: str | None = None  # presigned bundle.json
    reply_url: str | None = None  # the hospital's reply link (None without a reply_link_secret)


def packet_prefix(case_id: str, packet_id: str) -> str:
    return f"cases/{case_id}/packets/{packet_id}/"


# --- Mail to people (activities/notifications.py) -----------------------------------------------


class Notice(BaseModel):
    """A notice to the coordinator or, at level 3, also the supervisor: the reason, and for an
    SLA step which step it is, what the case waits for, since when and when it was due. The
    SLA fields default to None so notices that are not SLA steps (and old payloads) decode."""

    model_config = _FROZEN

    notice_id: str = Field(pattern=_KEY_PATTERN)
    case_id: str
    coordinator_id: str
    reason: str = Field(min_length=1, max_length=300, pattern=r"^[^\r\n]+$")
    audience: list[Literal["coordinator", "supervisor"]] = Field(min_length=1)
    step: SlaStep | None = None
    waits_for: WaitKind | None = None
    # What the wait concerns (a hospital id, a travel step, "day-30"): never patient data.
    wait_subject: str = Field(default="", max_length=120, pattern=r"^[^\r\n]*$")
    waiting_since: datetime | None = None
    due_at: datetime | None = None


class NoticeReceipt(BaseModel):
    model_config = _FROZEN

    message_id: str
    recipients: list[str]


class TranslationDocument(BaseModel):
    model_config = _FROZEN

    document_id: str
    kind: str
    size: int
    sha256: str
    url: str  # presigned GET


class TranslationJob(BaseModel):
    """The job the vendor receives: which documents, into which language, for which case."""

    model_config = _FROZEN

    job_id: str = Field(pattern=_KEY_PATTERN)
    case_id: str
    target_language: str
    documents: list[TranslationDocument] = Field(min_length=1)
    manifest_url: str | None = None
    links_expire_at: datetime | None = None


# --- Packet delivery (activities/webhook_delivery.py, activities/email_delivery.py) ------------


class PacketLink(BaseModel):
    model_config = _FROZEN

    document_id: str
    kind: str
    size: int
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: str
    url: str


class PacketNotice(BaseModel):
    """The thin payload: opaque ids, kinds, hashes and presigned links; no patient data."""

    model_config = _FROZEN

    packet_id: str = Field(pattern=_PACKET_ID)
    case_id: str
    hospital_id: str
    created_at: datetime
    manifest_url: str
    manifest_sha256: str | None = None
    letter_url: str | None = None
    bundle_url: str | None = None
    links_expire_at: datetime
    documents: list[PacketLink]
    # Where the hospital acknowledges and answers; a signed link for people.
    reply_url: str | None = None
    # The coordinator to write to (staff data, not PHI): the mail's Reply-To and signature.
    contact: CoordinatorContact | None = None
    # The letter's language: the mail to a Chinese hospital is in Chinese and English.
    language: str = "en"


class WebhookDeliveryRequest(BaseModel):
    model_config = _FROZEN

    packet_id: str = Field(pattern=_PACKET_ID)
    endpoint_id: str = Field(pattern=r"^[a-z0-9-]{1,60}$")  # key into the secrets; hospital id
    url: str = Field(pattern=r"^https?://\S+$")
    event_type: Literal["referral.packet"] = "referral.packet"
    notice: PacketNotice
    consent: DeliveryConsent

    @model_validator(mode="after")
    def _consistent(self) -> WebhookDeliveryRequest:
        if self.notice.packet_id != self.packet_id:
            raise ValueError("notice.packet_id: differs from packet_id")
        if self.consent.hospital_id != self.notice.hospital_id:
            raise ValueError("consent.hospital_id: differs from notice.hospital_id")
        return self

    def body(self) -> bytes:
        """The same bytes on every attempt (the envelope's timestamp is the packet's)."""
        envelope = {
            "type": self.event_type,
            "timestamp": self.notice.created_at.isoformat(),
            "data": self.notice.model_dump(mode="json"),
        }
        return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


class WebhookReceipt(BaseModel):
    model_config = _FROZEN

    packet_id: str
    endpoint_id: str
    status_code: int
    attempt: int
    sent_at: datetime


class EmailDeliveryRequest(BaseModel):
    model_config = _FROZEN

    packet_id: str = Field(pattern=_PACKET_ID)
    to: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    notice: PacketNotice
    letter_key: str  # the stored letter.pdf of this packet, attached as sent
    consent: DeliveryConsent
    # What the subject names (no patient data): the case's pathway and, once the hospital has
    # acknowledged with one, its own reference for the referral.
    pathway: str = "recurrent_after_rt"
    hospital_reference: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._/-]{1,80}$")

    @model_validator(mode="after")
    def _consistent(self) -> EmailDeliveryRequest:
        if self.notice.packet_id != self.packet_id:
            raise ValueError("notice.packet_id: differs from packet_id")
        if self.consent.hospital_id != self.notice.hospital_id:
            raise ValueError("consent.hospital_id: differs from notice.hospital_id")
        if not self.letter_key.startswith(f"cases/{self.notice.case_id}/"):
            raise ValueError("letter_key: not under this case's prefix")
        return self


class EmailReceipt(BaseModel):
    model_config = _FROZEN

    packet_id: str
    message_id: str
    to: str
    attempt: int
    letter_sha256: str


# Errors after which another attempt cannot help; the workflow escalates on each.
WEBHOOK_NON_RETRYABLE_ERRORS = [
    "ConsentMissing",
    "EndpointGone",
    "DeliveryRejected",
    "EndpointNotConfigured",
]
# The server's backoff has no jitter, so the activity supplies a jittered next_retry_delay on
# every retryable failure (or the endpoint's Retry-After); these intervals apply only when the
# attempt ends without one (a worker crash, a start-to-close timeout).
WEBHOOK_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=10),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
    maximum_attempts=15,  # about a day of attempts with the activity's backoff
    non_retryable_error_types=WEBHOOK_NON_RETRYABLE_ERRORS,
)
WEBHOOK_START_TO_CLOSE = timedelta(seconds=60)  # must exceed the HTTP timeout

EMAIL_NON_RETRYABLE_ERRORS = ["ConsentMissing", "DeliveryRejected", "LetterMissing"]
EMAIL_RETRY_POLICY = RetryPolicy(
    initial_interval=timedelta(seconds=30),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(hours=1),
    maximum_attempts=12,
    non_retryable_error_types=EMAIL_NON_RETRYABLE_ERRORS,
)
EMAIL_START_TO_CLOSE = timedelta(minutes=2)


# --- Erasure notices (activities/erasure_notices.py; sent by the client, not a workflow) --------


class ErasureNotice(BaseModel):
    model_config = _FROZEN

    case_id: str
    packet_id: str = Field(pattern=_PACKET_ID)
    hospital: Hospital
    erased_at: datetime
    # Whom the hospital confirms the deletion to; None: the referring coordinator, unnamed.
    contact: CoordinatorContact | None = None


class NoticeSent(BaseModel):
    hospital_id: str
    packet_id: str
    channel: Literal["email", "webhook"]
    receipt: str  # the Message-ID, or the HTTP status


class PatientNotice(BaseModel):
    """A mail to the patient, in their language: the case moved to a stage, the specialist asked
    for more records, or a coordinator (or the patient) asked for a fresh status link. Carries
    the address (an encrypted payload, like the intake), never into an id or a log."""

    model_config = _FROZEN

    # The workflow's idempotency key: the Message-ID, so a resend is the same message.
    notice_id: str = Field(pattern=_KEY_PATTERN)
    case_id: CaseId
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    language: str = Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    reason: Literal["stage_changed", "records_requested", "status_link"]
    stage: str
    requested_kinds: list[DocumentKind] = Field(default_factory=list)


# -- mail to patients about their inquiry (activities/inquiry_mail.py) -----------------------


class InquiryConfirmationMail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inquiry_id: str
    email: str
    language: str
    nonce: str
    expires_at: datetime


class InquiryDeclinedMail(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str
    email: str
    language: str
    reason: str


class PatientMailReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_id: str
