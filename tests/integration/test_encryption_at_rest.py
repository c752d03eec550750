"""Documents are encrypted at rest in the embedded store (SSE-S3 under the stack's key-encryption
key): a canary placed inside a document is nowhere in the store's files, in one put or in parts,
and reading the document back through S3 gives it; the same bytes stored without encryption are
found, so the search would see plaintext if there were any."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from activities.documents import DocumentStore
from activities.payloads import StoreDocumentInput
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id
from caseflow.settings import CaseflowSettings
from infra.seaweedfs import SeaweedFS, SeaweedPorts, s3_client

pytestmark = pytest.mark.integration

MiB = 1024**2


def files_holding(root: Path, needle: bytes) -> list[Path]:
    """Every file under `root` whose bytes contain `needle`."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as file:
                # Overlapping windows, so a needle across a block boundary is still seen.
                tail = b""
                while block := file.read(4 * MiB):
                    if needle in tail + block:
                        found.append(path)
                        break
                    tail = block[-len(needle):]
    return found


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("encrypted-store")
    access_key, secret_key = "cf" + secrets.token_hex(8), secrets.token_urlsafe(30)
    server = SeaweedFS(data_dir / "seaweedfs", access_key, secret_key,
                       ports=SeaweedPorts.pick_free())
    server.start(timeout=60)
    try:
        server.ensure_bucket("caseflow-documents")
        yield server
    finally:
        server.stop()


def test_a_canary_inside_documents_is_nowhere_in_the_store_files(store, tmp_path):
    settings = CaseflowSettings(
        s3_endpoint_url=store.endpoint_url, s3_access_key_id=store.access_key,
        s3_secret_access_key=store.secret_key, s3_bucket="caseflow-documents", data_dir=tmp_path,
        # multipart from 5 MiB in 5 MiB parts, so the parted path is covered and stays small
        multipart_threshold_bytes=5 * MiB, multipart_chunk_bytes=5 * MiB,
    )
    canary = f"CANARY-{secrets.token_hex(12)}-patient-name".encode()
    outside = tmp_path / "sources"
    outside.mkdir()
    small = outside / "labs.pdf"
    small.write_bytes(b"%PDF-1.7\n" + canary + os.urandom(32 * 1024))
    large = outside / "imaging.pdf"
    large.write_bytes(b"%PDF-1.7\n" + os.urandom(6 * MiB) + canary + os.urandom(1024))

    documents = DocumentStore(settings)
    case_id = new_case_id()
    try:
        refs = [documents.store(StoreDocumentInput(case_id=case_id, kind=DocumentKind.LABS,
                                                   path=str(path)))
                for path in (small, large)]
    finally:
        documents.close()

    client = s3_client(store.endpoint_url, store.access_key, store.secret_key)
    for ref, source in zip(refs, (small, large), strict=True):
        answer = client.get_object(Bucket="caseflow-documents", Key=ref.key)
        assert answer["ServerSideEncryption"] == "AES256"
        assert answer["Body"].read() == source.read_bytes()  # the canary comes back through S3
    assert files_holding(store.data_dir, canary) == []
    assert store.data_dir / "store" in {p.parent for p in store.data_dir.rglob("*.dat")}

    # The control: the same canary stored in a bucket without encryption is found at once.
    client.create_bucket(Bucket="plain-control")
    client.put_object(Bucket="plain-control", Key="control", Body=b"x" + canary + b"y")
    assert files_holding(store.data_dir, canary)
