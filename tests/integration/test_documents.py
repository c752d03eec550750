"""DocumentStore against a real SeaweedFS: checksums, idempotency, rejections that leave nothing
behind, anonymous access, presigned URLs, erasure and verification."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.documents import DocumentStore
from activities.payloads import EraseCaseDocumentsInput, PresignDocumentInput, StoreDocumentInput
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id
from infra.seaweedfs import PortTaken, SeaweedFS, SeaweedPorts, s3_client

pytestmark = pytest.mark.integration

MiB = 1024**2
PDF_HEAD = b"%PDF-1.7\n"
PNG_HEAD = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def store(seaweed):
    documents = DocumentStore(seaweed.settings)
    yield documents
    documents.close()


@pytest.fixture(scope="module")
def small_parts_store(seaweed):
    """Multipart from 5 MiB in 5 MiB parts, so multipart tests stay small and quick."""
    settings = seaweed.settings.model_copy(
        update={"multipart_threshold_bytes": 5 * MiB, "multipart_chunk_bytes": 5 * MiB}
    )
    documents = DocumentStore(settings, max_concurrency=1)
    yield documents
    documents.close()


@pytest.fixture
def case_id() -> str:
    return new_case_id()


def write(path: Path, head: bytes, size: int) -> Path:
    path.write_bytes(head + os.urandom(size - len(head)))
    return path


def store_pdf(store, case_id: str, tmp_path: Path, size: int):
    source = write(tmp_path / "a.pdf", PDF_HEAD, size)
    return store.store(
        StoreDocumentInput(case_id=case_id, kind=DocumentKind.LABS, path=str(source))
    )


def case_objects(seaweed, case_id: str) -> dict[str, list]:
    """Everything the bucket holds for a case: versions, delete markers, unfinished uploads."""
    client = seaweed.client()
    prefix = f"cases/{case_id}/"
    versions = client.list_object_versions(Bucket=seaweed.bucket, Prefix=prefix)
    uploads = client.list_multipart_uploads(Bucket=seaweed.bucket, Prefix=prefix)
    return {
        "versions": versions.get("Versions", []),
        "markers": versions.get("DeleteMarkers", []),
        "uploads": uploads.get("Uploads", []),
    }


def assert_nothing_stored(seaweed, case_id: str) -> None:
    assert case_objects(seaweed, case_id) == {"versions": [], "markers": [], "uploads": []}


@pytest.mark.parametrize("size", [200 * 1024, 12 * MiB + 123], ids=["single", "multipart"])
def test_round_trip_with_checksums(seaweed, small_parts_store, case_id, tmp_path, size):
    source = write(tmp_path / "Jane Doe biopsy.pdf", PDF_HEAD, size)
    sent: list[int] = []

    ref = small_parts_store.store(
        StoreDocumentInput(case_id=case_id, kind=DocumentKind.BIOPSY_REPORT, path=str(source)),
        progress=sent.append,
    )

    assert ref.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert (ref.size, ref.content_type) == (size, "application/pdf")
    assert ref.key == f"cases/{case_id}/{ref.document_id}"
    assert ref.original_filename == "Jane Doe biopsy.pdf"
    assert sum(sent) == size
    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=ref.key, ChecksumMode="ENABLED")
    parts = -(-size // (5 * MiB)) if size > 5 * MiB else 0
    if parts:
        assert head["ChecksumSHA256"].endswith(f"-{parts}")
    else:
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(ref.sha256)).decode()
    assert head["ContentType"] == "application/pdf"
    # Nothing from the filename (which may name the patient) reaches S3.
    assert "Jane" not in str(head["Metadata"]) and "biopsy" not in ref.key
    assert small_parts_store.verify_document(ref).size == size
    fetched = small_parts_store.fetch(ref, tmp_path / "fetched")
    assert fetched.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("size", [4096, 11 * MiB], ids=["single", "multipart"])
def test_storing_the_same_bytes_again_gives_the_same_ref_and_one_version(
    seaweed, small_parts_store, case_id, tmp_path, size
):
    source = write(tmp_path / "scan.pdf", PDF_HEAD, size)
    request = StoreDocumentInput(case_id=case_id, kind=DocumentKind.IMAGING_MRI, path=str(source))

    first = small_parts_store.store(request)
    second = small_parts_store.store(request)

    assert second == first
    stored = case_objects(seaweed, case_id)
    assert len(stored["versions"]) == 1 and stored["uploads"] == []


def test_same_bytes_in_another_case_is_another_document(small_parts_store, tmp_path):
    source = write(tmp_path / "scan.pdf", PDF_HEAD, 4096)
    refs = [
        small_parts_store.store(
            StoreDocumentInput(case_id=new_case_id(), kind=DocumentKind.LABS, path=str(source))
        )
        for _ in range(2)
    ]
    assert refs[0].sha256 == refs[1].sha256
    assert refs[0].document_id != refs[1].document_id


def rejection(call) -> str:
    with pytest.raises(ApplicationError) as raised:
        call()
    assert raised.value.type == "DocumentRejected"
    assert raised.value.non_retryable
    message = raised.value.message
    assert "\n" not in str(raised.value)
    return message


def test_oversized_upload_is_rejected_and_leaves_nothing(seaweed, case_id, tmp_path):
    settings = seaweed.settings.model_copy(update={"max_document_bytes": 1000})
    tiny = DocumentStore(settings)
    source = write(tmp_path / "big.pdf", PDF_HEAD, 1001)
    message = rejection(
        lambda: tiny.store(
            StoreDocumentInput(case_id=case_id, kind=DocumentKind.LABS, path=str(source))
        )
    )
    assert "max_document_bytes" in message
    assert_nothing_stored(seaweed, case_id)
    tiny.close()


def test_empty_upload_is_rejected_and_leaves_nothing(seaweed, store, case_id, tmp_path):
    source = tmp_path / "empty.pdf"
    source.write_bytes(b"")
    message = rejection(
        lambda: store.store(
            StoreDocumentInput(case_id=case_id, kind=DocumentKind.LABS, path=str(source))
        )
    )
    assert message == "file: is empty"
    assert_nothing_stored(seaweed, case_id)


def test_wrong_type_is_rejected_whatever_the_filename_says(seaweed, store, case_id, tmp_path):
    source = write(tmp_path / "study.dcm", PNG_HEAD, 2048)
    message = rejection(
        lambda: store.store(
            StoreDocumentInput(case_id=case_id, kind=DocumentKind.DICOM_STUDY, path=str(source))
        )
    )
    assert "image/png" in message and "dicom_study" in message
    assert_nothing_stored(seaweed, case_id)


def test_bad_filename_is_rejected_without_repeating_it(seaweed, store, case_id, tmp_path):
    source = write(tmp_path / "report.pdf", PDF_HEAD, 2048)
    message = rejection(
        lambda: store.store(
            StoreDocumentInput(
                case_id=case_id,
                kind=DocumentKind.LABS,
                path=str(source),
                original_filename="../Jane Doe.pdf",
            )
        )
    )
    assert message == "original_filename: contains a path separator"
    assert_nothing_stored(seaweed, case_id)


def test_multipart_upload_stopped_midway_leaves_nothing(
    seaweed, small_parts_store, case_id, tmp_path
):
    source = write(tmp_path / "ct.pdf", PDF_HEAD, 16 * MiB)

    def interrupt(count: int) -> None:
        if count:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        small_parts_store.store(
            StoreDocumentInput(case_id=case_id, kind=DocumentKind.IMAGING_CT, path=str(source)),
            progress=interrupt,
        )
    assert_nothing_stored(seaweed, case_id)


def test_multipart_upload_failing_on_a_later_part_leaves_nothing(seaweed, case_id, tmp_path):
    settings = seaweed.settings.model_copy(
        update={"multipart_threshold_bytes": 5 * MiB, "multipart_chunk_bytes": 5 * MiB}
    )
    documents = DocumentStore(settings, max_concurrency=1)
    source = write(tmp_path / "ct.pdf", PDF_HEAD, 16 * MiB)
    sent: list[int] = []

    def fail_third_part(params, **_) -> None:
        sent.append(params["PartNumber"])
        if params["PartNumber"] == 3:
            raise ConnectionResetError("network gone")

    documents._client.meta.events.register("provide-client-params.s3.UploadPart", fail_third_part)
    try:
        with pytest.raises(ConnectionResetError):
            documents.store(
                StoreDocumentInput(case_id=case_id, kind=DocumentKind.IMAGING_CT, path=str(source))
            )
    finally:
        documents.close()
    # Part 4 may have started before the failure was seen; it is aborted with the rest.
    assert sent[:3] == [1, 2, 3]
    assert_nothing_stored(seaweed, case_id)


def test_server_rejects_a_part_that_changed_after_hashing(seaweed, case_id, tmp_path):
    """Part checksums come from the hashing pass, so bytes changed later are never stored."""
    settings = seaweed.settings.model_copy(
        update={"multipart_threshold_bytes": 5 * MiB, "multipart_chunk_bytes": 5 * MiB}
    )
    documents = DocumentStore(settings, max_concurrency=1)
    source = write(tmp_path / "ct.pdf", PDF_HEAD, 20 * MiB)

    def tamper(**_) -> None:
        # Parts go one at a time, so when the first is sent the last is still on disk only.
        with open(source, "r+b") as file:
            file.seek(19 * MiB)
            file.write(b"changed")

    documents._client.meta.events.register("before-call.s3.UploadPart", tamper)
    try:
        with pytest.raises(ClientError) as raised:
            documents.store(
                StoreDocumentInput(case_id=case_id, kind=DocumentKind.IMAGING_CT, path=str(source))
            )
    finally:
        documents.close()
    assert raised.value.response["Error"]["Code"] == "BadDigest"
    assert_nothing_stored(seaweed, case_id)


def test_anonymous_requests_are_refused(seaweed, store, case_id, tmp_path):
    ref = store_pdf(store, case_id, tmp_path, 99)
    anonymous = boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint_url,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}),
    )
    for call in (
        lambda: anonymous.get_object(Bucket=seaweed.bucket, Key=ref.key),
        lambda: anonymous.list_objects_v2(Bucket=seaweed.bucket),
        lambda: anonymous.put_object(Bucket=seaweed.bucket, Key=f"cases/{case_id}/x", Body=b"x"),
        lambda: anonymous.list_buckets(),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{seaweed.endpoint_url}/{seaweed.bucket}/{ref.key}", timeout=5)
    assert raised.value.code == 403
    assert len(case_objects(seaweed, case_id)["versions"]) == 1


def test_presigned_url_works_then_expires(store, case_id, tmp_path):
    source = write(tmp_path / "a.pdf", PDF_HEAD, 5000)
    ref = store.store(StoreDocumentInput(case_id=case_id, kind=DocumentKind.LABS, path=str(source)))
    link = store.presign_document(PresignDocumentInput(ref=ref, expires_in=timedelta(seconds=2)))

    with urllib.request.urlopen(link.url, timeout=5) as answer:
        assert answer.read() == source.read_bytes()
    time.sleep(3)
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(link.url, timeout=5)
    assert raised.value.code == 403


def test_presign_defaults_to_a_day_and_refuses_more_than_seven_days(store, case_id, tmp_path):
    ref = store_pdf(store, case_id, tmp_path, 99)
    link = store.presign_document(PresignDocumentInput(ref=ref))
    assert "X-Amz-Expires=86400" in link.url
    for too_long in (timedelta(days=7, seconds=1), timedelta(0)):
        message = rejection(
            lambda t=too_long: store.presign_document(PresignDocumentInput(ref=ref, expires_in=t))
        )
        assert message.startswith("expires_in:")


def test_erase_removes_every_version_marker_and_unfinished_upload(
    seaweed, store, case_id, tmp_path
):
    refs = [
        store.store(
            StoreDocumentInput(
                case_id=case_id,
                kind=DocumentKind.LABS,
                path=str(write(tmp_path / f"{n}.pdf", PDF_HEAD, 1000 + n)),
            )
        )
        for n in range(2)
    ]
    client = seaweed.client()
    client.put_object(Bucket=seaweed.bucket, Key=refs[0].key, Body=b"second version")
    client.delete_object(Bucket=seaweed.bucket, Key=refs[1].key)
    client.create_multipart_upload(Bucket=seaweed.bucket, Key=f"cases/{case_id}/unfinished")
    other_case = new_case_id()
    kept = store.store(
        StoreDocumentInput(case_id=other_case, kind=DocumentKind.LABS, path=str(tmp_path / "0.pdf"))
    )

    erased = store.erase_case_documents(EraseCaseDocumentsInput(case_id=case_id))

    assert (erased.versions_deleted, erased.delete_markers_deleted) == (3, 1)
    assert erased.uploads_aborted == 1
    assert_nothing_stored(seaweed, case_id)
    again = store.erase_case_documents(EraseCaseDocumentsInput(case_id=case_id))
    assert again.versions_deleted + again.delete_markers_deleted + again.uploads_aborted == 0
    assert store.verify_document(kept).sha256 == kept.sha256


def test_verify_detects_a_mismatch(seaweed, store, case_id, tmp_path):
    ref = store_pdf(store, case_id, tmp_path, 999)
    assert store.verify_document(ref).size == 999

    for wrong in ({"size": 998}, {"sha256": "0" * 64}):
        with pytest.raises(ApplicationError) as raised:
            store.verify_document(ref.model_copy(update=wrong))
        assert raised.value.type == "DocumentMismatch"

    # Someone overwrites the object behind the store's back, keeping its metadata.
    client = seaweed.client()
    head = client.head_object(Bucket=seaweed.bucket, Key=ref.key)
    client.put_object(
        Bucket=seaweed.bucket,
        Key=ref.key,
        Body=PDF_HEAD + b"x" * (999 - len(PDF_HEAD)),
        Metadata=head["Metadata"],
        ChecksumAlgorithm="SHA256",
    )
    with pytest.raises(ApplicationError) as raised:
        store.verify_document(ref)
    assert raised.value.type == "DocumentMismatch"


def test_verify_of_an_erased_document_says_it_is_missing(store, case_id, tmp_path):
    ref = store_pdf(store, case_id, tmp_path, 99)
    store.erase_case_documents(EraseCaseDocumentsInput(case_id=case_id))
    with pytest.raises(ApplicationError) as raised:
        store.verify_document(ref)
    assert raised.value.type == "DocumentMissing"


def test_a_taken_port_is_named_and_nothing_starts(seaweed, tmp_path):
    second = SeaweedFS(tmp_path, "ak", "sk", ports=seaweed.server.ports)
    with pytest.raises(PortTaken) as raised:
        second.start()
    assert str(seaweed.server.ports.s3) in str(raised.value)
    assert not second.is_running()


def test_store_document_activity_heartbeats_its_progress(small_parts_store, case_id, tmp_path):
    source = write(tmp_path / "mri.pdf", PDF_HEAD, 11 * MiB)
    environment = ActivityEnvironment()
    beats: list[int] = []
    environment.on_heartbeat = lambda *details: beats.append(details[0])

    ref = environment.run(
        small_parts_store.store_document,
        StoreDocumentInput(case_id=case_id, kind=DocumentKind.IMAGING_MRI, path=str(source)),
    )

    assert ref.size == 11 * MiB
    assert beats and beats[-1] == 11 * MiB


def test_seaweedfs_keeps_objects_across_a_restart_and_stops_from_its_pid_file(tmp_path):
    server = SeaweedFS(tmp_path, "restart-ak", "restart-sk", ports=SeaweedPorts.pick_free())
    server.start(timeout=60)
    try:
        server.ensure_bucket("kept")
        client = s3_client(server.endpoint_url, "restart-ak", "restart-sk")
        client.put_object(Bucket="kept", Key="k", Body=b"survives")
        # A later process knows the server only by its directory, as `caseflow dev down` does.
        later = SeaweedFS(tmp_path, "restart-ak", "restart-sk", ports=server.ports)
        assert later.is_running() and later.stop()
        assert not server.is_running() and not later.stop()

        server.start(timeout=60)
        server.ensure_bucket("kept")
        assert client.get_object(Bucket="kept", Key="k")["Body"].read() == b"survives"
        assert client.get_bucket_versioning(Bucket="kept")["Status"] == "Enabled"
    finally:
        server.stop()
