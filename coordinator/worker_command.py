"""`caseflow worker`: run the worker in the foreground, in one role."""

from __future__ import annotations

import asyncio

import typer


def worker_command(
    role: str = typer.Option(
        "all",
        "--role",
        help="cases: workflows and every activity but letters, on task queue 'cases'; "
        "letters: the render worker (referral letters and packets, with its Typst renderer "
        "processes) on the letters queue; all: both in one process.",
    ),
) -> None:
    """Run the worker until SIGTERM or Ctrl-C."""
    import worker

    if role not in worker.ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(worker.ROLES)}", param_hint="--role")
    asyncio.run(worker.main(role=role))
