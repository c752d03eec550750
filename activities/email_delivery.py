"""Packet delivery by email: the stored PDF letter attached, the presigned links in the body.

SMTP cannot promise exactly-once (a lost 250 reply means a resend), so the Message-ID is derived
from the packet id: every attempt carries the same one and the hospital's mailbox or ticketing
system can drop duplicates, as a webhook receiver does with webhook-id.
"""

import asyncio
import hashlib
from datetime import UTC
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
from activities.letter_words import N_, LetterWords, translate
from activities.payloads import EmailDeliveryRequest, EmailReceipt, PacketNotice
from activities.smtp_relay import SmtpTransport, relay
from caseflow.contacts import CoordinatorContact

DECIDER_LINE = N_("A qualified oncologist at the receiving hospital decides on treatment.")
CONFIDENTIAL = N_(
    "Confidential health information for the named recipient only. If you received this in "
    "error, delete it and tell the sender."
)

# The delivery channels' shared failure types (webhook_delivery.py uses the same), by the relay's.
CHANNEL_FAILURES = {"SmtpUnavailable": "EndpointUnavailable", "SmtpRejected": "DeliveryRejected"}

# The pathway in words for the subject line; an unknown pathway reads as its code in words.
PATHWAYS = {"recurrent_after_rt": N_("recurrent cancer after radiotherapy")}


def packet_subject(request: EmailDeliveryRequest) -> str:
    """What the mail is, for the staff who triage the inbox: the pathway, the hospital's own
    reference when it gave one, and caseflow's case id, in the letter's languages. Opaque ids
    and words only."""
    words = LetterWords(request.notice.language)
    pathway = PATHWAYS.get(request.pathway)
    code_words = request.pathway.replace("_", " ")
    # Each language's sentence with the pathway in that language.
    titles = dict.fromkeys(
        translate(lang, "Referral for assessment: %(pathway)s",
                  pathway=translate(lang, pathway) if pathway else code_words)
        for lang in words.languages
    )
    parts = [" / ".join(titles)]
    if request.hospital_reference:
        parts.append(words.plain("your ref. %(reference)s", reference=request.hospital_reference))
    parts.append(words.plain("caseflow case %(case)s", case=request.notice.case_id))
    return " | ".join(parts)


def message_id_for(packet_id: str, sender: str) -> str:
    return f"<{packet_id}@{sender.rsplit('@', 1)[-1]}>"


def labelled(words: LetterWords, label: str, value: str) -> str:
    """A label in the mail's languages, then its value once ("清单 / Manifest: <url>")."""
    return f"{words.plain(label)}: {value}"


def contact_lines(
    contact: CoordinatorContact | None, reply_url: str | None, words: LetterWords | None = None
) -> list[str]:
    """The signature: whom to write to about the referral. Staff details, never patient data."""
    if contact is None:
        return []
    words = words or LetterWords("en")
    lines = ["", *words.lines("Your contact for this referral:"), contact.name]
    if contact.organisation:
        lines.append(contact.organisation)
    lines.append(labelled(words, N_("E-mail"), contact.email))
    if contact.phone:
        lines.append(labelled(words, N_("Phone"), contact.phone))
    if reply_url:
        lines.append(labelled(words, N_("Reply link"), reply_url))
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
    """The mail's text in the letter's languages (a Chinese hospital's reads Chinese, then
    English, sentence by sentence): what the packet is, where its files are, how to answer."""
    words = LetterWords(notice.language)
    expires = notice.links_expire_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        *words.lines("Referral packet %(packet)s (case %(case)s).",
                     packet=notice.packet_id, case=notice.case_id),
        "",
        *words.lines("The referral letter is attached as PDF. The records are at the links "
                     "below; each link expires at %(expires)s. Check every download against its "
                     "SHA-256.", expires=expires),
        "",
        labelled(words, N_("Manifest"), notice.manifest_url),
    ]
    if notice.bundle_url:
        lines.append(labelled(words, N_("FHIR R4B bundle"), notice.bundle_url))
    if notice.reply_url:
        lines += [
            "",
            *words.lines("Acknowledge, answer (accept, decline, or ask for more information) "
                         "and upload your documents at this link, which also gives fresh "
                         "download links after they expire:"),
            notice.reply_url,
        ]
    lines += ["", words.plain("Documents") + ":"]
    for index, document in enumerate(notice.documents, start=1):
        lines += [
            f"{index}. {words.plain_words('kind', document.kind)}"
            f" ({document.content_type}, {words.size(document.size)})",
            f"   SHA-256 {document.sha256}",
            f"   {document.url}",
        ]
    if not notice.documents:
        lines += words.lines("No documents.")
    lines += contact_lines(notice.contact, notice.reply_url, words)
    lines += ["", *words.lines(DECIDER_LINE), "", *words.lines(CONFIDENTIAL)]
    return "\n".join(lines) + "\n"


class EmailDelivery:
    """Holds the SMTP transport and the S3 client the letter is read from."""

    def __init__(
        self,
        *,
        smtp: SmtpTransport,
        sender: str,
        s3_client,
        bucket: str,
        consent_gate: ConsentGate,
        timeout: float = 30.0,
        audit: AuditTrail | None = None,
    ) -> None:
        self._smtp, self._sender = smtp, sender
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

    @activity.defn(name="deliver_packet_email")
    @step_activity
    async def deliver_packet_email(self, request: EmailDeliveryRequest) -> EmailReceipt:
        attempt = activity.info().attempt
        await self._consent.check(request.consent)  # every attempt, before anything is sent
        letter = await asyncio.to_thread(self._letter, request.letter_key)
        message = self._message(request, letter)
        where = f"mail to hospital {request.notice.hospital_id}"
        try:
            await relay(self._smtp, message, self._timeout)
        except ApplicationError as failed:
            raise ApplicationError(
                f"{where}: {failed.message}",
                type=CHANNEL_FAILURES.get(failed.type or "", failed.type),
                non_retryable=failed.non_retryable,
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
