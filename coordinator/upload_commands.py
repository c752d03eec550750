"""`caseflow uploads sweep`: abort multipart uploads left unfinished (their parts hold patient
data) now, as the web service does every portal_upload_sweep_minutes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer

from caseflow.settings import get_settings

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

uploads_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Unfinished multipart uploads in the documents bucket.",
)


@uploads_app.command("sweep")
def sweep(
    older_than_minutes: Annotated[
        float | None,
        typer.Option(
            "--older-than-minutes", min=0,
            help="Abort every unfinished upload begun this long ago (default: the settings' "
            "expiries; 0 aborts all, including patients' resumable ones).",
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Abort abandoned multipart uploads and free their parts."""
    from client.portal_uploads import sweep_abandoned_uploads

    older = timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None
    aborted = sweep_abandoned_uploads(get_settings(), older)
    print(json.dumps({"aborted": aborted}) if json_output else f"aborted {aborted} upload(s)")
