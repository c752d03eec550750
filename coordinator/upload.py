"""`caseflow case upload CASE_ID FILE --kind KIND`: store a file in the case's S3 prefix from this
machine (the bytes never travel through Temporal) and print its DocumentRef."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from activities.documents import DocumentStore, StoreDocumentInput
from activities.documents import Progress as ProgressCallback
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.settings import CaseflowSettings, get_settings


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


def upload(
    case_id: Annotated[str, typer.Argument(help="The case id that 'case start' printed.")],
    file: Annotated[Path, typer.Argument(help="The file; its type is read from its bytes.")],
    kind: Annotated[DocumentKind, typer.Option("--kind", help="What the document is.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the DocumentRef as JSON.")
    ] = False,
) -> None:
    """Upload a document to a case, with a progress bar, and print its DocumentRef."""
    # Progress goes to stderr so that --json output on stdout stays machine-readable.
    status = Console(stderr=True)
    size = file.stat().st_size if file.is_file() else None
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=status,
        transient=True,
        disable=json_output or not status.is_terminal,
    ) as bar:
        task = bar.add_task("uploading", total=size)
        ref = store_file(get_settings(), case_id, file, kind, lambda sent: bar.advance(task, sent))
    if json_output:
        print(ref.model_dump_json())
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    # Ids and hashes are copied from here, so they wrap rather than get an ellipsis.
    table.add_column(overflow="fold")
    for field, value in ref.model_dump(mode="json").items():
        table.add_row(field, str(value))
    Console().print(table)
