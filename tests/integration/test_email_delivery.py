"""Email delivery against the stack's SMTP sink and a real S3: the stored PDF attached, links in
the body, Message-ID from the packet id, and nothing sent without consent."""

import email
import email.policy
import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.consent_gate import ConsentGate
from activities.email_delivery import EmailDelivery
from activities.erasure_notices import ErasureNotices
from activities.payloads import (
    DeliveryConsent,
    EmailDeliveryRequest,
    ErasureNotice,
    PacketLink,
    PacketNotice,
)
from activities.smtp_relay import SmtpTransport
from caseflow.consent import ConsentLedger
from caseflow.contacts import CoordinatorContact
from caseflow.fictional_case import CASE_ID, CREATED_AT, documents, email_hospital, intake, links
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.activities.test_letter_pdf import pdf_of
from tests.activities.test_letter_pdf import request as letter_request

HOSPITAL = email_hospital()


@pytest.fixture(scope="module")
def mail_sink(tmp_path_factory):
    sink = MailSink(tmp_path_factory.mktemp("mail"), port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def stored_letter(seaweed):
    pdf = pdf_of(letter_request("en"))  # a real letter's PDF, set by Typst
    key = f"cases/{CASE_ID}/packets/pk-mail-test/letter.pdf"
    seaweed.client().put_object(Bucket=seaweed.bucket, Key=key, Body=pdf,
                                ContentType="application/pdf")
    return key, pdf


def sender(mail_sink, seaweed) -> EmailDelivery:
    return EmailDelivery(
        smtp=SmtpTransport(port=mail_sink.port),
        sender="caseflow@example.invalid",
        s3_client=seaweed.client(),
        bucket=seaweed.bucket,
        consent_gate=ConsentGate(),
        timeout=5,
    )


CONTACT = CoordinatorContact(
    coordinator_id="coord-ana",
    name="Ana Costa",
    email="ana.costa@care.example.org",
    phone="+44 20 7946 0958",
    organisation="Cross-border Oncology Care",
)
REPLY_URL = "https://caseflow.example.org/reply/.eJx-test.sig"


def request(
    letter_key: str,
    ledger: ConsentLedger | None = None,
    contact: CoordinatorContact | None = None,
) -> EmailDeliveryRequest:
    packet_id = f"pk-{uuid.uuid4()}"
    refs = documents(3)
    urls = links(refs)
    return EmailDeliveryRequest(
        packet_id=packet_id,
        to=HOSPITAL.contact_email,
        letter_key=letter_key,
        notice=PacketNotice(
            packet_id=packet_id,
            case_id=CASE_ID,
            hospital_id=HOSPITAL.hospital_id,
            created_at=CREATED_AT,
            manifest_url="https://s3.example.invalid/manifest.json?sig=1",
            links_expire_at=CREATED_AT + timedelta(days=7),
            documents=[
                PacketLink(document_id=r.document_id, kind=r.kind.value, size=r.size,
                           sha256=r.sha256, content_type=r.content_type, url=urls[r.document_id])
                for r in refs
            ],
            reply_url=REPLY_URL if contact else None,
            contact=contact,
        ),
        consent=DeliveryConsent(
            country="IN",
            hospital_id=HOSPITAL.hospital_id,
            ledger=ledger if ledger is not None else ConsentLedger.from_intake(intake()),
        ),
    )


def messages_with_id(mail_sink, message_id: str) -> list[email.message.EmailMessage]:
    found = []
    for path in mail_sink.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["Message-ID"] == message_id:
            found.append(message)
    return found


async def test_email_carries_the_stored_pdf_and_the_links(mail_sink, seaweed, stored_letter):
    key, pdf = stored_letter
    req = request(key)
    receipt = await ActivityEnvironment().run(sender(mail_sink, seaweed).deliver_packet_email, req)
    assert receipt.message_id == f"<{req.packet_id}@example.invalid>"
    assert receipt.letter_sha256 == hashlib.sha256(pdf).hexdigest()
    (message,) = messages_with_id(mail_sink, receipt.message_id)
    assert message["To"] == HOSPITAL.contact_email
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf
    plain = message.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    for document in req.notice.documents:
        assert document.url in body and document.sha256 in body
    assert req.notice.manifest_url in body
    assert "qualified oncologist" in body
    for phi in ("Asha", "1961-07-04", "squamous"):
        assert phi not in message.as_string()


async def test_withdrawn_consent_sends_no_mail(mail_sink, seaweed, stored_letter):
    ledger = ConsentLedger.from_intake(intake()).withdrawn("IN", None, "referral", CREATED_AT)
    req = request(stored_letter[0], ledger=ledger)
    before = len(mail_sink.messages())
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(sender(mail_sink, seaweed).deliver_packet_email, req)
    assert caught.value.type == "ConsentMissing" and caught.value.non_retryable
    assert len(mail_sink.messages()) == before


async def test_a_missing_letter_is_not_retried_and_sends_nothing(mail_sink, seaweed):
    before = len(mail_sink.messages())
    req = request(f"cases/{CASE_ID}/packets/pk-none/letter.pdf")
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(sender(mail_sink, seaweed).deliver_packet_email, req)
    assert caught.value.type == "LetterMissing" and caught.value.non_retryable
    assert len(mail_sink.messages()) == before


async def test_an_unreachable_smtp_server_is_retryable(seaweed, stored_letter):
    dead = EmailDelivery(smtp=SmtpTransport(port=free_port()), sender="c@example.invalid",
                         s3_client=seaweed.client(), bucket=seaweed.bucket,
                         consent_gate=ConsentGate(), timeout=2)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(dead.deliver_packet_email, request(stored_letter[0]))
    assert caught.value.type == "EndpointUnavailable" and not caught.value.non_retryable


def test_a_letter_outside_the_case_is_rejected():
    with pytest.raises(ValueError, match="letter_key: not under this case's prefix"):
        request("cases/zzzzzzzzzzzzzzzzzzzzzzzzzz/packets/x/letter.pdf")


async def test_a_reply_reaches_the_coordinator_named_in_the_mail(mail_sink, seaweed, stored_letter):
    req = request(stored_letter[0], contact=CONTACT)
    receipt = await ActivityEnvironment().run(sender(mail_sink, seaweed).deliver_packet_email, req)
    (message,) = messages_with_id(mail_sink, receipt.message_id)
    assert message["From"] == "caseflow@example.invalid"
    (reply_to,) = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (CONTACT.name, CONTACT.email)
    plain = message.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    signature = body[body.index("Your contact for this referral:"):]
    assert signature.splitlines()[1:6] == [
        "Ana Costa",
        "Cross-border Oncology Care",
        "E-mail: ana.costa@care.example.org",
        "Phone: +44 20 7946 0958",
        f"Reply link: {REPLY_URL}",
    ]
    assert "qualified oncologist" in signature  # the decider line still closes the mail


async def test_a_mail_without_a_contact_has_no_reply_to(mail_sink, seaweed, stored_letter):
    req = request(stored_letter[0])
    receipt = await ActivityEnvironment().run(sender(mail_sink, seaweed).deliver_packet_email, req)
    (message,) = messages_with_id(mail_sink, receipt.message_id)
    assert message["Reply-To"] is None
    assert "Your contact" not in message.as_string()


async def test_an_erasure_notice_asks_to_confirm_to_the_named_coordinator(mail_sink):
    packet_id = f"pk-{uuid.uuid4()}"
    async with httpx.AsyncClient() as http:
        notices = ErasureNotices(
            smtp=SmtpTransport(port=mail_sink.port), sender="caseflow@example.invalid",
            http=http, webhook_secrets={},
        )
        sent = await notices.send_erasure_notice(
            ErasureNotice(case_id=CASE_ID, packet_id=packet_id, hospital=HOSPITAL,
                          erased_at=CREATED_AT, contact=CONTACT)
        )
    (message,) = messages_with_id(mail_sink, sent.receipt)
    assert message["Reply-To"].addresses[0].addr_spec == CONTACT.email
    plain = message.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    assert "confirm to\nAna Costa (ana.costa@care.example.org)." in body
    assert "Phone: +44 20 7946 0958" in body
    assert "Reply link" not in body  # the packet's reply link died with it


async def test_the_subject_says_what_the_mail_is_without_patient_data(
    mail_sink, seaweed, stored_letter
):
    key, _ = stored_letter
    first = request(key)
    receipt = await ActivityEnvironment().run(
        sender(mail_sink, seaweed).deliver_packet_email, first
    )
    (message,) = messages_with_id(mail_sink, receipt.message_id)
    assert message["Subject"] == (
        f"Referral for assessment: recurrent cancer after radiotherapy | caseflow case {CASE_ID}"
    )
    assert first.packet_id not in message["Subject"]  # not the bare packet uuid any more
    patient = intake().patient
    for value in (patient.given_name, patient.family_name, intake().clinical.histology):
        assert value not in message["Subject"]
    # A resend after the hospital acknowledged with its own reference quotes it.
    again = request(key).model_copy(update={"hospital_reference": "INTL-2025/0412"})
    receipt = await ActivityEnvironment().run(
        sender(mail_sink, seaweed).deliver_packet_email, again
    )
    (message,) = messages_with_id(mail_sink, receipt.message_id)
    assert message["Subject"] == (
        "Referral for assessment: recurrent cancer after radiotherapy | your ref. INTL-2025/0412"
        f" | caseflow case {CASE_ID}"
    )
