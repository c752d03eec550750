"""A `caseflow case upload` killed midway through a large file leaves no parts (patient data):
SIGTERM aborts the multipart upload on the way out; after SIGKILL the sweeper frees them."""

from __future__ import annotations

import json
import signal
import time

import pytest

from infra.seaweedfs import s3_client
from tests.faults.conftest import EXAMPLES, FaultStack

pytestmark = pytest.mark.integration
MiB = 1024**2
# Small parts, so a local upload is still going when the test looks at it.
UPLOAD_ENV = {"CASEFLOW_MULTIPART_THRESHOLD_BYTES": str(5 * MiB),
              "CASEFLOW_MULTIPART_CHUNK_BYTES": str(5 * MiB)}


def big_pdf(path, size: int) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    with open(path, "wb") as out:
        out.write(b"%PDF-1.7\n% a fictional scan\n")
        for _ in range(size // MiB):
            out.write(block)


def pending(faults: FaultStack, case_id: str) -> list[dict]:
    s = faults.stack.settings
    assert s.s3_secret_access_key is not None
    s3 = s3_client(s.s3_endpoint_url or "", s.s3_access_key_id or "",
                   s.s3_secret_access_key.get_secret_value())
    found = s3.list_multipart_uploads(Bucket=s.s3_bucket, Prefix=f"cases/{case_id}/")
    uploads = found.get("Uploads", [])
    for upload in uploads:
        parts = s3.list_parts(Bucket=s.s3_bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        upload["parts"] = len(parts.get("Parts", []))
    return uploads


def start_case(faults: FaultStack) -> str:
    code, out, err = faults.caseflow("case", "start", str(EXAMPLES / "intake.json"), "--json")
    assert code == 0, err
    return json.loads(out)["case_id"]


def upload_until_parts(faults: FaultStack, case_id: str, path):
    faults.env |= UPLOAD_ENV
    process = faults.spawn("case", "upload", case_id, str(path), "--kind", "biopsy_report")
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.communicate()
        if any(u["parts"] >= 2 for u in pending(faults, case_id)):
            return process
        assert time.monotonic() < deadline, "the upload never got going"
        time.sleep(0.05)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_a_killed_upload_leaves_no_parts(faults: FaultStack, tmp_path, how):
    case_id = start_case(faults)
    path = tmp_path / "scan.pdf"
    big_pdf(path, 1200 * MiB)
    process = upload_until_parts(faults, case_id, path)
    process.send_signal(how)
    process.wait(timeout=60)
    if how == signal.SIGTERM:
        # Interrupted like Ctrl-C: its own error path aborted the upload.
        out, err = process.communicate()
        assert (process.returncode, out, err) == (130, b"", b"error: interrupted\n")
        # The parts were there a moment ago; the CLI aborted the upload before it exited.
        assert pending(faults, case_id) == []
        code, status, err = faults.caseflow("case", "status", case_id, "--json")
        assert code == 0, err
        assert json.loads(status)["documents"] == [], "nothing was added to the case"
        return
    assert pending(faults, case_id), "SIGKILL leaves the parts to the sweeper"
    code, out, err = faults.caseflow("uploads", "sweep", "--older-than-minutes", "0", "--json")
    assert code == 0, err
    assert json.loads(out)["aborted"] >= 1
    assert pending(faults, case_id) == []
