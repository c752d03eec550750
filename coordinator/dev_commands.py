"""`caseflow dev up|down|status`: the embedded stack."""

from __future__ import annotations

import typer

dev_app = typer.Typer(no_args_is_help=True, help="The embedded stack on 127.0.0.1.")
