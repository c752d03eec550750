"""Portal uploads begun before the page sent its part checksums at completion: the service then
kept one empty marker object per part, named by the part's SHA-256, and the completion still
reads them (PortalUploadStore.declared_checksums), on a real SeaweedFS. A part with no checksum
anywhere is refused by name, and nothing is stored for it."""

from __future__ import annotations

import base64
import hashlib
import os

import httpx
import pytest

from activities.portal_uploads import PortalUploadStore, parts_prefix
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id
from caseflow.portal_uploads import PortalUpload

pytestmark = pytest.mark.integration

MiB = 1024**2


def _file(size: int) -> bytes:
    return b"%PDF-1.7\n" + os.urandom(size - 9)


def _send_parts(store: PortalUploadStore, upload: PortalUpload, data: bytes) -> list[str]:
    """PUT every part on its presigned URL, as the page does; each part's SHA-256 (base64)."""
    sums = []
    with httpx.Client(timeout=60) as s3:
        for number in range(1, upload.part_count + 1):
            start = (number - 1) * upload.part_size
            part = data[start : start + upload.part_length(number)]
            checksum = base64.b64encode(hashlib.sha256(part).digest()).decode()
            url = store.presign_part(upload, number, checksum)
            sent = s3.put(url, content=part, headers={"x-amz-checksum-sha256": checksum})
            sent.raise_for_status()
            sums.append(checksum)
    return sums


def _leave_markers(seaweed, upload: PortalUpload, sums: list[str], skip: int | None = None):
    """The marker objects the service kept per part before: '<number>-<urlsafe sha256>'."""
    client = seaweed.client()
    for number, checksum in enumerate(sums, start=1):
        if number == skip:
            continue
        token = base64.urlsafe_b64encode(base64.b64decode(checksum)).decode().rstrip("=")
        key = f"{parts_prefix(upload)}{number}-{token}"
        client.put_object(Bucket=seaweed.bucket, Key=key, Body=b"")


def _begin(store: PortalUploadStore, data: bytes) -> PortalUpload:
    return store.begin(new_case_id(), DocumentKind.IMAGING_MRI, len(data), "scan.pdf", data[:4096])


def test_an_upload_begun_with_marker_objects_completes_from_them(seaweed):
    store = PortalUploadStore(seaweed.settings)
    try:
        data = _file(24 * MiB)  # two parts at the default 16 MiB
        upload = _begin(store, data)
        assert upload.part_count >= 2
        _leave_markers(seaweed, upload, _send_parts(store, upload, data))
        ref = store.complete(upload, hashlib.sha256(data).hexdigest(), "scan.pdf")
        assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.size == len(data)
        stored = seaweed.client().get_object(Bucket=seaweed.bucket, Key=ref.key)["Body"].read()
        assert hashlib.sha256(stored).hexdigest() == ref.sha256
    finally:
        store.close()


def test_a_part_whose_checksum_was_never_declared_is_refused_by_number(seaweed):
    store = PortalUploadStore(seaweed.settings)
    try:
        data = _file(24 * MiB)
        upload = _begin(store, data)
        assert upload.part_count >= 2, "the test needs a second part to leave undeclared"
        sums = _send_parts(store, upload, data)
        _leave_markers(seaweed, upload, sums, skip=2)
        with pytest.raises(Exception, match="part 2: its checksum was never declared"):
            store.complete(upload, hashlib.sha256(data).hexdigest(), "scan.pdf")
        listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=upload.key)
        assert upload.key not in [item["Key"] for item in listed.get("Contents", [])]
    finally:
        store.close()
