"""Referral packets end to end on real servers: the stored packet (letter PDF, FHIR bundle,
manifest) and its delivery through a signed webhook and SMTP, with the consent gate.

The case runs on the real Temporal dev server with a worker built here (every activity real),
SeaweedFS, the SMTP sink and a hospital webhook receiver on loopback.
"""

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import io
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader
from pypdf.generic import DictionaryObject
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.consent_gate import ConsentGate
from activities.email_delivery import EmailDelivery
from activities.letters import ReferralLetters
from activities.notifications import CaseMailer, NoticeRouting
from activities.payloads import ReferralPacketRequest
from activities.smtp_relay import SmtpTransport
from activities.webhook_delivery import WebhookDelivery
from caseflow.case_events import (
    AddDocument,
    HospitalAcknowledgement,
    SubmitReview,
    Withdraw,
    WithdrawConsent,
)
from caseflow.case_status import CaseStatus
from caseflow.fictional_case import (
    CASE_ID,
    CREATED_AT,
    QUESTION,
    REASON,
    documents,
    email_hospital,
    intake,
    webhook_hospital,
)
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id, new_case_id
from caseflow.referral_bundle import unresolved_references
from client import cases as case_client
from client.identities import IdentityStore
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.workflows.cases import WORKUP_KINDS, document
from tests.workflows.cases import intake as case_intake
from workflows.case import CaseWorkflow
from workflows.case_state import CaseWorkflowInput
from workflows.referral import HospitalReferralWorkflow
from workflows.sla_watch import StepRetry


def plain_body(message) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content()


def pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def embedded_fonts(pdf: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = cast(DictionaryObject, page["/Resources"].get_object())
        for font in cast(DictionaryObject, resources["/Font"].get_object()).values():
            names.add(str(font.get_object()["/BaseFont"]))
    return names


def squeeze(text: str) -> str:
    return " ".join(text.split())


def stored_object(seaweed, key: str) -> bytes:
    return seaweed.client().get_object(Bucket=seaweed.bucket, Key=key)["Body"].read()


@pytest.mark.parametrize(
    ("hospital", "language"), [(webhook_hospital(), "zh-CN"), (email_hospital(), "en")]
)
def test_packet_holds_pdf_letter_bundle_and_hashed_manifest(seaweed, hospital, language):
    letters = ReferralLetters(seaweed.settings)
    request = ReferralPacketRequest(
        packet_id=f"pk-{hashlib.sha256(language.encode()).hexdigest()[:12]}-{CASE_ID[:6]}",
        case_id=CASE_ID,
        hospital=hospital,
        intake=intake(),
        documents=documents(3),
        triage_flags=[],
        modalities=["bnct"],
        recommendation="BNCT assessment",
        coordinator_id="coord-7",
        language=language,
        written_on=CREATED_AT.date(),
        reason=REASON,
        question=QUESTION,
        created_at=CREATED_AT,
    )
    try:
        stored = letters.render_referral_packet(request)
        again = letters.render_referral_packet(request)  # a retried activity
    finally:
        letters.close()

    assert stored.created and not again.created
    assert again.sha256 == stored.sha256  # the exact copy, never overwritten
    manifest_bytes = stored_object(seaweed, stored.manifest_key)
    assert hashlib.sha256(manifest_bytes).hexdigest() == stored.sha256
    manifest = json.loads(manifest_bytes)
    assert manifest["letter_pdf_key"] == stored.letter_pdf_key == stored.prefix + "letter.pdf"
    assert manifest["bundle_key"] == stored.bundle_key == stored.prefix + "bundle.json"
    assert [d["sha256"] for d in manifest["documents"]] == [d.sha256 for d in request.documents]

    pdf = stored_object(seaweed, stored.letter_pdf_key)
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == manifest["letter_pdf_sha256"]
    text = squeeze(pdf_text(pdf))
    assert hospital.name in text
    assert squeeze(REASON) in text
    if language == "zh-CN":  # Chinese headings render from an embedded CJK face, not boxes
        assert "转诊原因" in text
        assert any("WenQuanYi" in name for name in embedded_fonts(pdf))

    index = stored_object(seaweed, manifest["index_key"])
    assert hashlib.sha256(index).hexdigest() == manifest["index_sha256"]
    for ref in request.documents:  # the human-readable index lists every document
        assert ref.sha256 in index.decode() and ref.document_id in index.decode()
    assert manifest["letter_pdf_sha256"] in index.decode()

    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=stored.bundle_key)
    assert head["ContentType"] == "application/fhir+json"
    raw = stored_object(seaweed, stored.bundle_key)
    assert hashlib.sha256(raw).hexdigest() == manifest["bundle_sha256"]
    bundle = Bundle.model_validate_json(raw)  # fhir.resources validates on parse
    assert unresolved_references(bundle) == []
    kinds = [e.resource.get_resource_type() for e in bundle.entry or [] if e.resource]
    assert kinds.count("DocumentReference") == 3 and "ServiceRequest" in kinds

    # Downloads save under a real file name (issue 12): the store answers the presigned link
    # with the Content-Disposition it carries; the manifest names each document's file.
    answer = httpx.get(stored.letter_url or "", timeout=10)
    assert answer.status_code == 200 and answer.content == pdf
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="referral-letter-{request.packet_id}.pdf"'
    )
    # A link without a disposition too (the packet signs its links itself: GetLinks).
    assert httpx.get(stored.manifest_url, timeout=10).content == manifest_bytes
    for entry, ref in zip(manifest["documents"], request.documents, strict=True):
        assert f"-{ref.document_id}." in entry["file_name"]
        assert entry["uploaded_at"] == ref.uploaded_at.isoformat()
        assert "response-content-disposition=attachment" in entry["url"]


def test_an_attempt_that_finds_the_manifest_written_meanwhile_returns_that_packet(
    seaweed, monkeypatch
):
    # Two attempts at one packet: the second began before the first wrote its manifest (its
    # look at the start found none), so its own conditional write of the manifest loses and
    # it answers with the first attempt's packet, not a second one.
    request = ReferralPacketRequest(
        packet_id=f"pk-race-{uuid.uuid4().hex[:12]}",
        case_id=CASE_ID,
        hospital=webhook_hospital(),
        intake=intake(),
        documents=documents(2),
        triage_flags=[],
        modalities=["bnct"],
        recommendation="BNCT assessment",
        coordinator_id="coord-7",
        language="en",
        written_on=CREATED_AT.date(),
        created_at=CREATED_AT,
    )
    first, second = ReferralLetters(seaweed.settings), ReferralLetters(seaweed.settings)
    try:
        stored = first.render_referral_packet(request)
        manifest_key = stored.manifest_key
        looks: list[str] = []
        read = second._get_bytes

        def late_look(key: str) -> bytes | None:
            looks.append(key)
            if key == manifest_key and looks.count(key) == 1:
                return None  # the first attempt had not written it yet
            return read(key)

        monkeypatch.setattr(second, "_get_bytes", late_look)
        raced = second.render_referral_packet(request)
    finally:
        first.close()
        second.close()
    assert stored.created and not raced.created
    assert raced.sha256 == stored.sha256
    assert hashlib.sha256(stored_object(seaweed, manifest_key)).hexdigest() == stored.sha256
    assert looks.count(manifest_key) == 2  # the look at the start, and reading the winner's


# -- the whole case on real servers --------------------------------------------------------------

WEBHOOK, EMAIL = "cn-xiamen-bnct", "in-chennai-proton"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class HospitalEndpoint:
    """A hospital's webhook receiver: checks the Standard Webhooks signature, counts attempts
    and processed packets by webhook-id (processing each once), and answers from `script`
    (status, headers) before answering 200."""

    def __init__(self, secret: str) -> None:
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.processed: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.bodies: dict[str, bytes] = {}
        self.script: list[tuple[int, dict[str, str]]] = []
        self.rejected = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                status, headers = endpoint.receive(
                    {k.lower(): v for k, v in self.headers.items()}, body
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{WEBHOOK}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        webhook_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        mac = hmac.new(self.key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
        expected = base64.b64encode(mac.digest()).decode()
        given = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split()
                 if s.startswith("v1,")]
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300
        with self.lock:
            if not fresh or not any(hmac.compare_digest(expected, g) for g in given):
                self.rejected += 1
                return 401, {}
            self.attempts[webhook_id] += 1
            if self.script:
                return self.script.pop(0)
            if webhook_id not in self.processed:
                self.bodies[webhook_id] = body
            self.processed[webhook_id] += 1
            return 200, {}


@dataclass
class PacketStack:
    client: Client
    task_queue: str
    endpoint: HospitalEndpoint
    mail: MailSink


@pytest.fixture(scope="module")
async def packet_stack(
    temporal_dev_server, seaweed, tmp_path_factory
) -> AsyncIterator[PacketStack]:
    mail = MailSink(tmp_path_factory.mktemp("packet-mail"), port=free_port())
    mail.start()
    endpoint = HospitalEndpoint(SECRET)
    endpoint.thread.start()
    settings = seaweed.settings.model_copy(update={"smtp_port": mail.port})
    client = await Client.connect(
        temporal_dev_server.address, data_converter=pydantic_data_converter
    )
    task_queue = f"packets-{uuid.uuid4().hex[:8]}"
    letters = ReferralLetters(settings)
    gate = ConsentGate(client)
    mailer = CaseMailer(
        NoticeRouting(
            smtp=SmtpTransport.from_settings(settings),
            sender=settings.smtp_sender,
            coordinator_domain=settings.coordinator_email_domain,
            supervisor_email=settings.supervisor_email,
            translation_vendor_email=settings.translation_vendor_email,
        )
    )
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            webhook = WebhookDelivery(http, {WEBHOOK: SECRET}, gate)
            mailer_of_packets = EmailDelivery(
                smtp=SmtpTransport.from_settings(settings),
                sender=settings.smtp_sender,
                s3_client=seaweed.client(),
                bucket=seaweed.bucket,
                consent_gate=gate,
            )
            with ThreadPoolExecutor(max_workers=8) as executor:
                async with Worker(
                    client,
                    task_queue=task_queue,
                    workflows=[CaseWorkflow, HospitalReferralWorkflow],
                    activities=[
                        letters.render_referral_packet,
                        mailer.send_notice,
                        webhook.deliver_packet_webhook,
                        mailer_of_packets.deliver_packet_email,
                    ],
                    activity_executor=executor,
                ):
                    yield PacketStack(client, task_queue, endpoint, mail)
    finally:
        letters.close()
        endpoint.server.shutdown()
        endpoint.server.server_close()
        mail.stop()


async def status_when(handle: WorkflowHandle, check, timeout: float = 90.0) -> CaseStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await handle.query(CaseWorkflow.status)
        if check(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached; timeline tail {status.timeline[-4:]}")
        await asyncio.sleep(0.2)


def mails_to(mail: MailSink, address: str) -> list[email.message.EmailMessage]:
    found = []
    for path in mail.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def case_hospitals(stack: PacketStack):
    directory = HospitalDirectory.load_default()
    # The test's receiver stands in for the hospital's endpoint in the case's snapshot.
    return [
        directory.get(WEBHOOK).model_copy(update={"webhook_url": stack.endpoint.url}),
        directory.get(EMAIL),
    ]


async def referred(stack: PacketStack, targets: list[str]) -> WorkflowHandle:
    """A case with complete records, reviewed and referred to `targets`."""
    case_id = new_case_id()
    handle = await stack.client.start_workflow(
        CaseWorkflow.run,
        CaseWorkflowInput(
            case_id=case_id,
            intake=case_intake(),
            hospitals=case_hospitals(stack),
            retry=StepRetry(maximum_attempts=3),
        ),
        id=case_workflow_id(case_id),
        task_queue=stack.task_queue,
    )
    for kind in WORKUP_KINDS:
        await handle.execute_update(
            CaseWorkflow.add_document, AddDocument(ref=document(case_id, kind))
        )
    await status_when(handle, lambda s: s.stage == "SPECIALIST_REVIEW")
    await handle.execute_update(
        CaseWorkflow.submit_review,
        SubmitReview(
            outcome="proceed",
            reviewer_id="dr-review",
            modalities=["sbrt"],
            target_hospital_ids=targets,
            recommendation="SBRT re-irradiation",
            reason=REASON,
            question=QUESTION,
        ),
    )
    return handle


async def test_packets_reach_a_webhook_hospital_and_an_email_hospital(packet_stack, seaweed):
    hospitals = case_hospitals(packet_stack)
    directory = HospitalDirectory.load_default()
    handle = await referred(packet_stack, [WEBHOOK, EMAIL])
    status = await status_when(
        handle, lambda s: len(s.hospitals) == 2 and all(h.delivered_at for h in s.hospitals)
    )
    referrals = {h.hospital_id: h for h in status.hospitals}
    delivered = {
        e.detail.split(":")[0].removeprefix("hospital "): e
        for e in status.timeline
        if e.event == "referral_packet_delivered"
    }

    for hospital in hospitals:
        referral = referrals[hospital.hospital_id]
        assert referral.packet_prefix is not None
        manifest = stored_object(seaweed, referral.packet_prefix + "manifest.json")
        # The SHA-256 in the timeline is the stored packet's.
        assert delivered[hospital.hospital_id].packet_sha256 == hashlib.sha256(manifest).hexdigest()
        assert delivered[hospital.hospital_id].recipients == referral.recipients
        pdf = stored_object(seaweed, referral.packet_prefix + "letter.pdf")
        text = squeeze(pdf_text(pdf))
        assert hospital.name in text and squeeze(REASON) in text
        bundle = Bundle.model_validate_json(
            stored_object(seaweed, referral.packet_prefix + "bundle.json")
        )
        assert unresolved_references(bundle) == []

    # The webhook hospital processed exactly one validly signed packet, under its packet id.
    hook = referrals[WEBHOOK]
    endpoint = packet_stack.endpoint
    assert endpoint.processed[hook.packet_id] == 1 and endpoint.attempts[hook.packet_id] == 1
    assert endpoint.rejected == 0
    payload = json.loads(endpoint.bodies[hook.packet_id])["data"]
    assert payload["manifest_sha256"] == hook.packet_sha256
    assert hook.channel == "webhook" and (hook.delivery_receipt or "").startswith("HTTP 200")

    # The email hospital got one mail, with the stored PDF letter attached.
    address = directory.get(EMAIL).contact_email
    assert address is not None
    (message,) = mails_to(packet_stack.mail, address)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    letter = stored_object(seaweed, f"{referrals[EMAIL].packet_prefix}letter.pdf")
    assert attachment.get_content() == letter
    assert referrals[EMAIL].recipients == [address]

    # The hospital's acknowledgement is its own fact, apart from delivery and answer.
    await handle.execute_update(
        CaseWorkflow.record_hospital_acknowledgement,
        HospitalAcknowledgement(hospital_id=WEBHOOK, reference="XM-0001"),
    )
    status = await status_when(
        handle, lambda s: any(e.event == "referral_acknowledged" for e in s.timeline)
    )
    hook = next(h for h in status.hospitals if h.hospital_id == WEBHOOK)
    assert hook.acknowledged_at is not None and hook.responded_at is None

    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))


def referral_of(status: CaseStatus, hospital_id: str):
    return next(h for h in status.hospitals if h.hospital_id == hospital_id)


async def test_a_gone_webhook_falls_back_to_manual_and_escalates(packet_stack):
    packet_stack.endpoint.script.append((410, {}))
    handle = await referred(packet_stack, [WEBHOOK])
    status = await status_when(handle, lambda s: s.hospitals and s.hospitals[0].delivered_at)
    hook = referral_of(status, WEBHOOK)
    assert hook.endpoint_disabled and hook.channel == "manual"
    assert packet_stack.endpoint.attempts[hook.packet_id] == 1  # 410 is not retried
    assert packet_stack.endpoint.processed[hook.packet_id] == 0
    assert any(e.subject == f"endpoint {WEBHOOK}" and e.level == 2 for e in status.escalations)
    coordinator = mails_to(packet_stack.mail, "coord-1@coordinators.example.invalid")
    assert any("is gone" in plain_body(m) for m in coordinator)
    # An immediate escalation is named by its reason, not as a wait for retry_step/skip_step.
    assert any(
        m["Subject"].startswith(
            f"caseflow: case {handle.id.removeprefix('case-')}: webhook of hospital {WEBHOOK} "
            "is gone"
        ) for m in coordinator
    ), [m["Subject"] for m in coordinator]
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))


async def test_consent_withdrawn_before_the_retry_sends_nothing(packet_stack):
    endpoint = packet_stack.endpoint
    endpoint.script.append((503, {"retry-after": "3"}))
    handle = await referred(packet_stack, [WEBHOOK])
    status = await status_when(handle, lambda s: s.hospitals and s.hospitals[0].packet_id)
    packet_id = status.hospitals[0].packet_id
    await status_when(handle, lambda s: endpoint.attempts[packet_id] == 1)
    await handle.execute_update(
        CaseWorkflow.withdraw_consent,
        WithdrawConsent(country="CN", hospital_id=WEBHOOK, purpose="referral"),
    )
    # The retry's consent gate reads the live ledger and stops before sending.
    status = await status_when(handle, lambda s: s.hospitals[0].state == "delivery_blocked")
    await asyncio.sleep(4)  # past the Retry-After: still nothing more reached the hospital
    assert endpoint.attempts[packet_id] == 1 and endpoint.processed[packet_id] == 0
    assert referral_of(status, WEBHOOK).delivered_at is None
    assert any(e.subject == f"consent {WEBHOOK}" for e in status.escalations)
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))


async def test_a_retried_webhook_is_processed_once(packet_stack):
    endpoint = packet_stack.endpoint
    endpoint.script.append((500, {"retry-after": "1"}))
    handle = await referred(packet_stack, [WEBHOOK])
    status = await status_when(handle, lambda s: s.hospitals and s.hospitals[0].delivered_at)
    hook = referral_of(status, WEBHOOK)
    assert endpoint.attempts[hook.packet_id] == 2  # the same webhook-id on the retry
    assert endpoint.processed[hook.packet_id] == 1
    assert hook.delivery_receipt == "HTTP 200, attempt 2" and hook.channel == "webhook"
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))


async def test_packets_name_the_coordinator_the_case_is_assigned_to(
    packet_stack, seaweed, tmp_path
):
    """Through the client, as the CLI and web service start and reassign cases: the contact
    comes from the identity store, and the reassigned coordinator is the one hospitals see."""
    settings = seaweed.settings.model_copy(
        update={
            "task_queue": packet_stack.task_queue,
            # This stack's one worker also renders the letters (no render worker here).
            "letters_task_queue": packet_stack.task_queue,
            "identity_db_url": f"sqlite:///{tmp_path / 'identities.db'}",
            "reply_link_secret": None,
        }
    )
    store = IdentityStore.from_settings(settings)
    store.add_user("coord-1", "coordinator", name="Ana Costa", email="ana@care.example.org")
    store.add_user(
        "coord-bo", "coordinator", name="Bo Li", email="bo.li@care.example.org",
        phone="+86 592 555 0100", organisation="Cross-border Oncology Care",
    )
    store.close()
    directory = HospitalDirectory(hospitals=case_hospitals(packet_stack))
    referred_intake = case_intake()  # coordinator coord-1
    case_id = await case_client.start_case(
        packet_stack.client, settings, referred_intake, date.today(), directory=directory,
        retry=StepRetry(maximum_attempts=3),
    )
    handle = case_client.case_handle(packet_stack.client, case_id)
    await case_client.assign_coordinator(packet_stack.client, settings, case_id, "coord-bo")
    for kind in WORKUP_KINDS:
        await case_client.add_document(packet_stack.client, case_id, document(case_id, kind))
    await status_when(handle, lambda s: s.stage == "SPECIALIST_REVIEW")
    await case_client.submit_review(
        packet_stack.client,
        case_id,
        SubmitReview(outcome="proceed", reviewer_id="dr-review", modalities=["sbrt"],
                     target_hospital_ids=[WEBHOOK, EMAIL]),
    )
    status = await status_when(
        handle, lambda s: len(s.hospitals) == 2 and all(h.delivered_at for h in s.hospitals)
    )
    referrals = {h.hospital_id: h for h in status.hospitals}

    # The mail: a reply goes to Bo, and the signature names him.
    address = HospitalDirectory.load_default().get(EMAIL).contact_email
    assert address is not None
    [message] = [m for m in mails_to(packet_stack.mail, address)
                 if referrals[EMAIL].packet_id in m["Message-ID"]]  # the subject names the case
    (reply_to,) = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == ("Bo Li", "bo.li@care.example.org")
    plain = message.get_body(("plain",))
    assert plain is not None
    assert "Your contact for this referral:\nBo Li\nCross-border Oncology Care\n" in (
        plain.get_content()
    )
    # The letter (attached, as stored) and index.html name him too; nobody names Ana.
    for referral in referrals.values():
        assert referral.packet_prefix is not None
        text = squeeze(pdf_text(stored_object(seaweed, referral.packet_prefix + "letter.pdf")))
        assert "Your contact" in text and "bo.li@care.example.org" in text
        assert "Ana Costa" not in text
        index = stored_object(seaweed, referral.packet_prefix + "index.html").decode()
        assert "Bo Li, Cross-border Oncology Care" in index
    # The webhook payload carries the contact as an object.
    payload = json.loads(packet_stack.endpoint.bodies[referrals[WEBHOOK].packet_id])["data"]
    assert payload["contact"] == {
        "coordinator_id": "coord-bo",
        "name": "Bo Li",
        "email": "bo.li@care.example.org",
        "phone": "+86 592 555 0100",
        "organisation": "Cross-border Oncology Care",
    }
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))
