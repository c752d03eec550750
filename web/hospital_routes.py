"""The hospitals' machine reply path: signed callbacks (Standard Webhooks, each hospital's own
secret) that acknowledge a referral packet, answer it and upload documents, and a hospital API
token's read of its own referral with fresh links."""

from __future__ import annotations

import json
import re
import tempfile
import time
from email.message import Message
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import SecretStr
from temporalio.client import Client

from activities.documents import check_filename
from caseflow import hospital_reply_task as task_mapping
from caseflow.case_status import EventAck
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.webhook_signature import (
    SignatureInvalid,
    body_mac,
    check_signatures,
    check_timestamp,
    parse_secret,
    signature_of,
    verify,
)
from client.hospital_replies import HospitalReplies, ReferralView, reply_id
from client.referral_routes import PacketNotFound, PacketRoute
from web.access import NotAuthenticated, Principal, Role, require_roles
from web.app import temporal_client
from web.errors import RequestTooLarge

router = APIRouter(prefix="/hospitals/v1/referrals", tags=["hospitals"])

# Standard Webhooks leaves the id's form to the sender; this keeps it an opaque token.
_WEBHOOK_ID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,200}$")
_UPLOAD_CHUNK = 1024 * 1024


def hospital_replies(request: Request) -> HospitalReplies:
    """The service's one HospitalReplies (S3 client, audit trail), made on first use."""
    state = request.app.state
    if getattr(state, "hospital_replies", None) is None:
        state.hospital_replies = HospitalReplies(state.settings)
    return state.hospital_replies


Replies = Annotated[HospitalReplies, Depends(hospital_replies)]


async def _temporal(request: Request) -> Client:
    # Asked for after the signature checks out, so an unsigned caller reaches nothing.
    return await temporal_client(request)


class SignedCall:
    """A callback's checked headers: the packet's route and the hospital's key."""

    def __init__(self, route: PacketRoute, key: bytes, webhook_id: str, timestamp: str,
                 signatures: str):
        self.route, self.key = route, key
        self.webhook_id, self.timestamp, self.signatures = webhook_id, timestamp, signatures


def _refused(reason: str) -> NotAuthenticated:
    # One wording for every bad signature, unknown packet or missing secret: a caller learns
    # nothing about which packets exist or whose they are.
    return NotAuthenticated(f"webhook-signature: {reason}")


async def _signed_call(request: Request, replies: HospitalReplies, packet_id: str) -> SignedCall:
    headers = request.headers
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp and signatures):
        raise _refused("send webhook-id, webhook-timestamp and webhook-signature")
    if not _WEBHOOK_ID.fullmatch(webhook_id):
        raise _refused("webhook-id: 1-200 of A-Z, a-z, 0-9 and ._:+/=-")
    try:
        check_timestamp(timestamp, time.time())
    except SignatureInvalid as error:
        raise _refused(str(error)) from None
    try:
        route = await replies.route(packet_id)
    except PacketNotFound:
        raise _refused("no webhook-signature matches") from None
    secrets: dict[str, SecretStr] = request.app.state.settings.hospital_callback_secrets
    secret = secrets.get(route.hospital_id)
    if secret is None:
        raise _refused("no webhook-signature matches")
    key = parse_secret(secret.get_secret_value())
    request.state.principal = Principal(
        identity=f"hospital:{route.hospital_id}",
        role=Role.HOSPITAL,
        hospital_id=route.hospital_id,
        via="signature",
    )
    return SignedCall(route, key, webhook_id, timestamp, signatures)


async def _signed_json(
    request: Request, replies: HospitalReplies, packet_id: str
) -> tuple[SignedCall, dict[str, Any]]:
    call = await _signed_call(request, replies, packet_id)
    body = await request.body()
    try:
        verify(call.key, call.webhook_id, call.timestamp, call.signatures, body, time.time())
    except SignatureInvalid as error:
        raise _refused(str(error)) from None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the body is a JSON object (caseflow's fields or a FHIR Task)")
    return call, data


def _answer(ack: EventAck, packet_id: str, key: str) -> dict[str, Any]:
    return {"packet_id": packet_id, "reply_id": key, "replayed": ack.replayed,
            "detail": ack.detail}


@router.post("/{packet_id}/acknowledgement")
async def acknowledge(
    packet_id: str, request: Request, replies: Replies
) -> dict[str, Any]:
    """The hospital received the packet: caseflow's `{"reference": ...}` or a FHIR Task with
    status `received`. The webhook-id is the idempotency key."""
    call, data = await _signed_json(request, replies, packet_id)
    client = await _temporal(request)
    if task_mapping.is_task(data):
        task = task_mapping.parse_task(data)
        task_mapping.check_referral(task, packet_id)
        data = task_mapping.acknowledgement_fields(task)
    key = reply_id("cb", call.route.hospital_id, packet_id, "acknowledgement", call.webhook_id)
    ack = await replies.acknowledge(client, call.route, data, "signed callback", key)
    return _answer(ack, packet_id, key)


@router.post("/{packet_id}/response")
async def respond(
    packet_id: str, request: Request, replies: Replies
) -> dict[str, Any]:
    """The hospital's answer: HospitalResponse's fields without hospital_id (documents by the
    ids .../documents returned) or a FHIR Task (README, "FHIR Task mapping")."""
    call, data = await _signed_json(request, replies, packet_id)
    client = await _temporal(request)
    if task_mapping.is_task(data):
        task = task_mapping.parse_task(data)
        task_mapping.check_referral(task, packet_id)
        data = task_mapping.response_fields(task)
    key = reply_id("cb", call.route.hospital_id, packet_id, "response", call.webhook_id)
    ack = await replies.answer(client, call.route, data, "signed callback", key)
    return _answer(ack, packet_id, key)


def upload_filename(request: Request, kind: DocumentKind) -> str:
    """The name from Content-Disposition (kept in workflow state only), else the kind."""
    header = request.headers.get("content-disposition")
    name = None
    if header:
        message = Message()
        message["content-disposition"] = header
        name = message.get_filename()
    name = name or kind.value
    check_filename(name)  # before any byte is written under it
    return name


@router.post("/{packet_id}/documents")
async def upload(
    packet_id: str,
    request: Request,
    replies: Replies,
    kind: Annotated[DocumentKind, Query(description="What the document is.")],
) -> DocumentRef:
    """A document the hospital sends (raw body, any size up to max_document_bytes), signed like
    the other callbacks; returns the DocumentRef whose document_id an answer names."""
    call = await _signed_call(request, replies, packet_id)
    name = upload_filename(request, kind)
    limit = request.app.state.settings.max_document_bytes
    mac = body_mac(call.key, call.webhook_id, int(call.timestamp))
    with tempfile.TemporaryDirectory(prefix="caseflow-reply-") as folder:
        path = Path(folder) / name
        size = 0
        with path.open("wb") as file:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLarge(f"file: is over {limit} bytes")
                mac.update(chunk)
                file.write(chunk)
        try:
            check_signatures(signature_of(mac), call.signatures)
        except SignatureInvalid as error:
            raise _refused(str(error)) from None
        return await replies.store_upload(await _temporal(request), call.route, path, kind)


@router.get("/{packet_id}")
async def referral(
    packet_id: str,
    request: Request,
    replies: Replies,
    principal: Annotated[Principal, Depends(require_roles(Role.HOSPITAL))],
) -> ReferralView:
    """The hospital's own referral: where it stands and fresh (one-hour, audited) links to the
    packet's files. Another hospital's packet is as unknown as a packet that never existed."""
    unknown = PacketNotFound(f"packet_id: no referral packet {packet_id} for your hospital")
    try:
        route = await replies.route(packet_id)
    except PacketNotFound:
        raise unknown from None
    if principal.hospital_id is None or route.hospital_id != principal.hospital_id:
        raise unknown
    return await replies.referral(await _temporal(request), route, "token")
