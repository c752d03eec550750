"""Handing one message to the SMTP relay, for every mail caseflow sends (coordinator notices,
patients' notices, inquiry mail, packets and erasure notices to hospitals): over STARTTLS or
implicit TLS with the relay's certificate verified, and a login when settings give one.

A failure a retry can fix (the relay down, a 4xx) is retryable; a wrong login, an untrusted
certificate, a 5xx or plain SMTP off this machine is not. Errors name the server, never the
recipient or anything the message says.
"""

from __future__ import annotations

import asyncio
import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from temporalio.exceptions import ApplicationError

if TYPE_CHECKING:
    from caseflow.settings import CaseflowSettings

SmtpSecurity = Literal["none", "starttls", "tls"]


class PlaintextRefused(smtplib.SMTPException):
    """Plain SMTP to a relay off this machine, not allowed by settings."""


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SmtpTransport(BaseModel):
    """How to reach the relay: the stack's loopback sink by default (no TLS, no login)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = 8025
    security: SmtpSecurity = "none"
    # The relay's certificate is checked against the system's CA store, or this CA file.
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    allow_plaintext: bool = False
    timeout_seconds: float = 20.0

    @model_validator(mode="after")
    def _login_needs_both(self) -> SmtpTransport:
        if (self.username is None) != (self.password is None):
            raise ValueError("smtp_username and smtp_password: set both or neither")
        return self

    @classmethod
    def from_settings(cls, settings: CaseflowSettings) -> SmtpTransport:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            ca_file=settings.smtp_ca_file,
            username=settings.smtp_username,
            password=settings.smtp_password,
            allow_plaintext=settings.smtp_allow_plaintext,
        )

    @property
    def where(self) -> str:
        return f"SMTP relay {self.host}:{self.port}"

    def plaintext_refusal(self) -> str | None:
        """Why this transport may not send, or None. Letters, links and notices carry patient
        data, so plain SMTP is for the loopback sink, or a relay explicitly allowed."""
        if self.security != "none" or self.allow_plaintext or is_loopback(self.host):
            return None
        return (
            f"{self.where}: plain SMTP off this machine would expose patient data; set "
            "smtp_security to starttls or tls (or smtp_allow_plaintext for a trusted network)"
        )

    def tls_context(self) -> ssl.SSLContext:
        # Verifies the chain and the host name; TLS 1.2 at least.
        context = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def send_blocking(
    transport: SmtpTransport, message: EmailMessage, timeout: float | None = None
) -> None:
    """Send one message now; raises smtplib's errors (PlaintextRefused among them) or OSError."""
    if (refusal := transport.plaintext_refusal()) is not None:
        raise PlaintextRefused(refusal)
    seconds = transport.timeout_seconds if timeout is None else timeout
    smtp: smtplib.SMTP
    if transport.security == "tls":
        smtp = smtplib.SMTP_SSL(
            transport.host, transport.port, timeout=seconds, context=transport.tls_context()
        )
    else:
        smtp = smtplib.SMTP(transport.host, transport.port, timeout=seconds)
    with smtp:
        if transport.security == "starttls":
            smtp.starttls(context=transport.tls_context())
        if transport.username is not None and transport.password is not None:
            smtp.login(transport.username, transport.password.get_secret_value())
        smtp.send_message(message)


def failure(transport: SmtpTransport, error: BaseException) -> ApplicationError:
    """The ApplicationError for a failed send: non-retryable when a retry cannot fix it."""
    where = transport.where
    if isinstance(error, PlaintextRefused):
        return ApplicationError(str(error), type="SmtpInsecure", non_retryable=True)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return ApplicationError(
            f"{where} refused the login ({error.smtp_code}): check smtp_username and "
            "smtp_password",
            type="SmtpLoginRefused", non_retryable=True,
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        why = error.verify_message or "verification failed"
        return ApplicationError(
            f"{where}: its certificate is not trusted ({why}); check smtp_ca_file",
            type="SmtpCertificateRejected", non_retryable=True,
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        # smtplib's own words: "STARTTLS extension not supported by server." or AUTH's.
        said = str(error).rstrip(".").replace(" by server", "")
        return ApplicationError(
            f"{where}: {said}; check smtp_security", type="SmtpNotSupported", non_retryable=True
        )
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return ApplicationError(
            f"{where}: recipient refused", type="SmtpRejected", non_retryable=True
        )
    if isinstance(error, smtplib.SMTPResponseException):
        if 500 <= error.smtp_code < 600:
            return ApplicationError(
                f"{where}: rejected with {error.smtp_code}", type="SmtpRejected",
                non_retryable=True,
            )
        return ApplicationError(
            f"{where}: deferred with {error.smtp_code}", type="SmtpUnavailable"
        )
    reason = getattr(error, "reason", None) if isinstance(error, ssl.SSLError) else None
    return ApplicationError(
        f"{where} unavailable: {reason or type(error).__name__}", type="SmtpUnavailable"
    )


async def relay(
    transport: SmtpTransport, message: EmailMessage, timeout: float | None = None
) -> None:
    """Send off the event loop; an ApplicationError (failure()) if the relay did not take it."""
    try:
        await asyncio.to_thread(send_blocking, transport, message, timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise failure(transport, error) from None
