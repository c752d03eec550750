"""Mail to patients about their inquiry: the one-time confirmation link, and the coordinator's
decline. In the inquiry's language (activities/patient_mail_texts/<language>.json; a third
language is one more file), with subjects that carry no name and no clinical detail.

Each Message-ID derives from an id the workflow made, so a retried send is the same message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.failures import step_activity
from activities.payloads import InquiryConfirmationMail, InquiryDeclinedMail, PatientMailReceipt
from activities.smtp_relay import SmtpTransport, relay
from caseflow.portal_links import PortalClaims, email_digest, make_token

TEXTS_DIR = Path(__file__).resolve().parent / "patient_mail_texts"
_CONFIG = ConfigDict(extra="forbid", frozen=True)


class PatientMailSettings(BaseModel):
    model_config = _CONFIG

    smtp: SmtpTransport = Field(default_factory=SmtpTransport)
    sender: str = "caseflow@example.invalid"
    public_url: str = "http://127.0.0.1:8000"
    link_secret: str | None = Field(default=None, repr=False)


@cache
def mail_texts(language: str) -> dict[str, str]:
    """The texts for a BCP 47 tag (zh-CN, zh_CN, zh all find zh-CN); English without a file."""
    wanted = language.replace("_", "-").lower()
    files = {p.stem.lower(): p for p in TEXTS_DIR.glob("*.json")}
    chosen = files.get(wanted) or next(
        (p for stem, p in files.items() if stem.split("-")[0] == wanted.split("-")[0]),
        files["en"],
    )
    return json.loads(chosen.read_text(encoding="utf-8"))


def confirmation_link(settings: PatientMailSettings, mail: InquiryConfirmationMail) -> str:
    if settings.link_secret is None:
        raise ApplicationError(
            "portal_link_secret is not set: no confirmation link can be made",
            type="PortalNotConfigured", non_retryable=True,
        )
    token = make_token(
        settings.link_secret,
        PortalClaims(
            purpose="confirm_inquiry", subject_id=mail.inquiry_id,
            email_sha256=email_digest(mail.email), nonce=mail.nonce,
        ),
    )
    return f"{settings.public_url.rstrip('/')}/portal/confirm/{token}"


class InquiryMailer:
    def __init__(self, settings: PatientMailSettings) -> None:
        self._settings = settings

    @activity.defn(name="send_inquiry_confirmation")
    async def send_inquiry_confirmation(self, mail: InquiryConfirmationMail) -> PatientMailReceipt:
        texts = mail_texts(mail.language)
        message = self._message(f"inquiry.{mail.inquiry_id}.confirm", mail.email)
        message["Subject"] = texts["confirm_subject"]
        expires = mail.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        link = confirmation_link(self._settings, mail)
        message.set_content(texts["confirm_body"].format(link=link, expires=expires) + "\n")
        await self._send(message)
        return PatientMailReceipt(message_id=message["Message-ID"])

    @activity.defn(name="send_inquiry_declined")
    @step_activity
    async def send_inquiry_declined(self, mail: InquiryDeclinedMail) -> PatientMailReceipt:
        texts = mail_texts(mail.language)
        message = self._message(f"case.{mail.case_id}.inquiry-declined", mail.email)
        message["Subject"] = texts["declined_subject"]
        message.set_content(texts["declined_body"].format(reason=mail.reason) + "\n")
        await self._send(message)
        return PatientMailReceipt(message_id=message["Message-ID"])

    def _message(self, key: str, recipient: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = recipient
        message["Message-ID"] = f"<{key}@caseflow.invalid>"
        message["Date"] = format_datetime(datetime.now(UTC))
        return message

    async def _send(self, message: EmailMessage) -> None:
        await relay(self._settings.smtp, message)

