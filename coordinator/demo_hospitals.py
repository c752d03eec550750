"""The demo's hospitals answering as real international departments would, through the service's
reply path: the webhook hospital signs a callback with its own secret, and the e-mail hospital
follows the reply link in the mail it received and fills in the page."""

from __future__ import annotations

import asyncio
import email
import json
import re
import time
import uuid
from email.message import Message
from pathlib import Path

import httpx

from caseflow.webhook_signature import parse_secret, sign

_REPLY_LINK = re.compile(r"https?://[^\s\"'<>]+/reply/[A-Za-z0-9._~:-]+")
_HIDDEN = re.compile(r'<input type="hidden" name="(csrf|nonce)" value="([^"]+)"')


class HospitalAnswerFailed(RuntimeError):
    """The service refused a demo hospital's answer; the message is the service's line."""


def _refused(response: httpx.Response) -> HospitalAnswerFailed:
    try:
        line = response.json().get("error", "")
    except ValueError:
        line = f"HTTP {response.status_code}"
    return HospitalAnswerFailed(f"{response.request.url.path}: {line}")


class SignedCallbackHospital:
    """A hospital system that answers over Standard Webhooks with its callback secret."""

    def __init__(self, service_url: str, hospital_id: str, secret: str):
        self.service_url = service_url.rstrip("/")
        self.hospital_id = hospital_id
        self._key = parse_secret(secret)

    async def _post(self, http: httpx.AsyncClient, path: str, body: bytes, content_type: str):
        webhook_id = f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time())
        response = await http.post(
            f"{self.service_url}{path}",
            content=body,
            headers={
                "content-type": content_type,
                "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self._key, webhook_id, timestamp, body),
            },
        )
        if response.status_code >= 300:
            raise _refused(response)
        return response.json()

    async def answer(
        self, packet_id: str, answer: dict, documents: list[tuple[str, bytes]], reference: str
    ) -> None:
        """Acknowledge, upload the documents, then answer naming them."""
        base = f"/hospitals/v1/referrals/{packet_id}"
        async with httpx.AsyncClient(timeout=60) as http:
            await self._post(
                http, f"{base}/acknowledgement", json.dumps({"reference": reference}).encode(),
                "application/json",
            )
            ids = []
            for kind, content in documents:
                stored = await self._post(
                    http, f"{base}/documents?kind={kind}", content, "application/octet-stream"
                )
                ids.append(stored["document_id"])
            body = json.dumps({**answer, "documents": ids}).encode()
            await self._post(http, f"{base}/response", body, "application/json")


def reply_link_in_mail(maildir: Path, packet_id: str) -> str | None:
    """The reply link of the packet's e-mail in a Maildir, if that mail has arrived."""
    for folder in ("new", "cur"):
        for path in sorted((maildir / folder).glob("*")) if (maildir / folder).is_dir() else []:
            message = email.message_from_bytes(path.read_bytes())
            text = _plain_text(message)
            if packet_id in text or packet_id in str(message.get("Subject", "")):
                found = _REPLY_LINK.search(text)
                if found:
                    return found.group(0)
    return None


def _plain_text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    texts = []
    for part in parts:
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                texts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(texts)


class ReplyLinkHospital:
    """A person in the international department who opens the link from the e-mail."""

    def __init__(self, maildir: Path):
        self.maildir = maildir

    async def link(self, packet_id: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = await asyncio.to_thread(reply_link_in_mail, self.maildir, packet_id)
            if found:
                return found
            await asyncio.sleep(0.2)
        raise HospitalAnswerFailed(f"no e-mail with a reply link for packet {packet_id}")

    async def answer(self, packet_id: str, answer: dict[str, str], reference: str) -> None:
        url = await self.link(packet_id)
        async with httpx.AsyncClient(timeout=60, follow_redirects=True) as browser:
            for action, fields in (
                ("acknowledgement", {"reference": reference}),
                ("answer", answer),
            ):
                page = await browser.get(url)
                if page.status_code != 200:
                    raise _refused(page)
                hidden = dict(_HIDDEN.findall(page.text))
                done = await browser.post(f"{url}/{action}", data={**hidden, **fields})
                if done.status_code >= 300 or 'class="field-error"' in done.text:
                    raise HospitalAnswerFailed(f"the reply page refused the {action}")
