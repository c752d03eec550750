"""Storing a coordinator's or a hospital's file for a case: the bytes go straight to the case's S3
prefix (never through Temporal), under the same checks and limits wherever the file comes from."""

from __future__ import annotations

from pathlib import Path

from activities.documents import DocumentStore
from activities.documents import Progress as ProgressCallback
from activities.payloads import StoreDocumentInput
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.settings import CaseflowSettings


def store_file(
    settings: CaseflowSettings,
    case_id: str,
    path: Path,
    kind: DocumentKind,
    progress: ProgressCallback | None = None,
    original_filename: str | None = None,
) -> DocumentRef:
    """Store one local file for a case; rejections raise ApplicationError(DocumentRejected).
    `original_filename` is the name the person gave (a spooled upload's path has none)."""
    request = StoreDocumentInput(
        case_id=case_id, kind=kind, path=str(path), original_filename=original_filename
    )
    store = DocumentStore(settings)
    try:
        return store.store(request, progress=progress)
    finally:
        store.close()
