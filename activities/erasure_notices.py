"""Erasure notices: tell a hospital that received a referral packet that the case was erased, by
its own channel (email, or a signed webhook event), so it deletes its copies. The client layer
sends them after an erasure (client/erasure.py); no workflow does, so they are not activities.

A notice names only opaque ids (case, packet, hospital) and the time: never patient data. Its
Message-ID or webhook-id derives from the packet id, so sending it again is recognisably the same
notice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING

from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.audit import AuditAction, AuditTrail, activity_event
from activities.email_delivery import contact_lines, reply_to
from activities.payloads import ErasureNotice, NoticeSent
from activities.smtp_relay import SmtpTransport, relay
from caseflow.webhook_signature import parse_secret, sign

if TYPE_CHECKING:
    import httpx  # loaded by whoever makes the client, not by every importer (the web service)


def erasure_body(notice: ErasureNotice) -> str:
    contact = notice.contact
    confirm_to = (
        f"{contact.name} ({contact.email})" if contact is not None else "the referring coordinator"
    )
    lines = [
        f"Erasure notice for referral packet {notice.packet_id} (case {notice.case_id}).",
        "",
        "The patient has withdrawn consent. caseflow has erased this case's documents and",
        "referral packets; the links in the packet no longer work.",
        "",
        "Please delete every copy you hold of this packet, its letter and any records you",
        "downloaded from it, unless a law requires you to keep them, and confirm to",
        f"{confirm_to}.",
        "",
        f"Erased at {notice.erased_at.isoformat()}.",
    ]
    # The reply link died with the packet: the contact is written to directly.
    lines += contact_lines(contact, None)
    return "\n".join(lines) + "\n"


class ErasureNotices:
    """Holds the SMTP transport, the HTTP client and the webhook secrets."""

    def __init__(
        self,
        *,
        smtp: SmtpTransport,
        sender: str,
        http: httpx.AsyncClient,
        webhook_secrets: Mapping[str, str | SecretStr],
        audit: AuditTrail | None = None,
    ) -> None:
        self._smtp, self._sender = smtp, sender
        self._http = http
        self._secrets = {
            k: v.get_secret_value() if isinstance(v, SecretStr) else v
            for k, v in webhook_secrets.items()
        }
        self._audit = audit

    async def send_erasure_notice(self, notice: ErasureNotice) -> NoticeSent:
        hospital = notice.hospital
        if hospital.channel == "webhook" and hospital.webhook_url:
            sent = await self._webhook(notice)
        elif hospital.contact_email:
            sent = await self._email(notice)
        else:
            raise ApplicationError(
                f"hospital {hospital.hospital_id}: no channel for an erasure notice",
                type="NoticeUndeliverable",
                non_retryable=True,
            )
        if self._audit is not None:
            event = activity_event(
                case_id=notice.case_id,
                action=AuditAction.ERASURE_NOTICE_SENT,
                hospital_id=hospital.hospital_id,
                subject=notice.packet_id,
                detail={"channel": sent.channel, "receipt": sent.receipt},
            )
            await asyncio.to_thread(self._audit.record, event)
        return sent

    async def _email(self, notice: ErasureNotice) -> NoticeSent:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = notice.hospital.contact_email
        message["Subject"] = f"Erasure notice: referral packet {notice.packet_id}"
        message["Message-ID"] = f"<erasure-{notice.packet_id}@{self._sender.rsplit('@', 1)[-1]}>"
        message["Date"] = formatdate(usegmt=True)
        if (address := reply_to(notice.contact)) is not None:
            message["Reply-To"] = address  # the confirmation reaches them
        message.set_content(erasure_body(notice))

        try:
            await relay(self._smtp, message, 30)
        except ApplicationError as failed:
            raise ApplicationError(
                f"erasure notice to hospital {notice.hospital.hospital_id}: {failed.message}",
                type="EndpointUnavailable" if failed.type == "SmtpUnavailable" else failed.type,
                non_retryable=failed.non_retryable,
            ) from None
        return NoticeSent(
            hospital_id=notice.hospital.hospital_id,
            packet_id=notice.packet_id,
            channel="email",
            receipt=message["Message-ID"],
        )

    async def _webhook(self, notice: ErasureNotice) -> NoticeSent:
        hospital = notice.hospital
        secret = self._secrets.get(hospital.hospital_id)
        if secret is None:
            raise ApplicationError(
                f"no webhook secret configured for endpoint {hospital.hospital_id}",
                type="EndpointNotConfigured",
                non_retryable=True,
            )
        webhook_id = f"erasure-{notice.packet_id}"
        body = json.dumps(
            {
                "type": "referral.erasure",
                "timestamp": notice.erased_at.isoformat(),
                "data": {
                    "case_id": notice.case_id,
                    "hospital_id": hospital.hospital_id,
                    "packet_id": notice.packet_id,
                    "erased_at": notice.erased_at.isoformat(),
                    # Whom to confirm the deletion to.
                    "contact": notice.contact.model_dump(mode="json") if notice.contact else None,
                },
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(parse_secret(secret), webhook_id, timestamp, body),
        }
        where = f"erasure notice to endpoint {hospital.hospital_id}"
        assert hospital.webhook_url is not None
        import httpx

        try:
            response = await self._http.post(hospital.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise ApplicationError(
                f"{where}: unreachable ({type(error).__name__})", type="EndpointUnavailable"
            ) from None
        if not 200 <= response.status_code < 300:
            raise ApplicationError(
                f"{where}: answered {response.status_code}", type="EndpointUnavailable"
            )
        return NoticeSent(
            hospital_id=hospital.hospital_id,
            packet_id=notice.packet_id,
            channel="webhook",
            receipt=f"HTTP {response.status_code}",
        )
