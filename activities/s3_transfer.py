"""The S3 transfer engine behind DocumentStore: a file streamed up in parts with a SHA-256 per
part, or down in ranged parts checked against the document's SHA-256, with bounded memory and
progress reported from the calling thread (where activity heartbeats work).

It moves bytes and nothing else: which key, whether the case may store the file and what to do
when the key is taken are DocumentStore's (activities/documents.py).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from botocore.exceptions import ClientError

from activities.document_content import mismatch
from activities.s3_client import is_taken, put_once
from caseflow.documents import DocumentRef

MiB = 1024**2
_READ_BLOCK = MiB

Progress = Callable[[int], None]


def b64_digest(digest: bytes) -> str:
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


class FileDigest:
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
            return b64_digest(self.whole_digest)
        combined = hashlib.sha256(b"".join(self.part_digests)).digest()
        return f"{b64_digest(combined)}-{len(self.part_digests)}"


class Transferred:
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

    def __init__(self, path: Path, offset: int, length: int, counter: Transferred) -> None:
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


class S3Transfer:
    """Moves files to and from one bucket, parts in parallel on the given thread pool."""

    def __init__(self, client, bucket: str, parts: ThreadPoolExecutor) -> None:
        self._client = client
        self._bucket = bucket
        self._parts = parts

    def put_single(
        self,
        path: Path,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        digest: FileDigest,
        progress: Progress | None,
    ) -> bool:
        """Upload the file in one request unless the key is taken (False)."""
        counter = Transferred()

        def put() -> bool:
            with _FileSlice(path, 0, digest.size, counter) as body:
                return put_once(
                    self._client,
                    self._bucket,
                    key,
                    body,
                    ContentLength=digest.size,
                    ContentType=content_type,
                    Metadata=metadata,
                    ChecksumSHA256=b64_digest(digest.whole_digest),
                )

        (created,) = self.run([self._parts.submit(put)], counter, progress)
        return created

    def put_multipart(
        self,
        path: Path,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        digest: FileDigest,
        part_size: int,
        progress: Progress | None,
    ) -> bool:
        """Upload the parts in parallel and complete the upload unless the key is taken (False);
        any failure aborts it, so no parts are left behind."""
        upload_id = self._client.create_multipart_upload(
            Bucket=self._bucket,
            Key=key,
            ContentType=content_type,
            Metadata=metadata,
            ChecksumAlgorithm="SHA256",
        )["UploadId"]
        counter = Transferred()

        def upload_part(number: int) -> dict:
            offset = (number - 1) * part_size
            length = min(part_size, digest.size - offset)
            checksum = b64_digest(digest.part_digests[number - 1])
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
            parts = self.run(futures, counter, progress)
            try:
                # The one conditional write that is not a put: S3 completes it once.
                answer = self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    IfNoneMatch="*",
                )
            except ClientError as error:
                if not is_taken(error):
                    raise
                self._abort(key, upload_id)
                return False
            stored = answer.get("ChecksumSHA256")
            if stored is not None and stored != digest.s3_checksum():
                # The completed object is not what we hashed: remove exactly that version.
                self._client.delete_object(
                    Bucket=self._bucket, Key=key, VersionId=answer["VersionId"]
                )
                raise mismatch("file: the stored checksum differs from the uploaded bytes")
        except BaseException:
            # Never leave parts behind, whatever went wrong (including Ctrl-C or cancellation).
            self._abort(key, upload_id)
            raise
        return True

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)

    def run(self, futures: list[Future], counter: Transferred, progress: Progress | None):
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

    def fetch(
        self, ref: DocumentRef, destination: Path, chunk: int, progress: Progress | None = None
    ) -> Path:
        """Download a document to `destination`, checking its SHA-256 on the way; ranged parts
        in parallel for large ones. The file appears only once complete and verified."""
        destination = Path(destination)
        partial = destination.with_name(f".{destination.name}.partial")
        counter = Transferred()
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
                    self.run([future], counter, progress)
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
