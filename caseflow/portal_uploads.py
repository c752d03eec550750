"""A patient's resumable upload from the portal, as the service keeps it: the plan of parts
(S3 multipart, each part PUT by the browser to a presigned URL), the checks of what S3 holds
before the upload is completed, and which abandoned uploads the sweeper aborts.

Pure (no I/O): activities/portal_uploads.py does the S3 calls. The record holds opaque ids and
sizes only, never the file's name (the browser sends it again at completion, and it then lives
in the DocumentRef, in encrypted workflow state only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow.documents import DocumentKind
from caseflow.ids import CaseId, DocumentId, document_key

MiB = 1024**2
# S3's own limits: parts of at least 5 MiB (but the last), at most 10,000 of them.
MIN_PART_BYTES = 5 * MiB
MAX_PARTS = 10_000
# Where the service keeps each upload's record: under the case's prefix, so erasing the case
# removes them with its documents.
INCOMING = "incoming"

UploadState = Literal["uploading", "completed", "aborted"]


class PortalUploadProblem(ValueError):
    """What S3 holds does not make up the declared file; the message names the part, never
    patient data."""


def part_size_for(size: int, chunk: int) -> int:
    """The part size for a file: the configured chunk, doubled until 10,000 parts hold it."""
    part = max(chunk, MIN_PART_BYTES)
    while size > part * MAX_PARTS:
        part *= 2
    return part


def record_key(case_id: str, upload_id: str) -> str:
    return f"cases/{case_id}/{INCOMING}/{upload_id}.json"


class PortalUpload(BaseModel):
    """One upload, keyed by its opaque id, which is also the id the document will have (random,
    not derived from the bytes: the multipart upload needs its key before any byte is sent)."""

    model_config = ConfigDict(extra="forbid")

    upload_id: DocumentId
    case_id: CaseId
    kind: DocumentKind
    size: int = Field(gt=0)
    part_size: int = Field(ge=MIN_PART_BYTES)
    s3_upload_id: str
    created_at: datetime
    expires_at: datetime
    state: UploadState = "uploading"
    # Set once completed and verified: what the case was given.
    sha256: str | None = None
    content_type: str | None = None

    @property
    def key(self) -> str:
        return document_key(self.case_id, self.upload_id)

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size)

    def part_length(self, number: int) -> int:
        """The exact size of part `number` (1-based); ValueError outside the plan."""
        if not 1 <= number <= self.part_count:
            raise PortalUploadProblem(f"part {number}: outside 1..{self.part_count}")
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


class StoredPart(BaseModel):
    """A part as S3 lists it (ListParts)."""

    number: int
    size: int
    etag: str
    checksum_sha256: str | None = None


def check_parts(upload: PortalUpload, parts: list[StoredPart]) -> list[StoredPart]:
    """The parts to complete with, in order, when they make up exactly the declared file: every
    part present once, each of its planned size. PortalUploadProblem otherwise."""
    by_number = {p.number: p for p in parts}
    missing = [n for n in range(1, upload.part_count + 1) if n not in by_number]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise PortalUploadProblem(f"parts: {len(missing)} not uploaded yet ({shown})")
    extra = sorted(n for n in by_number if n > upload.part_count)
    if extra:
        raise PortalUploadProblem(f"part {extra[0]}: beyond the file's {upload.part_count} parts")
    ordered = [by_number[n] for n in range(1, upload.part_count + 1)]
    for part in ordered:
        if part.size != upload.part_length(part.number):
            raise PortalUploadProblem(
                f"part {part.number}: {part.size} bytes, expected {upload.part_length(part.number)}"
            )
    return ordered


class PendingMultipart(BaseModel):
    """An unfinished multipart upload as ListMultipartUploads shows it."""

    key: str
    s3_upload_id: str
    initiated: datetime


def choose_aborts(
    pending: list[PendingMultipart], now: datetime, expiry: timedelta
) -> list[PendingMultipart]:
    """Which unfinished uploads the sweeper aborts: those under `cases/` begun longer than
    `expiry` ago. A portal upload's record expires then too; a CLI or worker upload takes minutes
    and aborts itself on failure, so one this old was abandoned by a process that died. Anything
    outside the documents' keys is not ours to touch."""
    return [
        upload
        for upload in pending
        if upload.key.startswith("cases/") and now - upload.initiated >= expiry
    ]
