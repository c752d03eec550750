"""Mail to the patient, in their language: a stage change, a request for more records, or a
fresh link to their status page. The subject says only that there is news (no name, no clinical
word); the body gives the stage in plain words and a status link made here, with the portal
secret, so no link ever sits in workflow history.

The web service sends links with the same composition (client/portal.py), so a mail reads the
same whoever sent it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from temporalio import activity

from activities.payloads import NoticeReceipt, PatientNotice
from activities.smtp_relay import SmtpTransport, relay, send_blocking
from caseflow import patient_words as words
from caseflow.case_status import CaseStage
from caseflow.message_catalogues import best_language, translations
from caseflow.portal_links import PortalClaims, email_digest, make_token
from caseflow.settings import CaseflowSettings


class PatientMailRouting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    smtp: SmtpTransport = Field(default_factory=SmtpTransport)
    sender: str = "caseflow@example.invalid"
    public_url: str = "http://127.0.0.1:8000"
    # None: mails go out without a link (they say to ask the coordinator for one).
    portal_link_secret: SecretStr | None = None
    portal_link_days: int = 14

    @classmethod
    def from_settings(cls, settings: CaseflowSettings) -> PatientMailRouting:
        return cls(
            smtp=SmtpTransport.from_settings(settings),
            sender=settings.smtp_sender,
            public_url=settings.public_url,
            portal_link_secret=settings.portal_link_secret,
            portal_link_days=settings.portal_link_days,
        )


def status_link(routing: PatientMailRouting, case_id: str, email: str) -> str | None:
    """A fresh link to the case's status page, bound to the case and the address's digest."""
    if routing.portal_link_secret is None:
        return None
    claims = PortalClaims(
        purpose="case_status", subject_id=case_id, email_sha256=email_digest(email)
    )
    token = make_token(routing.portal_link_secret.get_secret_value(), claims)
    return f"{routing.public_url.rstrip('/')}/portal/open/{token}"


def patient_message(routing: PatientMailRouting, notice: PatientNotice) -> EmailMessage:
    language = best_language(notice.language) or "en"
    _ = translations(language).gettext
    message = EmailMessage()
    message["From"] = routing.sender
    message["To"] = notice.email
    # Same key, same Message-ID: a resend after a lost reply is a duplicate the mailbox drops.
    message["Message-ID"] = f"<patient.{notice.notice_id}@caseflow.invalid>"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Subject"] = _("caseflow: an update on your request")
    message["Content-Language"] = language.replace("_", "-")
    lines = [_("Hello,"), ""]
    if notice.reason == "records_requested":
        lines.append(_("The specialist reviewing your case needs more records:"))
        lines += [f"- {words.kind_words(kind, _)}" for kind in notice.requested_kinds]
        lines += ["", _("You can upload them from your status page.")]
    elif notice.reason == "status_link":
        lines.append(_("Here is a new link to the page that shows how your request is going."))
    else:
        lines.append(_("There is news about your request."))
    lines += ["", _("Where things stand: %(stage)s") % {
        "stage": words.stage_words(CaseStage(notice.stage), _)
    }, ""]
    link = status_link(routing, notice.case_id, notice.email)
    if link is not None:
        lines += [
            _("See what we have received, what is still missing, and your consents:"),
            link,
            _("The link is for you only and works for %(days)d days. Do not forward it.")
            % {"days": routing.portal_link_days},
        ]
    else:
        lines.append(_("Your coordinator can send you a link to your status page."))
    lines += [
        "",
        _("A qualified oncologist decides on any treatment; caseflow only coordinates."),
        _("If you did not expect this e-mail, you can ignore it."),
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_message(routing: PatientMailRouting, message: EmailMessage) -> None:
    """Send now, from a caller that is not an activity (the portal's new-link form)."""
    send_blocking(routing.smtp, message)


class PatientMailer:
    """The activity that mails the patient (through the stack's SMTP sink in development)."""

    def __init__(self, routing: PatientMailRouting) -> None:
        self._routing = routing

    @activity.defn(name="send_patient_notice")
    async def send_patient_notice(self, notice: PatientNotice) -> NoticeReceipt:
        message = patient_message(self._routing, notice)
        await relay(self._routing.smtp, message)
        return NoticeReceipt(message_id=message["Message-ID"], recipients=["patient"])
