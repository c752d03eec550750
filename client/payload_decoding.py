"""Decoding payloads for a person or tool, with the audit entry first: Temporal's remote codec
protocol, shared by the web service's ops view and the bearer-token codec server.

A decode names who asked and, from the page they were on, the workflow and so the case; the entry
is written before anything is decrypted, and no entry means no plaintext.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import unquote, urlparse

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from activities.audit import AuditAction, AuditEvent, AuditTrail
from caseflow.keyring import load_keyring
from caseflow.payload_codec import EncryptionCodec, PayloadDecryptionError
from caseflow.settings import CaseflowSettings

__all__ = [
    "AuditUnavailable",
    "BadPayloads",
    "PayloadDecoder",
    "PayloadDecryptionError",
    "case_of_workflow",
    "payloads_json",
    "read_payloads",
    "workflow_of",
]

_WORKFLOW_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")
_CASE_OF_WORKFLOW = re.compile(r"^case-([a-z2-7]{26})(?:-referral-[a-z0-9-]+)?$")
_IDENTITY = re.compile(r"^[A-Za-z0-9@._:/+-]{1,120}$")


class BadPayloads(ValueError):
    """The body is not a `{"payloads": [...]}` object in protobuf JSON."""


class AuditUnavailable(RuntimeError):
    """The audit entry could not be written, so nothing was decoded."""


def workflow_of(explicit: str | None, referer: str | None) -> str | None:
    """The workflow a decode is for: an explicit X-Workflow-Id, else the UI page in Referer
    (`.../workflows/<workflow id>/<run id>/...`). None when neither names a well-formed id."""
    candidate = explicit
    if candidate is None:
        match = re.search(r"/workflows/([^/]+)", urlparse(referer or "").path)
        candidate = unquote(match.group(1)) if match else None
    return candidate if candidate and _WORKFLOW_ID.fullmatch(candidate) else None


def case_of_workflow(workflow_id: str | None) -> str | None:
    """The case a workflow belongs to: `case-<id>` and `case-<id>-referral-<hospital>`."""
    match = _CASE_OF_WORKFLOW.fullmatch(workflow_id or "")
    return match.group(1) if match else None


def read_payloads(body: bytes) -> Payloads:
    try:
        return json_format.Parse(body, Payloads())
    except (json_format.ParseError, UnicodeDecodeError) as error:
        raise BadPayloads("body: not a JSON {payloads: [...]} object") from error


def payloads_json(payloads: Payloads) -> str:
    return json_format.MessageToJson(payloads)


class PayloadDecoder:
    """The codec and the audit trail together, so no caller can decode without the entry."""

    def __init__(self, codec: EncryptionCodec, audit: AuditTrail):
        self.codec = codec
        self.audit = audit

    @classmethod
    def from_settings(cls, settings: CaseflowSettings) -> PayloadDecoder:
        # refresh: a long-running decoder follows `caseflow keys rotate` without a restart.
        codec = EncryptionCodec(load_keyring(settings), refresh=lambda: load_keyring(settings))
        return cls(codec, AuditTrail(settings))

    async def decode(
        self,
        payloads: Payloads,
        actor: str,
        workflow_id: str | None,
        namespace: str = "",
        claimed_user: str | None = None,
    ) -> Payloads:
        """Audit, then decrypt. Raises AuditUnavailable (nothing decrypted) or
        PayloadDecryptionError (a foreign key or tampered bytes; the message holds no data)."""
        detail: dict[str, str | int | bool | None] = {
            "payloads": len(payloads.payloads),
            "key_ids": ",".join(sorted({k for k in self.codec.key_ids(payloads.payloads) if k})),
            "namespace": namespace[:100],
        }
        if claimed_user and _IDENTITY.fullmatch(claimed_user):
            detail["claimed_user"] = claimed_user
        event = AuditEvent.now(
            case_id=case_of_workflow(workflow_id),
            action=AuditAction.PAYLOADS_DECODED,
            actor=actor,
            workflow_id=workflow_id,
            detail=detail,
        )
        try:
            await asyncio.to_thread(self.audit.record, event)
        except Exception as error:  # noqa: BLE001 - whatever broke, the answer is the same refusal
            raise AuditUnavailable("audit trail unavailable; decode refused") from error
        return Payloads(payloads=await self.codec.decode(payloads.payloads))

    async def encode(self, payloads: Payloads) -> Payloads:
        """Encrypt (the UI's "encode" for a signal or start input): reveals nothing, not audited."""
        return Payloads(payloads=await self.codec.encode(payloads.payloads))
