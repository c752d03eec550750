"""The patient's mail: in their language, a subject with no name and no clinical word, the stage
in plain words, and a status link bound to the case and the address (none without a secret)."""

from pydantic import SecretStr

from activities.patient_mail import PatientMailRouting, patient_message
from activities.payloads import PatientNotice
from caseflow.documents import DocumentKind
from caseflow.portal_links import email_digest, read_token

CASE = "b" * 26


def _notice(**changes) -> PatientNotice:
    values = dict(
        notice_id=f"{CASE}.patient.3.records_requested", case_id=CASE,
        email="canary.person@example.invalid", language="zh-CN", reason="records_requested",
        stage="RECORDS", requested_kinds=[DocumentKind.BORON_PET],
    )
    return PatientNotice(**(values | changes))


def _routing(secret: str | None = "s3cret") -> PatientMailRouting:
    return PatientMailRouting(
        public_url="https://portal.example.invalid",
        portal_link_secret=SecretStr(secret) if secret else None,
    )


def test_a_records_request_in_chinese_with_a_link_for_this_case_and_address():
    message = patient_message(_routing(), _notice())
    assert message["Subject"] == "caseflow：您的申请有新进展"
    assert message["Message-ID"] == f"<patient.{CASE}.patient.3.records_requested@caseflow.invalid>"
    body = message.get_content()
    assert "硼 PET 检查" in body and "我们正在收集您的病历资料。" in body
    [link] = [line for line in body.splitlines() if "/portal/open/" in line]
    claims = read_token("s3cret", link.rsplit("/", 1)[-1], "case_status", 3600)
    assert claims.subject_id == CASE
    assert claims.email_sha256 == email_digest("canary.person@example.invalid")
    assert "canary" not in message["Subject"].lower()


def test_english_and_no_link_without_a_secret():
    message = patient_message(_routing(None), _notice(language="en", reason="stage_changed",
                                                      stage="SPECIALIST_REVIEW",
                                                      requested_kinds=[]))
    assert message["Subject"] == "caseflow: an update on your request"
    body = message.get_content()
    assert "A specialist is reviewing your records." in body
    assert "/portal/open/" not in body
    assert "Your coordinator can send you a link" in body


def test_a_language_without_a_catalogue_reads_english():
    message = patient_message(_routing(), _notice(language="hi"))
    assert message["Subject"] == "caseflow: an update on your request"
