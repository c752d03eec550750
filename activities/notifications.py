"""Mail to people: SLA notices to coordinators and supervisors, and translation jobs to the vendor.

Notices carry no patient data beyond the opaque case id. Each message's Message-ID derives from a
key the workflow made, so a retried send is recognisably the same message to the receiving side.
"""

import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity

from activities.failures import step_activity
from activities.payloads import Notice, NoticeReceipt, TranslationJob
from activities.smtp_relay import SmtpTransport, relay
from caseflow.sla import STEP_WORDS, WAIT_WORDS, SlaStep

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True)


class NoticeRouting(BaseModel):
    """Where mail goes. Coordinators are addressed as <coordinator_id>@<coordinator_domain>."""

    model_config = _MODEL_CONFIG

    smtp: SmtpTransport = Field(default_factory=SmtpTransport)
    sender: str = "caseflow@example.invalid"
    coordinator_domain: str = "coordinators.example.invalid"
    supervisor_email: str = "supervisor@example.invalid"
    translation_vendor_email: str = "translations@example.invalid"
    # Where the console is reached: each notice links to its case there.
    public_url: str = "http://127.0.0.1:8000"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def notice_subject(notice: Notice) -> str:
    """Which step, which case, what it waits for: staff can sort their inbox by it. An SLA step
    reads e.g. "caseflow reminder: case X waits for the hospital's answer to the referral";
    another notice names its reason."""
    if notice.step is None or notice.waits_for is None:
        return f"caseflow: case {notice.case_id}: {_shortened(notice.reason, 120)}"
    subject = f" ({notice.wait_subject})" if notice.wait_subject else ""
    return (
        f"caseflow {STEP_WORDS[notice.step]}: case {notice.case_id} waits for "
        f"{WAIT_WORDS[notice.waits_for]}{subject}"
    )


def notice_body(notice: Notice, public_url: str) -> str:
    """The step, what the case waits for, since when, when it was due, and the case's link."""
    link = f"{public_url.rstrip('/')}/console/cases/{notice.case_id}"
    if notice.step is None or notice.waits_for is None:
        lines = [f"Case {notice.case_id} needs your action: {notice.reason}.", ""]
    else:
        lines = [f"Case {notice.case_id}: {STEP_WORDS[notice.step]}.", ""]
        waits_for = WAIT_WORDS[notice.waits_for]
        if notice.wait_subject:
            waits_for += f" ({notice.wait_subject})"
        rows = [("Step", STEP_WORDS[notice.step]), ("Waiting for", waits_for),
                ("Why", notice.reason)]
        if notice.waiting_since is not None:
            rows.append(("Waiting since", _when(notice.waiting_since)))
        if notice.due_at is not None:
            rows.append(("Due", _when(notice.due_at)))
        lines += [f"{label + ':':<15}{value}" for label, value in rows] + [""]
        if notice.step == SlaStep.ESCALATE_SUPERVISOR:
            lines += ["The reminder and the coordinator's escalation have not resolved it.", ""]
    lines += [
        f"Open the case: {link}",
        f"Or from a shell: caseflow case status {notice.case_id}",
        "",
        "This notice carries no patient data; sign in to see the case.",
    ]
    return "\n".join(lines) + "\n"


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


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
        message["Subject"] = notice_subject(notice)
        message.set_content(notice_body(notice, self._routing.public_url))
        await self._send(message)
        return NoticeReceipt(message_id=message["Message-ID"], recipients=recipients)

    @activity.defn(name="send_translation_job")
    @step_activity
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
        # Unfolded headers: the stdlib folds a subject of ~80 characters after "Subject:", which
        # readers then show with a leading space. 998 is RFC 5322's line limit.
        message = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
        message["From"] = self._routing.sender
        message["To"] = ", ".join(recipients)
        # Same key, same Message-ID: a retry after a lost reply is a duplicate the receiver drops.
        message["Message-ID"] = f"<{key}@caseflow.invalid>"
        message["Date"] = format_datetime(datetime.now(UTC))
        return message

    async def _send(self, message: EmailMessage) -> None:
        await relay(self._routing.smtp, message)
