"""The S3 document store: store, verify, presign and erase a case's documents. The client layer
calls it directly (the CLI uploads client-side, so file bytes never travel through Temporal);
erase_case_documents is also an activity. The bytes move through activities/s3_transfer.py, and
what a file may be is activities/document_content.py's.

Design of *store*: the key `cases/<case_id>/<document_id>` derives from the file's SHA-256, so the
file is read twice: a first pass hashes it (the whole file, and each multipart part), then the
upload sends each part with that part's SHA-256 as the S3 checksum. The server rejects any part
whose bytes differ from the first pass (SeaweedFS and AWS both answer BadDigest), so the stored
object is exactly the bytes the whole-file hash describes, even if the file changes in between.
Reading a local file twice is simpler and cheaper than uploading to a staging key and copying,
and memory stays bounded: parts are streamed from the file, never held whole. Any failure aborts
the multipart upload, so no partial object is left. Uploads are conditional (If-None-Match), so
a repeated or concurrent store of the same bytes in the same case returns the same DocumentRef
and never writes a second version.

S3 metadata holds only content-derived values (sha256, the expected S3 checksum, the upload
time), never the original filename or anything about the patient.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities.audit import AuditAction, AuditTrail, activity_event
from activities.document_content import (
    UNKNOWN,
    check_document,
    check_filename,
    detect_content_type,
    mismatch,
    rejected,
)
from activities.failures import step_activity
from activities.payloads import (
    CaseErasure,
    DocumentCheck,
    EraseCaseDocumentsInput,
    PresignDocumentInput,
    PresignedUrl,
    StoreDocumentInput,
)
from activities.s3_client import (
    build_s3_client,
    check_presign_ttl,
    is_missing,
    presign_get,
)
from activities.s3_transfer import FileDigest, Progress, S3Transfer, b64_digest
from caseflow.documents import DocumentRef
from caseflow.ids import document_id_for, document_key
from caseflow.settings import CaseflowSettings

# --- The store ------------------------------------------------------------------------------------


class DocumentStore:
    """One boto3 client for the documents bucket, and a small thread pool for multipart parts.

    `erase_case_documents` is an activity (synchronous, so it runs on the worker's thread pool);
    the other methods are called directly by the client layer, and `store` and `fetch` take a
    progress callback.
    """

    def __init__(
        self, settings: CaseflowSettings, max_concurrency: int = 8, audit: AuditTrail | None = None
    ) -> None:
        self._settings = settings
        # Presigned links and erasures are recorded in the audit trail when one is given.
        self._audit = audit
        self._bucket = settings.s3_bucket
        # Parts carry their own SHA-256 checksum, so SigV4 need not hash the payload again.
        self._client = build_s3_client(
            settings, read_timeout=120, pool=max_concurrency + 4, sign_payload=False
        )
        self._parts = ThreadPoolExecutor(max_concurrency, thread_name_prefix="s3-part")
        self._transfer = S3Transfer(self._client, self._bucket, self._parts)

    def close(self) -> None:
        self._parts.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    # --- store ----------------------------------------------------------------------------------

    def store_document(self, request: StoreDocumentInput) -> DocumentRef:
        """`store` with progress heartbeated, for a caller inside an activity."""
        return self.store(request, progress=_heartbeat_progress())

    def store(self, request: StoreDocumentInput, progress: Progress | None = None) -> DocumentRef:
        path = Path(request.path)
        filename = request.original_filename or path.name
        check_filename(filename)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise rejected("file: is not a regular file")
            content_type = detect_content_type(path) if size else UNKNOWN
        except OSError as error:
            # The path may name the patient, so the message does not repeat it.
            reason = error.strerror or type(error).__name__
            raise rejected(f"file: cannot be read ({reason})") from None
        check_document(request.kind, size, content_type, self._settings.max_document_bytes)

        multipart = size > self._settings.multipart_threshold_bytes
        part_size = self._part_size(size) if multipart else None
        digest = FileDigest(path, size, part_size)
        if digest.size != size:
            raise rejected("file: changed while it was being read")
        document_id = document_id_for(request.case_id, digest.sha256)
        key = document_key(request.case_id, document_id)

        def ref(uploaded_at: datetime) -> DocumentRef:
            return DocumentRef(
                document_id=document_id,
                case_id=request.case_id,
                kind=request.kind,
                key=key,
                sha256=digest.sha256,
                size=size,
                content_type=content_type,
                original_filename=filename,
                uploaded_at=uploaded_at,
            )

        # Large uploads look first, so a repeat costs one request rather than a re-upload; small
        # ones rely on the conditional put alone.
        if multipart:
            existing = self._stored_upload_time(key, digest.sha256)
            if existing is not None:
                if progress:
                    progress(size)
                return ref(existing)

        uploaded_at = datetime.now(UTC)
        metadata = {
            "sha256": digest.sha256,
            "checksum-sha256": digest.s3_checksum(),
            "uploaded-at": uploaded_at.isoformat(),
        }
        if multipart:
            assert part_size is not None
            created = self._transfer.put_multipart(
                path, key, content_type, metadata, digest, part_size, progress
            )
        else:
            created = self._transfer.put_single(path, key, content_type, metadata, digest, progress)
        if created:
            return ref(uploaded_at)
        # Another store of the same bytes won; it is the same document.
        existing = self._stored_upload_time(key, digest.sha256)
        if existing is None:
            # Still being written by that other store: retryable.
            raise ApplicationError(
                f"document {document_id}: another upload of it is in progress",
                type="StoreConflict",
            )
        if progress:
            progress(size)
        return ref(existing)

    def _part_size(self, size: int) -> int:
        # S3 allows at most 10,000 parts; grow the part for files beyond chunk × 10,000.
        chunk = self._settings.multipart_chunk_bytes
        while size > chunk * 10_000:
            chunk *= 2
        return chunk

    def _stored_upload_time(self, key: str, sha256: str) -> datetime | None:
        """When the object under `key` was stored, if it holds exactly these bytes."""
        head = self._head(key)
        if head is None or head.get("Metadata", {}).get("sha256") != sha256:
            return None
        stamp = head["Metadata"].get("uploaded-at")
        return datetime.fromisoformat(stamp) if stamp else head["LastModified"]

    def _head(self, key: str) -> dict | None:
        try:
            return self._client.head_object(Bucket=self._bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as error:
            if is_missing(error):
                return None
            raise

    # --- fetch ----------------------------------------------------------------------------------

    def fetch(self, ref: DocumentRef, destination: Path, progress: Progress | None = None) -> Path:
        """Download a document to `destination`, checking its SHA-256 on the way; ranged parts
        in parallel for large ones. The file appears only once complete and verified."""
        return self._transfer.fetch(
            ref, destination, self._settings.multipart_chunk_bytes, progress
        )

    # --- verify ---------------------------------------------------------------------------------

    def verify_document(self, ref: DocumentRef) -> DocumentCheck:
        """Read the stored object's size and checksum back; DocumentMismatch when they differ."""
        head = self._head(ref.key)
        if head is None:
            raise ApplicationError(
                f"document {ref.document_id}: not in the bucket",
                type="DocumentMissing",
                non_retryable=True,
            )
        metadata = head.get("Metadata", {})
        stored_checksum = head.get("ChecksumSHA256")
        expected_checksum = metadata.get("checksum-sha256")
        where = f"document {ref.document_id}"
        if head["ContentLength"] != ref.size:
            raise mismatch(f"{where}: size {head['ContentLength']} differs from {ref.size}")
        if metadata.get("sha256") != ref.sha256:
            raise mismatch(f"{where}: stored sha256 differs from the reference")
        if stored_checksum is None:
            raise mismatch(f"{where}: the object has no SHA-256 checksum")
        # A single-part object's checksum is the file's own SHA-256; a multipart one's is derived
        # from the part hashes, which the store recorded when it hashed the file.
        if "-" not in stored_checksum:
            expected_checksum = b64_digest(bytes.fromhex(ref.sha256))
        if stored_checksum != expected_checksum:
            raise mismatch(f"{where}: the server's checksum differs from the stored bytes' hash")
        return DocumentCheck(
            document_id=ref.document_id,
            size=head["ContentLength"],
            sha256=ref.sha256,
            s3_checksum=stored_checksum,
            version_id=head.get("VersionId"),
        )

    # --- presign --------------------------------------------------------------------------------

    def presign_document(self, request: PresignDocumentInput) -> PresignedUrl:
        """A time-limited GET URL for one document (default 24 h, at most 7 days)."""
        try:
            seconds = check_presign_ttl(request.expires_in, "expires_in")
        except ValueError as error:
            raise rejected(str(error)) from None
        issued = datetime.now(UTC)
        url = presign_get(self._client, self._bucket, request.ref.key, timedelta(seconds=seconds))
        expires_at = issued + timedelta(seconds=seconds)
        if self._audit is not None:
            self._audit.record(
                activity_event(
                    case_id=request.ref.case_id,
                    action=AuditAction.PRESIGNED_URL_ISSUED,
                    subject=request.ref.document_id,
                    detail={"expires_at": expires_at.isoformat(), "seconds": seconds},
                )
            )
        return PresignedUrl(url=url, expires_at=expires_at)

    # --- erase ----------------------------------------------------------------------------------

    @activity.defn
    @step_activity
    def erase_case_documents(self, request: EraseCaseDocumentsInput) -> CaseErasure:
        """Delete every version and delete marker under cases/<case_id>/, and abort unfinished
        uploads there. Repeating it deletes nothing more."""
        prefix = document_key(request.case_id, "")
        versions = markers = aborted = 0
        pages = self._client.get_paginator("list_multipart_uploads")
        for page in pages.paginate(Bucket=self._bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
        pages = self._client.get_paginator("list_object_versions")
        for page in pages.paginate(Bucket=self._bucket, Prefix=prefix):
            batch = [
                {"Key": item["Key"], "VersionId": item["VersionId"]}
                for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if not batch:
                continue
            answer = self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True}
            )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise ApplicationError(
                    f"erase case {request.case_id}: {len(answer['Errors'])} deletions failed"
                    f" ({first.get('Code')})",
                    type="EraseIncomplete",
                )
            versions += len(page.get("Versions", []))
            markers += len(page.get("DeleteMarkers", []))
            _heartbeat(versions + markers)
        erasure = CaseErasure(
            case_id=request.case_id,
            versions_deleted=versions,
            delete_markers_deleted=markers,
            uploads_aborted=aborted,
        )
        if self._audit is not None:
            self._audit.record(
                activity_event(
                    case_id=request.case_id,
                    action=AuditAction.DOCUMENTS_ERASED,
                    subject=prefix,
                    detail={
                        "versions_deleted": versions,
                        "delete_markers_deleted": markers,
                        "uploads_aborted": aborted,
                    },
                )
            )
        return erasure


def _heartbeat(*details: object) -> None:
    if activity.in_activity():
        activity.heartbeat(*details)


def _heartbeat_progress() -> Progress:
    """A progress callback for activities: heartbeats the bytes sent and stops the upload (which
    then aborts) once the activity is cancelled."""
    sent = 0

    def report(count: int) -> None:
        nonlocal sent
        sent += count
        if activity.in_activity():
            if activity.is_cancelled():
                raise CancelledError("store cancelled")
            activity.heartbeat(sent)

    return report
