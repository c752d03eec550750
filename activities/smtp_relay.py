"""Handing one message to the SMTP relay, for every mail caseflow sends on its own account
(coordinator notices, patients' notices, inquiry mail): a failure to reach the relay is retryable,
and its error names the server, never the recipient or anything the message says."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from temporalio.exceptions import ApplicationError


def send_blocking(host: str, port: int, timeout: float, message: EmailMessage) -> None:
    with smtplib.SMTP(host, port, timeout=timeout) as smtp:
        smtp.send_message(message)


async def relay(host: str, port: int, timeout: float, message: EmailMessage) -> None:
    """Send off the event loop; ApplicationError(SmtpUnavailable) if the relay cannot take it."""
    try:
        await asyncio.to_thread(send_blocking, host, port, timeout, message)
    except (OSError, smtplib.SMTPException) as error:
        raise ApplicationError(
            f"SMTP send to {host}:{port} failed: {type(error).__name__}", type="SmtpUnavailable"
        ) from None
