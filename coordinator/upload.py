"""Uploads from the coordinator's machine: a file goes straight to the case's S3 prefix (the
bytes never travel through Temporal); the case then learns of it by its DocumentRef."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from activities.documents import DocumentStore, StoreDocumentInput
from activities.documents import Progress as ProgressCallback
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.settings import CaseflowSettings


def store_file(
    settings: CaseflowSettings,
    case_id: str,
    path: Path,
    kind: DocumentKind,
    progress: ProgressCallback | None = None,
) -> DocumentRef:
    """Store one local file for a case; rejections raise ApplicationError(DocumentRejected)."""
    request = StoreDocumentInput(case_id=case_id, kind=kind, path=str(path))
    store = DocumentStore(settings)
    try:
        return store.store(request, progress=progress)
    finally:
        store.close()


def store_file_with_progress(
    settings: CaseflowSettings, case_id: str, path: Path, kind: DocumentKind, quiet: bool
) -> DocumentRef:
    """store_file with a progress bar on stderr, so --json output on stdout stays clean."""
    status = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=status,
        transient=True,
        disable=quiet or not status.is_terminal,
    ) as bar:
        # The file name stays on this terminal; it may name the patient.
        task = bar.add_task(f"uploading {path.name}", total=path.stat().st_size)
        return store_file(settings, case_id, path, kind, lambda sent: bar.advance(task, sent))
