"""Mail over TLS with a login, against real TLS sinks (infra/tls_mail_sink.py) with a throwaway CA:
STARTTLS and implicit TLS deliver into the Maildir; a wrong password, an untrusted certificate or a
relay without STARTTLS is a one-line failure that is not retried."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.patient_mail import PatientMailer, PatientMailRouting
from activities.payloads import PatientNotice
from activities.smtp_relay import SmtpTransport, send_blocking
from caseflow.settings import CaseflowSettings
from infra.mail_sink import MailSink
from infra.server_process import free_port
from infra.tls_mail_sink import SinkMode, TlsMailSink

USER, PASSWORD = "caseflow-relay", "relay-password-4f9c2a"
CASE = "c" * 26
ADDRESS = "canary.patient@example.invalid"


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    other_ca_file: Path  # a CA that signed nothing the sinks present
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = Pki(folder / "ca.pem", folder / "other-ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(paths.ca_file))
    other.cert_pem.write_to_path(str(paths.other_ca_file))
    server.cert_chain_pems[0].write_to_path(str(paths.cert_file))
    server.private_key_pem.write_to_path(str(paths.key_file))
    return paths


def start_sink(folder: Path, pki: Pki, mode: SinkMode) -> TlsMailSink:
    login = folder / "login"
    login.write_text(f"{USER}:{PASSWORD}\n")
    sink = TlsMailSink(folder, port=free_port(), cert_file=pki.cert_file, key_file=pki.key_file,
                       login_file=login, mode=mode)
    sink.start()
    return sink


@pytest.fixture(scope="module")
def starttls_sink(tmp_path_factory, pki):
    sink = start_sink(tmp_path_factory.mktemp("mail-starttls"), pki, "starttls")
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def tls_sink(tmp_path_factory, pki):
    sink = start_sink(tmp_path_factory.mktemp("mail-tls"), pki, "tls")
    yield sink
    sink.stop()


def settings_for(sink: MailSink, security: str, ca_file: Path | None, password: str = PASSWORD):
    return CaseflowSettings(
        smtp_port=sink.port, smtp_security=security, smtp_ca_file=ca_file,
        smtp_username=USER, smtp_password=password,
    )


def notice(number: int) -> PatientNotice:
    return PatientNotice(
        notice_id=f"{CASE}.patient.{number}.stage_changed", case_id=CASE, email=ADDRESS,
        language="en", reason="stage_changed", stage="RECORDS",
    )


async def send_patient_notice(settings: CaseflowSettings, number: int):
    mailer = PatientMailer(PatientMailRouting.from_settings(settings))
    return await ActivityEnvironment().run(mailer.send_patient_notice, notice(number))


def delivered(sink: MailSink, message_id: str) -> list[email.message.EmailMessage]:
    found = []
    for path in sink.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["Message-ID"]).strip() == message_id:  # a long id is folded
            found.append(message)
    return found


async def refused(settings: CaseflowSettings, number: int) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await send_patient_notice(settings, number)
    error = caught.value
    assert error.non_retryable, error.message  # a real failure: retrying cannot fix it
    assert "\n" not in error.message
    assert ADDRESS not in error.message and PASSWORD not in error.message
    return error


async def test_starttls_with_a_login_delivers_into_the_sink(starttls_sink, pki):
    receipt = await send_patient_notice(settings_for(starttls_sink, "starttls", pki.ca_file), 1)

    [message] = delivered(starttls_sink, receipt.message_id)
    assert message["To"] == ADDRESS
    body = message.get_body()
    assert body is not None and "There is news about your request." in body.get_content()


async def test_implicit_tls_with_a_login_delivers_into_the_sink(tls_sink, pki):
    receipt = await send_patient_notice(settings_for(tls_sink, "tls", pki.ca_file), 2)
    [message] = delivered(tls_sink, receipt.message_id)
    assert message["To"] == ADDRESS


async def test_a_wrong_password_is_one_line_and_not_retried(starttls_sink, pki):
    before = len(starttls_sink.messages())
    settings = settings_for(starttls_sink, "starttls", pki.ca_file, password="not-the-password")

    error = await refused(settings, 3)

    assert error.type == "SmtpLoginRefused"
    assert error.message == (
        f"SMTP relay 127.0.0.1:{starttls_sink.port} refused the login (535): check "
        "smtp_username and smtp_password"
    )
    assert len(starttls_sink.messages()) == before


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_a_certificate_not_signed_by_the_configured_ca_is_refused(
    mode, starttls_sink, tls_sink, pki
):
    sink = starttls_sink if mode == "starttls" else tls_sink
    before = len(sink.messages())

    error = await refused(settings_for(sink, mode, pki.other_ca_file), 4)

    assert error.type == "SmtpCertificateRejected"
    assert error.message == (
        f"SMTP relay 127.0.0.1:{sink.port}: its certificate is not trusted "
        "(unable to get local issuer certificate); check smtp_ca_file"
    )
    assert len(sink.messages()) == before  # nothing was sent before the refusal


async def test_the_system_store_does_not_trust_a_throwaway_ca(starttls_sink):
    error = await refused(settings_for(starttls_sink, "starttls", None), 5)
    assert error.type == "SmtpCertificateRejected"


async def test_the_login_is_not_sent_over_plain_smtp_to_a_relay_that_wants_starttls(
    starttls_sink, pki
):
    # smtp_security left at "none": the relay offers no login before TLS, so none is tried.
    error = await refused(settings_for(starttls_sink, "none", pki.ca_file), 6)
    assert error.type == "SmtpNotSupported"
    assert error.message.endswith(": SMTP AUTH extension not supported; check smtp_security")


async def test_starttls_against_a_relay_that_does_not_offer_it_is_refused(tmp_path):
    plain = MailSink(tmp_path, port=free_port())
    plain.start()
    try:
        error = await refused(CaseflowSettings(smtp_port=plain.port, smtp_security="starttls"), 7)
    finally:
        plain.stop()
    assert error.type == "SmtpNotSupported"
    assert error.message == (
        f"SMTP relay 127.0.0.1:{plain.port}: STARTTLS extension not supported; check smtp_security"
    )
    assert plain.messages() == []


def test_the_portal_path_sends_over_tls_too(starttls_sink, pki):
    # client/portal.py sends outside an activity, through the same transport.
    routing = PatientMailRouting.from_settings(settings_for(starttls_sink, "starttls", pki.ca_file))
    from activities.patient_mail import patient_message

    message = patient_message(routing, notice(8))
    send_blocking(routing.smtp, message)
    assert len(delivered(starttls_sink, message["Message-ID"])) == 1
    assert isinstance(routing.smtp.password, SecretStr)  # never a plain str in a repr or log
    assert PASSWORD not in repr(routing)


def test_transport_settings_come_from_settings(pki):
    transport = SmtpTransport.from_settings(
        CaseflowSettings(smtp_host="smtp.example.org", smtp_port=587, smtp_security="starttls",
                         smtp_ca_file=pki.ca_file, smtp_username=USER, smtp_password=PASSWORD)
    )
    assert (transport.host, transport.port, transport.security) == ("smtp.example.org", 587,
                                                                    "starttls")
    assert transport.ca_file == pki.ca_file and transport.username == USER
