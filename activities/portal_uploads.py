"""The S3 side of the portal's resumable uploads: begin a multipart upload under the case's
prefix, presign each part's PUT with the SHA-256 the browser computed (S3 refuses a part whose
bytes differ: BadDigest), list what is there to resume, complete, and verify the whole file's
SHA-256 by reading the object back with bounded memory; and the sweeper that aborts abandoned
uploads. The bytes go from the browser straight to S3, never through the service.

The checks of `case upload` apply (activities/document_content.py): the name and the size when
the upload begins, the type sniffed from the first bytes then (so a wrong file fails before
gigabytes move) and again from the stored object's bytes, which decide.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError
from temporalio.exceptions import ApplicationError

from activities.document_content import (
    UNKNOWN,
    check_document,
    check_filename,
    content_type_of,
    mismatch,
    rejected,
)
from activities.s3_client import build_s3_client, is_missing
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.ids import new_case_id
from caseflow.portal_uploads import (
    PendingMultipart,
    PortalUpload,
    PortalUploadProblem,
    StoredPart,
    check_parts,
    choose_aborts,
    part_size_for,
    record_key,
)
from caseflow.settings import CaseflowSettings

MiB = 1024**2
SNIFF_BYTES = 64 * 1024
# How long one presigned part URL works: long enough for a slow home connection to send one part.
PART_URL_SECONDS = 3600
# The verifying read streams the object in blocks of this size.
VERIFY_BLOCK = MiB


def checksum_from_b64(value: str) -> str:
    """A part's SHA-256 as S3 wants it (base64 of 32 bytes); rejected otherwise."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise rejected("sha256: must be the base64 of a 32-byte SHA-256")
    return value


def sent_checksums(values: list[str | None], part_count: int) -> dict[int, str]:
    """The parts' checksums the page sent at completion, by part number (a gap is a part the
    page no longer knows, e.g. one sent before it kept them)."""
    if len(values) > part_count:
        raise rejected(f"part_sha256: more than the file's {part_count} parts")
    sent = {}
    for number, value in enumerate(values, 1):
        if value is None:
            continue
        try:
            sent[number] = checksum_from_b64(value)
        except ApplicationError:
            raise rejected(
                f"part_sha256: part {number}'s is not the base64 of a 32-byte SHA-256"
            ) from None
    return sent


def parts_prefix(upload: PortalUpload) -> str:
    return record_key(upload.case_id, upload.upload_id).removesuffix(".json") + ".parts/"


class PortalUploadStore:
    """One S3 client for the documents bucket; every call names the case the visitor holds."""

    def __init__(self, settings: CaseflowSettings) -> None:
        self._settings = settings
        self._bucket = settings.s3_bucket
        self._client = build_s3_client(settings, pool=10)
        self._expiry = timedelta(hours=settings.portal_upload_expiry_hours)
        self._abandoned_after = timedelta(hours=settings.incomplete_upload_expiry_hours)

    def close(self) -> None:
        self._client.close()

    # --- records --------------------------------------------------------------------------------

    def _save(self, upload: PortalUpload) -> None:
        self._client.put_object(
            Bucket=self._bucket,
            Key=record_key(upload.case_id, upload.upload_id),
            Body=upload.model_dump_json().encode(),
            ContentType="application/json",
        )

    def load(self, case_id: str, upload_id: str) -> PortalUpload | None:
        """The upload's record, or None (unknown, or another case's: the id alone finds
        nothing outside the visitor's case)."""
        try:
            answer = self._client.get_object(
                Bucket=self._bucket, Key=record_key(case_id, upload_id)
            )
        except ClientError as error:
            if is_missing(error):
                return None
            raise
        return PortalUpload.model_validate(json.loads(answer["Body"].read()))

    # --- begin, presign, list -------------------------------------------------------------------

    def begin(
        self, case_id: str, kind: DocumentKind, size: int, file_name: str, head: bytes
    ) -> PortalUpload:
        """Start an upload after the checks `case upload` makes, on what is known so far: the
        name (not kept), the declared size and the type of the first bytes."""
        check_filename(file_name)
        content_type = content_type_of(head[:SNIFF_BYTES]) if head else UNKNOWN
        # A zip's kind is known only from its directory; the stored bytes decide at the end.
        check_document(kind, size, content_type, self._settings.max_document_bytes)
        upload_id = "d" + new_case_id()
        now = datetime.now(UTC)
        s3_upload_id = self._client.create_multipart_upload(
            Bucket=self._bucket,
            Key=f"cases/{case_id}/{upload_id}",
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
        )["UploadId"]
        upload = PortalUpload(
            upload_id=upload_id,
            case_id=case_id,
            kind=kind,
            size=size,
            part_size=part_size_for(size, self._settings.multipart_chunk_bytes),
            s3_upload_id=s3_upload_id,
            created_at=now,
            expires_at=now + self._expiry,
        )
        self._save(upload)
        return upload

    def presign_part(self, upload: PortalUpload, number: int, sha256_b64: str) -> str:
        """A PUT URL for one part that S3 accepts only with exactly this SHA-256 (the checksum
        is signed into the URL, and the server checks the bytes against it). Nothing is
        written: the completion names each part's checksum from ListParts (AWS) or as the page
        sends them (SeaweedFS's ListParts has none)."""
        self._require_open(upload)
        upload.part_length(number)
        checksum = checksum_from_b64(sha256_b64)
        return self._client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": self._bucket,
                "Key": upload.key,
                "UploadId": upload.s3_upload_id,
                "PartNumber": number,
                "ChecksumSHA256": checksum,
            },
            ExpiresIn=PART_URL_SECONDS,
        )

    def stored_parts(self, upload: PortalUpload) -> list[StoredPart]:
        """What S3 holds of the upload: how the browser resumes (ListParts, every page)."""
        if upload.state != "uploading":
            return []
        parts: list[StoredPart] = []
        pages = self._client.get_paginator("list_parts")
        try:
            for page in pages.paginate(
                Bucket=self._bucket, Key=upload.key, UploadId=upload.s3_upload_id
            ):
                parts += [
                    StoredPart(
                        number=p["PartNumber"],
                        size=p["Size"],
                        etag=p["ETag"],
                        checksum_sha256=p.get("ChecksumSHA256"),
                    )
                    for p in page.get("Parts", [])
                ]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "NoSuchUpload":
                raise rejected("upload: has expired or was cancelled; start it again") from None
            raise
        return parts

    def _require_open(self, upload: PortalUpload) -> None:
        if upload.state != "uploading" or upload.expired(datetime.now(UTC)):
            raise rejected("upload: has expired or was cancelled; start it again")

    # --- complete and verify ----------------------------------------------------------------------

    def complete(
        self,
        upload: PortalUpload,
        sha256: str,
        file_name: str,
        part_sha256: list[str | None] | None = None,
    ) -> DocumentRef:
        """Complete the upload once S3 holds every planned part, then read the object back and
        accept it only if its SHA-256 is the one the browser computed and its sniffed type suits
        the kind; otherwise the object is deleted. Repeating it returns the same ref.
        `part_sha256` is each part's SHA-256 (base64, part 1 first) as the page signed it into
        the part's URL; S3 checked each part against it when the part arrived."""
        check_filename(file_name)
        sent = sent_checksums(part_sha256 or [], upload.part_count)
        if upload.state == "completed":
            if upload.sha256 != sha256:
                raise mismatch("sha256: differs from the completed upload's")
            return self._ref(upload, file_name)
        self._require_open(upload)
        try:
            ordered = check_parts(upload, self.stored_parts(upload))
        except PortalUploadProblem as problem:
            raise rejected(str(problem)) from None
        unnamed = [p for p in ordered if p.checksum_sha256 is None and p.number not in sent]
        # Uploads begun before the page sent its checksums declared them in marker objects.
        declared = self.declared_checksums(upload) if unnamed else {}
        parts = []
        for part in ordered:
            checksum = part.checksum_sha256 or sent.get(part.number) or declared.get(part.number)
            if checksum is None:
                raise rejected(f"part {part.number}: its checksum was never declared")
            parts.append({"PartNumber": part.number, "ETag": part.etag, "ChecksumSHA256": checksum})
        answer = self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=upload.key,
            UploadId=upload.s3_upload_id,
            MultipartUpload={"Parts": parts},
        )
        version = answer.get("VersionId")
        try:
            found, head = self.stored_sha256(upload.key, upload.size)
            if found != sha256:
                raise mismatch("sha256: the stored file differs from the one in your browser")
            content_type = content_type_of(head)
            check_document(
                upload.kind, upload.size, content_type, self._settings.max_document_bytes
            )
        except BaseException:
            self._delete_version(upload.key, version)
            self._finish(upload, "aborted")
            raise
        upload.sha256, upload.content_type = sha256, content_type
        self._finish(upload, "completed")
        return self._ref(upload, file_name)

    def declared_checksums(self, upload: PortalUpload) -> dict[int, str]:
        """Each part's SHA-256 as the browser declared it when asking for its URL, for uploads
        begun when the service kept one empty marker object per part (the latest request for a
        part wins: its URL is the one whose PUT S3 accepted last)."""
        prefix = parts_prefix(upload)
        found: dict[int, tuple[datetime, str]] = {}
        pages = self._client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                number, token = item["Key"][len(prefix) :].split("-", 1)
                raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
                seen = found.get(int(number))
                if seen is None or item["LastModified"] >= seen[0]:
                    found[int(number)] = (item["LastModified"], base64.b64encode(raw).decode())
        return {number: checksum for number, (_, checksum) in found.items()}

    def _ref(self, upload: PortalUpload, file_name: str) -> DocumentRef:
        assert upload.sha256 is not None and upload.content_type is not None
        return DocumentRef(
            document_id=upload.upload_id,
            case_id=upload.case_id,
            kind=upload.kind,
            key=upload.key,
            sha256=upload.sha256,
            size=upload.size,
            content_type=upload.content_type,
            original_filename=file_name,
            uploaded_at=upload.created_at,
        )

    def stored_sha256(self, key: str, size: int) -> tuple[str, bytes]:
        """The SHA-256 of the stored object and its first bytes, from one streamed GET hashed
        block by block (about 1 MiB held at a time). One stream reads faster than SHA-256
        hashes on loopback, so ranged reads in parallel would only add memory."""
        digest = hashlib.sha256()
        head = b""
        count = 0
        body = self._client.get_object(Bucket=self._bucket, Key=key)["Body"]
        try:
            for block in body.iter_chunks(VERIFY_BLOCK):
                if len(head) < SNIFF_BYTES:
                    head += block[: SNIFF_BYTES - len(head)]
                digest.update(block)
                count += len(block)
        finally:
            body.close()
        if count != size:
            raise mismatch(f"file: {count} bytes stored, {size} declared")
        return digest.hexdigest(), head

    def _delete_version(self, key: str, version: str | None) -> None:
        with contextlib.suppress(Exception):
            if version:
                self._client.delete_object(Bucket=self._bucket, Key=key, VersionId=version)
            else:
                self._client.delete_object(Bucket=self._bucket, Key=key)

    def _finish(self, upload: PortalUpload, state: str) -> None:
        upload.state = state  # type: ignore[assignment]
        self._save(upload)

    def discard(self, case_id: str, upload_id: str) -> int:
        """Delete every version of a rejected upload's object (the case keeps only the reason);
        returns how many versions went."""
        key = f"cases/{case_id}/{upload_id}"
        pages = self._client.get_paginator("list_object_versions")
        batch = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for page in pages.paginate(Bucket=self._bucket, Prefix=key)
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if v["Key"] == key
        ]
        if batch:
            self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
            )
        return len(batch)

    # --- cancel and sweep -----------------------------------------------------------------------

    def cancel(self, upload: PortalUpload) -> None:
        """The patient gave up on this upload: its parts go at once."""
        if upload.state != "uploading":
            return
        with contextlib.suppress(ClientError):
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=upload.key, UploadId=upload.s3_upload_id
            )
        self._finish(upload, "aborted")

    def pending(self) -> list[PendingMultipart]:
        found: list[PendingMultipart] = []
        pages = self._client.get_paginator("list_multipart_uploads")
        for page in pages.paginate(Bucket=self._bucket, Prefix="cases/"):
            found += [
                PendingMultipart(key=u["Key"], s3_upload_id=u["UploadId"], initiated=u["Initiated"])
                for u in page.get("Uploads", [])
            ]
        return found

    def sweep(self, now: datetime | None = None, older_than: timedelta | None = None) -> int:
        """Abort every unfinished multipart upload under `cases/` (every key caseflow writes)
        begun longer ago than its expiry, and mark the portal's record of it aborted; returns
        how many were aborted. A portal upload expires when its record says it may no longer be
        resumed (portal_upload_expiry_hours); any other (a `case upload` or an API upload whose
        process died: they abort themselves on every error they live through) after
        incomplete_upload_expiry_hours. `older_than` replaces both (`caseflow uploads sweep`)."""
        now = now or datetime.now(UTC)
        other = older_than if older_than is not None else self._abandoned_after
        portal = older_than if older_than is not None else self._expiry
        aborted = 0
        for upload in choose_aborts(self.pending(), now, min(other, portal)):
            _, case_id, upload_id = upload.key.split("/", 2)
            record = self.load(case_id, upload_id) if "/" not in upload_id else None
            if record is not None and now - upload.initiated < portal:
                continue  # a patient may still resume it
            with contextlib.suppress(ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=upload.key, UploadId=upload.s3_upload_id
                )
            aborted += 1
            if record is not None and record.state == "uploading":
                self._finish(record, "aborted")
        return aborted
