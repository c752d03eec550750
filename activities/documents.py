"""The S3 document store: store, verify, presign and erase a case's documents, usable directly
(the CLI uploads client-side, so file bytes never travel through Temporal) and as activities.

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

import base64
import contextlib
import hashlib
import io
import os
import threading
import unicodedata
import zipfile
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from pathlib import Path

from botocore.exceptions import ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities.audit import AuditAction, AuditTrail, activity_event
from activities.payloads import (
    CaseErasure,
    DocumentCheck,
    EraseCaseDocumentsInput,
    PresignDocumentInput,
    PresignedUrl,
    StoreDocumentInput,
)
from activities.s3_client import build_s3_client
from caseflow.documents import (
    ACCEPTED_CONTENT_TYPES,
    DICOM,
    DOCX,
    JPEG,
    PDF,
    PNG,
    TEXT,
    TIFF,
    ZIP,
    DocumentKind,
    DocumentRef,
)
from caseflow.ids import document_id_for, document_key
from caseflow.settings import CaseflowSettings

UNKNOWN = "application/octet-stream"
MAX_PRESIGN = timedelta(days=7)  # the SigV4 limit for presigned URLs
MiB = 1024**2
_READ_BLOCK = MiB
_SNIFF_BYTES = 64 * 1024

Progress = Callable[[int], None]


# --- Validation -----------------------------------------------------------------------------------


def rejected(reason: str) -> ApplicationError:
    """A non-retryable rejection whose one-line reason names the field; no patient data in it."""
    return ApplicationError(reason, type="DocumentRejected", non_retryable=True)


def mismatch(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="DocumentMismatch", non_retryable=True)


def check_filename(filename: str) -> None:
    """Reject filenames that could address another path or hide characters. The message never
    repeats the name, which may carry the patient's name."""
    if not filename or not filename.strip():
        raise rejected("original_filename: is empty")
    if "/" in filename or "\\" in filename:
        raise rejected("original_filename: contains a path separator")
    if any(unicodedata.category(ch) == "Cc" for ch in filename):
        raise rejected("original_filename: contains a control character")
    if filename in (".", ".."):
        raise rejected("original_filename: is not a file name")
    if len(filename.encode()) > 255:
        raise rejected("original_filename: is longer than 255 bytes")


def detect_content_type(path: Path) -> str:
    """The content type from the file's bytes (never its name); UNKNOWN when unrecognised."""
    with open(path, "rb") as file:
        head = file.read(_SNIFF_BYTES)
    kind = content_type_of(head)
    if kind == ZIP and _is_docx(path):
        return DOCX
    return kind


def content_type_of(head: bytes) -> str:
    """The content type from a file's first bytes. DOCX needs the zip directory: see
    detect_content_type."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    # A DICOM Part 10 file: a 128-byte preamble, then the magic.
    if head[128:132] == b"DICM":
        return DICOM
    # Readers accept a PDF header anywhere in the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return PDF
    if _is_text(head):
        return TEXT
    return UNKNOWN


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith("word/") for n in names)


def _is_text(head: bytes) -> bool:
    """UTF-8 (or ASCII) text without control characters other than layout ones."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # Tolerate only a multi-byte character cut off by the end of the sniff window.
        if len(head) < _SNIFF_BYTES - 3 or error.start < len(head) - 3:
            return False
        text = head[: error.start].decode("utf-8")
    allowed = {"\t", "\n", "\r", "\f"}
    return bool(text) and not any(
        unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text
    )


def check_document(kind: DocumentKind, size: int, content_type: str, max_bytes: int) -> None:
    if size == 0:
        raise rejected("file: is empty")
    if size > max_bytes:
        raise rejected(
            f"file: {size} bytes is over the limit of {max_bytes} bytes (max_document_bytes)"
        )
    accepted = ACCEPTED_CONTENT_TYPES[kind]
    if content_type not in accepted:
        found = "an unrecognised type" if content_type == UNKNOWN else content_type
        raise rejected(
            f"file: content is {found}, which kind {kind.value} does not accept"
            f" (accepted: {', '.join(sorted(accepted))})"
        )


# --- Streaming a file ---------------------------------------------------------------------------


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _sha256_of_range(path: Path, offset: int, length: int | None) -> tuple[bytes, int]:
    """The SHA-256 and byte count of `length` bytes from `offset` (None: to the end)."""
    digest = hashlib.sha256()
    count = 0
    with open(path, "rb", buffering=0) as file:
        file.seek(offset)
        while length is None or count < length:
            want = _READ_BLOCK if length is None else min(_READ_BLOCK, length - count)
            block = file.read(want)
            if not block:
                break
            digest.update(block)
            count += len(block)
    return digest.digest(), count


class _FileDigest:
    """The whole-file SHA-256 and, for multipart, each part's SHA-256.

    The whole-file hash is sequential by nature; the part hashes run beside it on the other
    cores (hashlib releases the GIL), so the first pass costs about one sequential hash of the
    file. More threads than cores would only slow the whole-file hash, the critical path.
    """

    def __init__(self, path: Path, size: int, part_size: int | None) -> None:
        ranges = (
            [(offset, min(part_size, size - offset)) for offset in range(0, size, part_size)]
            if part_size
            else []
        )
        hashers = max(1, (os.cpu_count() or 2) - 1)
        with ThreadPoolExecutor(hashers, thread_name_prefix="part-hash") as pool:
            parts = [pool.submit(_sha256_of_range, path, start, length) for start, length in ranges]
            try:
                self.whole_digest, self.size = _sha256_of_range(path, 0, None)
                hashed = [future.result() for future in parts]
            except BaseException:
                for future in parts:
                    future.cancel()
                raise
        self.sha256 = self.whole_digest.hex()
        self.part_digests = [digest for digest, _ in hashed]
        if sum(count for _, count in hashed) != (self.size if part_size else 0):
            # The file changed size between the two reads; the caller rejects it.
            self.size = -1

    def s3_checksum(self) -> str:
        """What S3 reports as ChecksumSHA256: the plain digest, or for multipart the digest of
        the part digests followed by the part count."""
        if not self.part_digests:
            return _b64(self.whole_digest)
        combined = hashlib.sha256(b"".join(self.part_digests)).digest()
        return f"{_b64(combined)}-{len(self.part_digests)}"


class _Transferred:
    """Bytes moved so far, shared by the part threads; read by the thread reporting progress."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = 0
        self._reported = 0

    def add(self, count: int) -> None:
        with self._lock:
            self._total += count

    def take_new(self) -> int:
        with self._lock:
            new, self._reported = self._total - self._reported, self._total
        return new


class _FileSlice(io.RawIOBase):
    """A seekable read-only window on a file, so a part is streamed from disk rather than held in
    memory. It counts bytes read for progress (a retry seeks back and un-counts them)."""

    def __init__(self, path: Path, offset: int, length: int, counter: _Transferred) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._offset, self._length, self._pos = offset, length, 0
        self._counter = counter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        remaining = self._length - self._pos
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = os.pread(self._fd, size, self._offset + self._pos) if size else b""
        self._pos += len(data)
        self._counter.add(len(data))
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        new = max(0, min(self._length, base + offset))
        if new < self._pos:
            self._counter.add(new - self._pos)
        self._pos = new
        return new

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


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
        digest = _FileDigest(path, size, part_size)
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
        try:
            if multipart:
                assert part_size is not None
                self._put_multipart(path, key, content_type, metadata, digest, part_size, progress)
            else:
                self._put_single(path, key, content_type, metadata, digest, progress)
        except ClientError as error:
            if _error_code(error) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            # Another store of the same bytes won; it is the same document.
            existing = self._stored_upload_time(key, digest.sha256)
            if existing is None:
                raise
            if progress:
                progress(size)
            return ref(existing)
        return ref(uploaded_at)

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
            if _error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _put_single(
        self,
        path: Path,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        digest: _FileDigest,
        progress: Progress | None,
    ) -> None:
        counter = _Transferred()

        def put() -> None:
            with _FileSlice(path, 0, digest.size, counter) as body:
                self._client.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=body,
                    ContentLength=digest.size,
                    ContentType=content_type,
                    Metadata=metadata,
                    ChecksumSHA256=_b64(digest.whole_digest),
                    IfNoneMatch="*",
                )

        self._run([self._parts.submit(put)], counter, progress)

    def _put_multipart(
        self,
        path: Path,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        digest: _FileDigest,
        part_size: int,
        progress: Progress | None,
    ) -> None:
        upload_id = self._client.create_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            ContentType=content_type,
            Metadata=metadata,
            ChecksumAlgorithm="SHA256",
        )["UploadId"]
        counter = _Transferred()

        def upload_part(number: int) -> dict:
            offset = (number - 1) * part_size
            length = min(part_size, digest.size - offset)
            checksum = _b64(digest.part_digests[number - 1])
            with _FileSlice(path, offset, length, counter) as body:
                answer = self._client.upload_part(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ContentLength=length,
                    ChecksumSHA256=checksum,
                )
            return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

        try:
            futures = [
                self._parts.submit(upload_part, number)
                for number in range(1, len(digest.part_digests) + 1)
            ]
            parts = self._run(futures, counter, progress)
            answer = self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
            stored = answer.get("ChecksumSHA256")
            if stored is not None and stored != digest.s3_checksum():
                # The completed object is not what we hashed: remove exactly that version.
                self._client.delete_object(
                    Bucket=self._bucket, Key=key, VersionId=answer["VersionId"]
                )
                raise mismatch("file: the stored checksum differs from the uploaded bytes")
        except BaseException:
            # Never leave parts behind, whatever went wrong (including Ctrl-C or cancellation).
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
            raise

    def _run(self, futures: list[Future], counter: _Transferred, progress: Progress | None):
        """Wait for the part futures, reporting progress from this thread (where activity
        heartbeats work). On the first failure, cancel what has not started and re-raise."""
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
                if progress:
                    progress(counter.take_new())
                for future in done:
                    future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            # Let parts already in flight finish before the caller aborts the upload.
            wait(pending)
            raise
        return [future.result() for future in futures]

    # --- fetch ----------------------------------------------------------------------------------

    def fetch(self, ref: DocumentRef, destination: Path, progress: Progress | None = None) -> Path:
        """Download a document to `destination`, checking its SHA-256 on the way; ranged parts
        in parallel for large ones. The file appears only once complete and verified."""
        destination = Path(destination)
        partial = destination.with_name(f".{destination.name}.partial")
        counter = _Transferred()
        chunk = self._settings.multipart_chunk_bytes
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, ref.size)
            ranges = [(start, min(start + chunk, ref.size)) for start in range(0, ref.size, chunk)]

            def get_range(start: int, end: int) -> None:
                answer = self._client.get_object(
                    Bucket=self._bucket, Key=ref.key, Range=f"bytes={start}-{end - 1}"
                )
                position = start
                for block in answer["Body"].iter_chunks(_READ_BLOCK):
                    os.pwrite(fd, block, position)
                    position += len(block)
                    counter.add(len(block))
                if position != end:
                    raise mismatch(f"document {ref.document_id}: short read from S3")

            futures = [self._parts.submit(get_range, start, end) for start, end in ranges]
            # Hash in order as parts land, overlapping the hashing with the download.
            whole = hashlib.sha256()
            read_fd = os.open(partial, os.O_RDONLY)
            try:
                for (start, end), future in zip(ranges, futures, strict=True):
                    self._run([future], counter, progress)
                    for offset in range(start, end, _READ_BLOCK):
                        whole.update(os.pread(read_fd, min(_READ_BLOCK, end - offset), offset))
            except BaseException:
                for future in futures:
                    future.cancel()
                wait(futures)
                raise
            finally:
                os.close(read_fd)
            if whole.hexdigest() != ref.sha256:
                raise mismatch(f"document {ref.document_id}: downloaded bytes differ from sha256")
        except BaseException:
            os.close(fd)
            partial.unlink(missing_ok=True)
            raise
        os.close(fd)
        partial.replace(destination)
        return destination

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
            expected_checksum = _b64(bytes.fromhex(ref.sha256))
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
        seconds = int(request.expires_in.total_seconds())
        if seconds <= 0 or request.expires_in > MAX_PRESIGN:
            raise ApplicationError(
                "expires_in: must be more than 0 s and at most 7 days",
                type="DocumentRejected",
                non_retryable=True,
            )
        issued = datetime.now(UTC)
        url = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": request.ref.key},
            ExpiresIn=seconds,
        )
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


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


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
