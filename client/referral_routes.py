"""Packet ids to their case and hospital: the routing objects `routes/packets/<packet_id>.json`
the packet activity writes once, read by the hospitals' reply path and removed by erasure."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caseflow.ids import PACKET_ID_PATTERN, packet_route_key
from caseflow.settings import CaseflowSettings


class PacketNotFound(LookupError):
    """No referral packet by that id (or not one the caller may see); names the id only."""


class PacketRoute(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    packet_id: str
    case_id: str = Field(pattern=r"^[a-z2-7]{26}$")
    hospital_id: str = Field(pattern=r"^[a-z0-9-]{1,60}$")


def _not_found(packet_id: str) -> PacketNotFound:
    return PacketNotFound(f"packet_id: no referral packet {packet_id}")


def read_route(s3, settings: CaseflowSettings, packet_id: str) -> PacketRoute:
    """The case and hospital a packet was made for; PacketNotFound otherwise."""
    if not PACKET_ID_PATTERN.fullmatch(packet_id):
        raise PacketNotFound("packet_id: not a packet id")
    try:
        body = s3.get_object(Bucket=settings.s3_bucket, Key=packet_route_key(packet_id))["Body"]
        data = json.loads(body.read())
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code", "")) in ("NoSuchKey", "404"):
            raise _not_found(packet_id) from None
        raise
    try:
        return PacketRoute(packet_id=packet_id, **data)
    except (TypeError, ValidationError):
        raise _not_found(packet_id) from None


def erase_routes(s3, settings: CaseflowSettings, packet_ids: set[str]) -> int:
    """Delete every version of the routing objects of these packets; returns how many."""
    deleted = 0
    for packet_id in sorted(packet_ids):
        key = packet_route_key(packet_id)
        pages = s3.get_paginator("list_object_versions")
        for page in pages.paginate(Bucket=settings.s3_bucket, Prefix=key):
            batch = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
                if item["Key"] == key
            ]
            if batch:
                s3.delete_objects(
                    Bucket=settings.s3_bucket, Delete={"Objects": batch, "Quiet": True}
                )
                deleted += len(batch)
    return deleted
