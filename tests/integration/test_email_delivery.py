"""Email delivery against the stack's SMTP sink and a real S3: the stored PDF attached, links in
the body, Message-ID from the packet id, and nothing sent without consent."""

import email
import email.policy
import hashlib
import uuid
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.consent_gate import ConsentGate
from activities.email_delivery import EmailDelivery
from activities.letter_pdf import render_pdf
from activities.payloads import DeliveryConsent, EmailDeliveryRequest, PacketLink, PacketNotice
from caseflow.consent import ConsentLedger
from caseflow.fictional_case import CASE_ID, CREATED_AT, documents, email_hospital, intake, links
from infra.mail_sink import MailSink
from infra.server_process import free_port

HOSPITAL = email_hospital()


@pytest.fixture(scope="module")
def mail_sink(tmp_path_factory):
    sink = MailSink(tmp_path_factory.mktemp("mail"), port=free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def stored_letter(seaweed):
    pdf = render_pdf(f"<html lang='en'><body><h1>Referral to {HOSPITAL.name}</h1></body></html>")
    key = f"cases/{CASE_ID}/packets/pk-mail-test/letter.pdf"
    seaweed.client().put_object(Bucket=seaweed.bucket, Key=key, Body=pdf,
                                ContentType="application/pdf")
    return key, pdf


def sender(mail_sink, seaweed) -> EmailDelivery:
    return EmailDelivery(
        smtp_host="127.0.0.1",
        smtp_port=mail_sink.port,
        sender="caseflow@example.invalid",
        s3_client=seaweed.client(),
        bucket=seaweed.bucket,
        consent_gate=ConsentGate(),
        timeout=5,
    )


def request(letter_key: str, ledger: ConsentLedger | None = None) -> EmailDeliveryRequest:
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
    dead = EmailDelivery(smtp_host="127.0.0.1", smtp_port=free_port(), sender="c@example.invalid",
                         s3_client=seaweed.client(), bucket=seaweed.bucket,
                         consent_gate=ConsentGate(), timeout=2)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(dead.deliver_packet_email, request(stored_letter[0]))
    assert caught.value.type == "EndpointUnavailable" and not caught.value.non_retryable


def test_a_letter_outside_the_case_is_rejected():
    with pytest.raises(ValueError, match="letter_key: not under this case's prefix"):
        request("cases/zzzzzzzzzzzzzzzzzzzzzzzzzz/packets/x/letter.pdf")
