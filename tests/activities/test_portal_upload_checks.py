"""The portal's uploads refuse programs as `case upload` does, before any byte reaches S3, and
wrong part checksums at completion, in one line."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.portal_uploads import PortalUploadStore, sent_checksums
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id
from caseflow.settings import CaseflowSettings


@pytest.mark.parametrize("head", [b"#!/bin/sh\necho hi\n", b"\x7fELF\x02\x01\x01\x00"])
def test_a_program_named_pdf_is_refused_when_the_upload_begins(head):
    # Nothing listens on this port: a refusal that reached S3 would fail differently.
    store = PortalUploadStore(CaseflowSettings(s3_endpoint_url="http://127.0.0.1:9"))
    try:
        with pytest.raises(ApplicationError) as raised:
            store.begin(new_case_id(), DocumentKind.BIOPSY_REPORT, len(head), "biopsy.pdf", head)
    finally:
        store.close()
    assert raised.value.message.startswith("file: content is ")
    assert raised.value.message.endswith(", which no kind accepts")


SUM = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # base64 of SHA-256("")


def test_the_parts_checksums_the_page_sends_are_kept_by_part_number():
    assert sent_checksums([SUM, None, SUM], 3) == {1: SUM, 3: SUM}
    assert sent_checksums([], 3) == {}


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([SUM, SUM, SUM, SUM], "part_sha256: more than the file's 3 parts"),
        ([SUM, "not base64!"], "part_sha256: part 2's is not the base64 of a 32-byte SHA-256"),
        (["AAAA"], "part_sha256: part 1's is not the base64 of a 32-byte SHA-256"),
    ],
)
def test_wrong_part_checksums_are_refused_in_one_line(values, reason):
    with pytest.raises(ApplicationError) as raised:
        sent_checksums(values, 3)
    assert raised.value.message == reason
