"""A hospital's reply to its referral packet, from a signed callback or the reply link page: its
acknowledgement, its answer, the documents it uploads, and fresh links to the packet's files.

Both ways end in the same client calls as `case acknowledge` / `case respond`, under the same
validators; the event names who answered and carries the reply's idempotency key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client

from activities.audit import AuditAction, AuditEvent, AuditTrail
from activities.letters import packet_prefix
from activities.s3_client import build_s3_client
from caseflow.case_events import HospitalAcknowledgement, HospitalResponse
from caseflow.case_status import EventAck, HospitalReferralStatus
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.ids import DOCUMENT_ID_PATTERN, reply_upload_prefix
from caseflow.settings import CaseflowSettings
from client import cases
from client.documents import store_file
from client.referral_routes import PacketNotFound, PacketRoute, read_route

Via = Literal["signed callback", "reply link"]
# Fresh links last an hour: long enough to download a study, short enough not to be passed on.
FRESH_LINK_TTL = timedelta(hours=1)
# Set by caseflow, never by the hospital's body.
_SERVER_FIELDS = ("hospital_id", "answered_by", "reply_id")


def answered_by(hospital_id: str, via: Via) -> str:
    return f"hospital:{hospital_id} ({via})"


def reply_id(kind: Literal["cb", "link"], *parts: str) -> str:
    """An opaque reply id from the reply's idempotency key (a webhook-id, a form nonce) and what
    it is bound to: the same key for the same packet is the same reply."""
    return f"{kind}-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class PacketFile(BaseModel):
    """One file of the packet with a fresh presigned link."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str | None = None
    content_type: str
    size: int | None = None
    sha256: str
    url: str


class ReferralView(BaseModel):
    """What a hospital sees of its own referral: where it stands and its files. Its own answer,
    never anything about other hospitals."""

    model_config = ConfigDict(extra="forbid")

    packet_id: str
    hospital_id: str
    state: str
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    acknowledgement_reference: str | None
    decision: str | None
    responded_at: datetime | None
    can_acknowledge: bool
    can_answer: bool
    links_expire_at: datetime
    files: list[PacketFile]
    documents: list[PacketFile]
    uploads: list[DocumentRef]


_ANSWERABLE = {"packet_stored", "delivered", "awaiting_response", "needs_more_information"}


class HospitalReplies:
    """Holds the S3 client and the audit trail; one per web service."""

    def __init__(self, settings: CaseflowSettings, s3=None, audit: AuditTrail | None = None):
        self._settings = settings
        self._s3 = s3 or build_s3_client(settings)
        self._audit = audit or AuditTrail(settings)

    def close(self) -> None:
        self._s3.close()

    async def route(self, packet_id: str) -> PacketRoute:
        return await asyncio.to_thread(read_route, self._s3, self._settings, packet_id)

    # -- events -----------------------------------------------------------------------------------

    @staticmethod
    def _fields(body: dict[str, Any]) -> dict[str, Any]:
        for name in _SERVER_FIELDS:
            if name in body:
                raise ValueError(f"{name}: set by caseflow from the packet and the signature")
        return dict(body)

    async def acknowledge(
        self, client: Client, route: PacketRoute, body: dict[str, Any], via: Via, key: str
    ) -> EventAck:
        event = HospitalAcknowledgement.model_validate(
            {
                **self._fields(body),
                "hospital_id": route.hospital_id,
                "answered_by": answered_by(route.hospital_id, via),
                "reply_id": key,
            }
        )
        return await cases.record_hospital_acknowledgement(client, route.case_id, event)

    async def answer(
        self, client: Client, route: PacketRoute, body: dict[str, Any], via: Via, key: str
    ) -> EventAck:
        fields = self._fields(body)
        documents = await asyncio.to_thread(self._resolve, route, fields.pop("documents", []))
        event = HospitalResponse.model_validate(
            {
                **fields,
                "hospital_id": route.hospital_id,
                "documents": documents,
                "answered_by": answered_by(route.hospital_id, via),
                "reply_id": key,
            }
        )
        return await cases.record_hospital_response(client, route.case_id, event)

    # -- the hospital's documents -------------------------------------------------------------

    async def store_upload(
        self, client: Client, route: PacketRoute, path: Path, kind: DocumentKind
    ) -> DocumentRef:
        """Store a file the hospital sent under the same checks as `case upload`, and remember it
        for this packet, so an answer can name it by id. Content-addressed: a repeat is a no-op."""
        await cases.ensure_open(client, route.case_id)
        ref = await asyncio.to_thread(store_file, self._settings, route.case_id, path, kind)
        key = reply_upload_prefix(route.case_id, route.packet_id) + f"{ref.document_id}.json"
        await asyncio.to_thread(
            self._s3.put_object,
            Bucket=self._settings.s3_bucket,
            Key=key,
            Body=ref.model_dump_json().encode(),
            ContentType="application/json",
        )
        return ref

    def uploads(self, route: PacketRoute) -> list[DocumentRef]:
        prefix = reply_upload_prefix(route.case_id, route.packet_id)
        found = []
        pages = self._s3.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self._settings.s3_bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self._settings.s3_bucket, Key=item["Key"])
                found.append(DocumentRef.model_validate_json(body["Body"].read()))
        return sorted(found, key=lambda ref: ref.uploaded_at)

    def _resolve(self, route: PacketRoute, given: Any) -> list[DocumentRef]:
        """Documents named by id (or as the DocumentRef the upload returned), each one this
        hospital uploaded for this packet."""
        if not isinstance(given, list):
            raise ValueError("documents: a list of document ids")
        uploaded = {ref.document_id: ref for ref in self.uploads(route)}
        refs = []
        for item in given:
            document_id = item.get("document_id") if isinstance(item, dict) else item
            if not isinstance(document_id, str) or document_id not in uploaded:
                # Only a well-formed id is repeated back, never arbitrary input.
                valid = isinstance(document_id, str) and DOCUMENT_ID_PATTERN.fullmatch(document_id)
                shown = document_id if valid else ""
                raise ValueError(
                    f"documents: {shown or 'a document'} was not uploaded for this referral; "
                    "POST it to .../documents first"
                )
            if uploaded[document_id] not in refs:
                refs.append(uploaded[document_id])
        return refs

    # -- what the hospital sees -----------------------------------------------------------------

    async def referral(self, client: Client, route: PacketRoute, via: str) -> ReferralView:
        status = await cases.case_status(client, route.case_id)
        referral = next(
            (
                h
                for h in status.hospitals
                if h.hospital_id == route.hospital_id and h.packet_id == route.packet_id
            ),
            None,
        )
        if referral is None:
            raise PacketNotFound(f"packet_id: no referral packet {route.packet_id}")
        return await asyncio.to_thread(self._view, route, referral, via)

    def _manifest(self, route: PacketRoute) -> dict[str, Any]:
        key = packet_prefix(route.case_id, route.packet_id) + "manifest.json"
        try:
            body = self._s3.get_object(Bucket=self._settings.s3_bucket, Key=key)["Body"].read()
        except ClientError:
            raise PacketNotFound(f"packet_id: packet {route.packet_id} is not stored") from None
        return json.loads(body)

    def _presign(self, key: str) -> str:
        return self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._settings.s3_bucket, "Key": key},
            ExpiresIn=int(FRESH_LINK_TTL.total_seconds()),
        )

    def _view(self, route: PacketRoute, referral: HospitalReferralStatus, via: str) -> ReferralView:
        manifest = self._manifest(route)
        issued = datetime.now(UTC)
        files = []
        for name, key_field, sha_field, content_type in (
            ("letter.pdf", "letter_pdf_key", "letter_pdf_sha256", "application/pdf"),
            ("letter.html", "letter_key", "letter_sha256", "text/html"),
            ("bundle.json", "bundle_key", "bundle_sha256", "application/fhir+json"),
        ):
            if manifest.get(key_field):
                files.append(
                    PacketFile(
                        name=name,
                        content_type=content_type,
                        sha256=manifest.get(sha_field) or "",
                        url=self._presign(manifest[key_field]),
                    )
                )
        documents = [
            PacketFile(
                name=d["document_id"],
                kind=d["kind"],
                content_type=d["content_type"],
                size=d["size"],
                sha256=d["sha256"],
                url=self._presign(d["key"]),
            )
            for d in manifest["documents"]
        ]
        expires_at = issued + FRESH_LINK_TTL
        self._audit.record(
            AuditEvent.now(
                case_id=route.case_id,
                action=AuditAction.PRESIGNED_URL_ISSUED,
                actor=f"hospital:{route.hospital_id}",
                hospital_id=route.hospital_id,
                subject=route.packet_id,
                detail={
                    "via": via,
                    "presigned_links": len(files) + len(documents),
                    "links_expire_at": expires_at.isoformat(),
                },
            )
        )
        state = referral.state.value
        return ReferralView(
            packet_id=route.packet_id,
            hospital_id=route.hospital_id,
            state=state,
            delivered_at=referral.delivered_at,
            acknowledged_at=referral.acknowledged_at,
            acknowledgement_reference=referral.acknowledgement_reference,
            decision=referral.response.decision.value if referral.response else None,
            responded_at=referral.responded_at,
            can_acknowledge=referral.acknowledged_at is None
            and referral.delivered_at is not None
            and state in _ANSWERABLE,
            can_answer=state in _ANSWERABLE,
            links_expire_at=expires_at,
            files=files,
            documents=documents,
            uploads=self.uploads(route),
        )
