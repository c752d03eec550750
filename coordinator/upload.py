"""Uploads from the coordinator's terminal: client.documents.store_file with a progress bar."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
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
    with _terminated_as_interrupt(), Progress(
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


@contextlib.contextmanager
def _terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM (a `kill`, a closing session) interrupts the upload as Ctrl-C does, so its error
    path aborts the multipart upload and frees the parts; SIGKILL leaves them to the sweeper."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
