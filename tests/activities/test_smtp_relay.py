"""The relay hand-off's rules that need no server: plain SMTP off this machine is refused before
any connection, a login needs both halves, and each failure is worded and typed once."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from activities.smtp_relay import PlaintextRefused, SmtpTransport, failure, is_loopback, relay


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.invalid", "b@example.invalid", "x"
    mail.set_content("body\n")
    return mail


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["smtp.example.org", "10.0.0.5", "192.0.2.1", "mailsink"])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


async def test_plain_smtp_off_this_machine_is_refused_before_connecting(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", no_network)
    transport = SmtpTransport(host="smtp.example.org", port=25)
    with pytest.raises(ApplicationError) as caught:
        await relay(transport, message())
    assert caught.value.type == "SmtpInsecure" and caught.value.non_retryable
    assert caught.value.message == (
        "SMTP relay smtp.example.org:25: plain SMTP off this machine would expose patient data; "
        "set smtp_security to starttls or tls (or smtp_allow_plaintext for a trusted network)"
    )


def test_plain_smtp_is_allowed_on_loopback_or_when_explicitly_allowed():
    assert SmtpTransport().plaintext_refusal() is None
    assert SmtpTransport(host="mailsink", allow_plaintext=True).plaintext_refusal() is None
    assert SmtpTransport(host="smtp.example.org", security="starttls").plaintext_refusal() is None


def test_a_login_needs_both_username_and_password():
    with pytest.raises(ValidationError, match="smtp_username and smtp_password: set both"):
        SmtpTransport(username="relay-user")


@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        (ConnectionRefusedError(), "SmtpUnavailable", True),
        (smtplib.SMTPServerDisconnected(), "SmtpUnavailable", True),
        (smtplib.SMTPDataError(451, b"try later"), "SmtpUnavailable", True),
        (smtplib.SMTPDataError(554, b"no"), "SmtpRejected", False),
        (smtplib.SMTPRecipientsRefused({"b@example.invalid": (550, b"no")}), "SmtpRejected", False),
        (smtplib.SMTPAuthenticationError(535, b"bad"), "SmtpLoginRefused", False),
        (PlaintextRefused("plain"), "SmtpInsecure", False),
    ],
)
def test_failures_are_typed_once(error, kind, retryable):
    made = failure(SmtpTransport(), error)
    assert made.type == kind and made.non_retryable is not retryable
    # The recipient never appears in the error, even when the server named it.
    assert "b@example.invalid" not in made.message
