"""Notices through a real SMTP sink: each SLA level reaches its audience with its own subject,
the wait in words, its times and the case's link; a retried send is the same message."""

import email
import email.policy
from datetime import UTC, datetime

import pytest

from activities.notifications import CaseMailer, NoticeRouting
from activities.payloads import Notice
from activities.smtp_relay import SmtpTransport
from caseflow.sla import SlaStep, WaitKind
from infra.mail_sink import MailSink
from infra.server_process import free_port

CASE = "c-0d1e2f3a4b5c6d7e"


@pytest.fixture(scope="module")
def mail_sink(tmp_path_factory):
    sink = MailSink(tmp_path_factory.mktemp("mail"), port=free_port())
    sink.start()
    yield sink
    sink.stop()


def mailer(sink: MailSink) -> CaseMailer:
    return CaseMailer(NoticeRouting(smtp=SmtpTransport(port=sink.port, timeout_seconds=5),
                                    public_url="http://127.0.0.1:18000"))


def read(sink: MailSink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sink.messages()]


async def test_each_level_arrives_worded_for_its_step(mail_sink):
    since = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)
    words = {
        SlaStep.REMIND: "reminder",
        SlaStep.ESCALATE_COORDINATOR: "escalated to the coordinator",
        SlaStep.ESCALATE_SUPERVISOR: "escalated to the supervisor",
    }
    sender = mailer(mail_sink)
    for level, step in enumerate(words, start=1):
        notice = Notice(
            notice_id=f"{CASE}.2-records.{step.value}", case_id=CASE, coordinator_id="coord-li",
            reason="records incomplete, 2 checklist item(s) missing",
            audience=["coordinator", "supervisor"] if level == 3 else ["coordinator"],
            step=step, waits_for=WaitKind.RECORDS_UPLOAD, wait_subject="",
            waiting_since=since, due_at=since.replace(day=2 + level),
        )
        await sender.send_notice(notice)
    await sender.send_notice(notice)  # a retry: same Message-ID

    mails = read(mail_sink)
    assert len(mails) == 4
    assert mails[3]["Message-ID"] == mails[2]["Message-ID"]
    for level, (message, step_words) in enumerate(zip(mails[:3], words.values(), strict=True),
                                                  start=1):
        assert message["Subject"] == (
            f"caseflow {step_words}: case {CASE} waits for the patient's records"
        )
        plain = message.get_body(("plain",))
        assert plain is not None
        body = plain.get_content()
        assert f"Step:          {step_words}\n" in body
        assert "Waiting since: 2025-05-02 08:00 UTC\n" in body
        assert f"Due:           2025-05-0{2 + level} 08:00 UTC\n" in body
        assert f"http://127.0.0.1:18000/console/cases/{CASE}" in body
        to = str(message["To"])
        assert to.startswith("coord-li@") and ("supervisor@" in to) == (level == 3)
