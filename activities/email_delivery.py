"""Packet delivery by email: the stored PDF letter attached, the presigned links in the body.

SMTP cannot promise exactly-once (a lost 250 reply means a resend), so the Message-ID is derived
from the packet id: every attempt carries the same one and the hospital's mailbox or ticketing
system can drop duplicates, as a webhook receiver does with webhook-id.
"""

import asyncio
import hashlib
import smtplib
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from botocore.exceptions import ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditAction, AuditTrail, activity_event
from activities.consent_gate import ConsentGate
from activities.failures import step_activity
from activities.payloads import EmailDeliveryRequest, EmailReceipt, PacketNotice
from caseflow.contacts import CoordinatorContact

DECIDER_LINE = "A qualified oncologist at the receiving hospital decides on treatment."
CONFIDENTIAL = (
    "Confidential health information for the named recipient only. If you received this in "
    "error, delete it and tell the sender."
)

# The pathway in words for the subject line; an unknown pathway reads as its code in words.
PATHWAYS = {"recurrent_after_rt": "recurrent cancer after radiotherapy"}


def packet_subject(request: EmailDeliveryRequest) -> str:
    """What the mail is, for the staff who triage the inbox: the pathway, the hospital's own
    reference when it gave one, and caseflow's case id. Opaque ids and words only."""
    pathway = PATHWAYS.get(request.pathway, request.pathway.replace("_", " "))
    parts = [f"Referral for assessment: {pathway}"]
    if request.hospital_reference:
        parts.append(f"your ref. {request.hospital_reference}")
    parts.append(f"caseflow case {request.notice.case_id}")
    return " | ".join(parts)


def message_id_for(packet_id: str, sender: str) -> str:
    return f"<{packet_id}@{sender.rsplit('@', 1)[-1]}>"


def contact_lines(contact: CoordinatorContact | None, reply_url: str | None) -> list[str]:
    """The signature: whom to write to about the referral. Staff details, never patient data."""
    if contact is None:
        return []
    lines = ["", "Your contact for this referral:", contact.name]
    if contact.organisation:
        lines.append(contact.organisation)
    lines.append(f"E-mail: {contact.email}")
    if contact.phone:
        lines.append(f"Phone: {contact.phone}")
    if reply_url:
        lines.append(f"Reply link: {reply_url}")
    return lines


def reply_to(contact: CoordinatorContact | None) -> Address | None:
    """The coordinator's address as a Reply-To header, so a reply reaches a person. None when
    there is no contact, or its address is one the mail library cannot write (the signature
    still names it): a retry could not fix that, so it must not fail the delivery."""
    if contact is None:
        return None
    try:
        return Address(display_name=contact.name, addr_spec=contact.email)
    except (ValueError, HeaderParseError):
        return None


def packet_body(notice: PacketNotice) -> str:
    lines = [
        f"Referral packet {notice.packet_id} (case {notice.case_id}).",
        "",
        "The referral letter is attached as PDF. The records are at the links below; each",
        f"link expires at {notice.links_expire_at.isoformat()}. Check downloads against SHA-256.",
        "",
        f"Manifest: {notice.manifest_url}",
    ]
    if notice.bundle_url:
        lines.append(f"FHIR R4B bundle: {notice.bundle_url}")
    if notice.reply_url:
        lines += [
            "",
            "Acknowledge, answer (accept, decline, or ask for more information) and upload your",
            "documents at this link, which also gives fresh download links after they expire:",
            notice.reply_url,
        ]
    lines.append("")
    for index, document in enumerate(notice.documents, start=1):
        lines += [
            f"{index}. {document.kind} ({document.content_type}, {document.size} bytes)",
            f"   sha256 {document.sha256}",
            f"   {document.url}",
        ]
    lines += contact_lines(notice.contact, notice.reply_url)
    lines += ["", DECIDER_LINE, "", CONFIDENTIAL]
    return "\n".join(lines) + "\n"


class EmailDelivery:
    """Holds the SMTP settings and the S3 client the letter is read from."""

    def __init__(
        self,
        *,
        smtp_host: str,
        smtp_port: int,
        sender: str,
        s3_client,
        bucket: str,
        consent_gate: ConsentGate,
        timeout: float = 30.0,
        audit: AuditTrail | None = None,
    ) -> None:
        self._smtp_host, self._smtp_port, self._sender = smtp_host, smtp_port, sender
        self._s3, self._bucket = s3_client, bucket
        self._consent = consent_gate
        self._timeout = timeout
        self._audit = audit

    def _letter(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404"):
                raise ApplicationError(
                    "letter_key: no stored letter for this packet",
                    type="LetterMissing",
                    non_retryable=True,
                ) from None
            raise ApplicationError(
                f"letter store: {code or 'error'}", type="StoreUnavailable"
            ) from None

    def _message(self, request: EmailDeliveryRequest, letter: bytes) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = request.to
        message["Subject"] = packet_subject(request)  # no patient data
        message["Message-ID"] = message_id_for(request.packet_id, self._sender)
        message["Date"] = formatdate(usegmt=True)
        if (address := reply_to(request.notice.contact)) is not None:
            message["Reply-To"] = address
        message.set_content(packet_body(request.notice))
        message.add_attachment(
            letter, maintype="application", subtype="pdf",
            filename=f"referral-letter-{request.packet_id}.pdf",
        )
        return message

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._smtp_host, self._smtp_port, timeout=self._timeout) as smtp:
            smtp.send_message(message)

    @activity.defn(name="deliver_packet_email")
    @step_activity
    async def deliver_packet_email(self, request: EmailDeliveryRequest) -> EmailReceipt:
        attempt = activity.info().attempt
        await self._consent.check(request.consent)  # every attempt, before anything is sent
        letter = await asyncio.to_thread(self._letter, request.letter_key)
        message = self._message(request, letter)
        where = f"mail to hospital {request.notice.hospital_id}"
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPRecipientsRefused:
            raise ApplicationError(
                f"{where}: recipient refused", type="DeliveryRejected", non_retryable=True
            ) from None
        except smtplib.SMTPResponseException as err:
            if 500 <= err.smtp_code < 600:
                raise ApplicationError(
                    f"{where}: rejected with {err.smtp_code}",
                    type="DeliveryRejected",
                    non_retryable=True,
                ) from None
            raise ApplicationError(
                f"{where}: deferred with {err.smtp_code}", type="EndpointUnavailable"
            ) from None
        except (smtplib.SMTPException, OSError) as err:
            raise ApplicationError(
                f"{where}: SMTP unavailable: {type(err).__name__}", type="EndpointUnavailable"
            ) from None
        activity.logger.info("email %s attempt %d sent", request.packet_id, attempt)
        if self._audit is not None:
            # After the send: a failed write retries the attempt, and the resend carries the
            # same Message-ID, so the hospital's side drops it.
            event = activity_event(
                case_id=request.notice.case_id,
                action=AuditAction.PACKET_DELIVERED,
                hospital_id=request.notice.hospital_id,
                subject=request.packet_id,
                detail={"channel": "email", "message_id": message["Message-ID"],
                        "attempt": attempt, "documents": len(request.notice.documents)},
            )
            await asyncio.to_thread(self._audit.record, event)
        return EmailReceipt(
            packet_id=request.packet_id,
            message_id=message["Message-ID"],
            to=request.to,
            attempt=attempt,
            letter_sha256=hashlib.sha256(letter).hexdigest(),
        )
