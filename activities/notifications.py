"""Mail to people: SLA notices to coordinators and supervisors, and translation jobs to the vendor.

Notices carry no patient data beyond the opaque case id. Each message's Message-ID derives from a
key the workflow made, so a retried send is recognisably the same message to the receiving side.
"""

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from activities.payloads import Notice, NoticeReceipt, TranslationJob
from activities.smtp_relay import SmtpTransport, relay

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True)


class NoticeRouting(BaseModel):
    """Where mail goes. Coordinators are addressed as <coordinator_id>@<coordinator_domain>."""

    model_config = _MODEL_CONFIG

    smtp: SmtpTransport = Field(default_factory=SmtpTransport)
    sender: str = "caseflow@example.invalid"
    coordinator_domain: str = "coordinators.example.invalid"
    supervisor_email: str = "supervisor@example.invalid"
    translation_vendor_email: str = "translations@example.invalid"


class CaseMailer:
    """Activities that send mail through one SMTP server (the dev stack's aiosmtpd sink)."""

    def __init__(self, routing: NoticeRouting) -> None:
        self._routing = routing

    @activity.defn(name="send_notice")
    async def send_notice(self, notice: Notice) -> NoticeReceipt:
        recipients = []
        if "coordinator" in notice.audience:
            recipients.append(f"{notice.coordinator_id}@{self._routing.coordinator_domain}")
        if "supervisor" in notice.audience:
            recipients.append(self._routing.supervisor_email)
        message = self._message(f"notice.{notice.notice_id}", recipients)
        message["Subject"] = f"caseflow: case {notice.case_id} needs attention"
        message.set_content(
            f"case {notice.case_id} needs attention: {notice.reason}\n\n"
            "Open the case with `caseflow case status " + notice.case_id + "`.\n"
        )
        await self._send(message)
        return NoticeReceipt(message_id=message["Message-ID"], recipients=recipients)

    @activity.defn(name="send_translation_job")
    async def send_translation_job(self, job: TranslationJob) -> NoticeReceipt:
        recipient = self._routing.translation_vendor_email
        message = self._message(f"translation.{job.job_id}", [recipient])
        message["Subject"] = f"caseflow translation job {job.job_id} (case {job.case_id})"
        lines = [
            f"Translation job {job.job_id} for case {job.case_id}.",
            f"Target language: {job.target_language}",
            "",
            "Documents (kind, size in bytes, SHA-256, link):",
        ]
        for document in job.documents:
            lines.append(
                f"- {document.document_id} {document.kind} {document.size} {document.sha256}\n"
                f"  {document.url}"
            )
        if job.manifest_url:
            lines += ["", f"Manifest: {job.manifest_url}"]
        if job.links_expire_at:
            lines.append(f"Links expire at {job.links_expire_at.isoformat()}.")
        lines += ["", "Confidential: health information. Use only for this translation job."]
        message.set_content("\n".join(lines) + "\n")
        await self._send(message)
        return NoticeReceipt(message_id=message["Message-ID"], recipients=[recipient])

    def _message(self, key: str, recipients: list[str]) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._routing.sender
        message["To"] = ", ".join(recipients)
        # Same key, same Message-ID: a retry after a lost reply is a duplicate the receiver drops.
        message["Message-ID"] = f"<{key}@caseflow.invalid>"
        message["Date"] = format_datetime(datetime.now(UTC))
        return message

    async def _send(self, message: EmailMessage) -> None:
        await relay(self._routing.smtp, message)
