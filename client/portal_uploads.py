"""A patient's resumable upload, as the portal's routes drive it: begin, presign each part,
resume from what S3 holds, complete (verified) into the case's quarantine, cancel; and the
periodic sweep of abandoned uploads. The bytes never pass through here."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client

from activities.document_content import rejected
from activities.portal_uploads import PortalUploadStore
from caseflow.case_status import EventAck
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.portal_uploads import PortalUpload, StoredPart
from caseflow.settings import CaseflowSettings
from client.cases import add_patient_document, ensure_open

log = logging.getLogger(__name__)


async def begin_upload(
    store: PortalUploadStore,
    client: Client,
    case_id: str,
    kind: DocumentKind,
    size: int,
    file_name: str,
    head: bytes,
) -> PortalUpload:
    await ensure_open(client, case_id)
    return await asyncio.to_thread(store.begin, case_id, kind, size, file_name, head)


def _found(store: PortalUploadStore, case_id: str, upload_id: str) -> PortalUpload:
    upload = store.load(case_id, upload_id)
    if upload is None:
        # Unknown here, or another case's: the same words either way.
        raise rejected("upload: no such upload; start it again")
    return upload


async def find_upload(store: PortalUploadStore, case_id: str, upload_id: str) -> PortalUpload:
    return await asyncio.to_thread(_found, store, case_id, upload_id)


async def upload_progress(
    store: PortalUploadStore, case_id: str, upload_id: str
) -> tuple[PortalUpload, list[StoredPart]]:
    """The upload and the parts S3 already holds: what a resuming browser skips."""
    upload = await find_upload(store, case_id, upload_id)
    return upload, await asyncio.to_thread(store.stored_parts, upload)


async def presign_part(
    store: PortalUploadStore, case_id: str, upload_id: str, number: int, sha256_b64: str
) -> str:
    def presign() -> str:  # one trip to a worker thread per part: the page asks for each
        return store.presign_part(_found(store, case_id, upload_id), number, sha256_b64)

    return await asyncio.to_thread(presign)


async def complete_upload(
    store: PortalUploadStore,
    client: Client,
    case_id: str,
    upload_id: str,
    sha256: str,
    file_name: str,
    part_sha256: list[str | None] | None = None,
) -> tuple[DocumentRef, EventAck]:
    """Complete and verify the upload, then hand it to the case's quarantine. Repeating it (a
    lost answer) returns the same document and changes nothing."""
    upload = await find_upload(store, case_id, upload_id)
    ref = await asyncio.to_thread(store.complete, upload, sha256, file_name, part_sha256)
    return ref, await add_patient_document(client, case_id, ref)


async def cancel_upload(store: PortalUploadStore, case_id: str, upload_id: str) -> None:
    upload = await find_upload(store, case_id, upload_id)
    await asyncio.to_thread(store.cancel, upload)


async def sweep_forever(store: PortalUploadStore, every_seconds: float) -> None:
    """Abort abandoned uploads every so often, for as long as the service runs."""
    while True:
        try:
            aborted = await asyncio.to_thread(store.sweep)
            if aborted:
                log.info("portal upload sweep: aborted %d abandoned upload(s)", aborted)
        except Exception as error:  # the next round tries again
            log.warning("portal upload sweep failed: %s", type(error).__name__)
        await asyncio.sleep(every_seconds)


def sweep_abandoned_uploads(settings: CaseflowSettings, older_than: timedelta | None) -> int:
    """One sweep now, as the service's periodic one (`caseflow uploads sweep`)."""
    store = PortalUploadStore(settings)
    try:
        return store.sweep(older_than=older_than)
    finally:
        store.close()
