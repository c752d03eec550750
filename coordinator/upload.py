"""Uploads from the coordinator's terminal: client.documents.store_file with a progress bar."""

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

from caseflow.documents import DocumentKind, DocumentRef
from caseflow.settings import CaseflowSettings
from client.documents import store_file


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
