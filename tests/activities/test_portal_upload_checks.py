"""The portal's uploads refuse programs as `case upload` does, before any byte reaches S3."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.portal_uploads import PortalUploadStore
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
