"""Referral packets as stored: fetched to a directory (`caseflow case packet`) or handed out as
short-lived download links (the API), each link audited under the identity that asked."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client

from activities.audit import AuditAction, AuditEvent, AuditTrail
from activities.s3_client import build_s3_client
from caseflow.case_status import HospitalReferralStatus
from caseflow.settings import CaseflowSettings
from client.cases import case_status

LINK_LIFETIME = timedelta(minutes=15)


class PacketFile(BaseModel):
    name: str
    size: int
    url: str


class PacketLinks(BaseModel):
    case_id: str
    hospital_id: str
    packet_id: str
    expires_at: datetime
    files: list[PacketFile]


async def stored_referral(client: Client, case_id: str, hospital_id: str) -> HospitalReferralStatus:
    """The referral whose packet is stored; LookupError in the CLI's words otherwise."""
    status = await case_status(client, case_id)
    referral = next((h for h in status.hospitals if h.hospital_id == hospital_id), None)
    if referral is None:
        known = ", ".join(h.hospital_id for h in status.hospitals) or "none yet"
        raise LookupError(f"HOSPITAL_ID: the case has no referral to {hospital_id!r}; has {known}")
    if not referral.packet_prefix:
        raise LookupError(
            f"HOSPITAL_ID: the packet for {hospital_id!r} is not stored yet "
            f"(referral is {referral.state.value})"
        )
    return referral


def _packet_objects(s3, bucket: str, prefix: str) -> Iterator[dict]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


async def fetch_packet(
    client: Client, settings: CaseflowSettings, case_id: str, hospital_id: str, out_dir: Path
) -> list[Path]:
    """Download the packet the referral stored for a hospital (letters, FHIR bundle, index,
    manifest), exactly as stored, into out_dir/<hospital_id>/<file name>, so every hospital's
    packet fetched to one directory keeps its own files. Returns the written paths."""
    referral = await stored_referral(client, case_id, hospital_id)
    prefix = referral.packet_prefix or ""
    hospital_dir = out_dir / hospital_id  # a checked id: a-z, 0-9 and '-' only

    def download() -> list[Path]:
        from boto3.s3.transfer import S3Transfer  # boto3's transfer manager, for this path only

        s3 = build_s3_client(settings)
        hospital_dir.mkdir(parents=True, exist_ok=True)
        written = []
        with S3Transfer(s3) as transfer:
            for item in _packet_objects(s3, settings.s3_bucket, prefix):
                target = hospital_dir / item["Key"].removeprefix(prefix).replace("/", "_")
                transfer.download_file(settings.s3_bucket, item["Key"], str(target))
                written.append(target)
        return written

    written = await asyncio.to_thread(download)
    if not written:
        raise LookupError(f"HOSPITAL_ID: no packet objects under the referral for {hospital_id!r}")
    return written


async def packet_links(
    client: Client, settings: CaseflowSettings, case_id: str, hospital_id: str, *, actor: str
) -> PacketLinks:
    """Fresh links to every file of a stored packet, valid for LINK_LIFETIME; one audit entry
    names the identity, the packet and how many links it was given."""
    referral = await stored_referral(client, case_id, hospital_id)
    prefix = referral.packet_prefix or ""
    expires_at = datetime.now(UTC) + LINK_LIFETIME

    def presign() -> list[PacketFile]:
        s3 = build_s3_client(settings)
        files = [
            PacketFile(
                name=item["Key"].removeprefix(prefix),
                size=item["Size"],
                url=s3.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": settings.s3_bucket, "Key": item["Key"]},
                    ExpiresIn=int(LINK_LIFETIME.total_seconds()),
                ),
            )
            for item in _packet_objects(s3, settings.s3_bucket, prefix)
        ]
        AuditTrail(settings, s3).record(
            AuditEvent.now(
                case_id=case_id,
                action=AuditAction.PRESIGNED_URL_ISSUED,
                actor=actor,
                hospital_id=hospital_id,
                subject=referral.packet_id,
                detail={"links": len(files), "expires_at": expires_at.isoformat()},
            )
        )
        return files

    files = await asyncio.to_thread(presign)
    if not files:
        raise LookupError(f"HOSPITAL_ID: no packet objects under the referral for {hospital_id!r}")
    return PacketLinks(
        case_id=case_id,
        hospital_id=hospital_id,
        packet_id=referral.packet_id or "",
        expires_at=expires_at,
        files=files,
    )
