"""`caseflow dev up|down|status`: the embedded stack on 127.0.0.1."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from caseflow.settings import CaseflowSettings, get_settings
from client.identities import ensure_demo_users
from infra.server_process import StackError
from infra.stack import EmbeddedStack, ensure_credentials

dev_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="The embedded stack on 127.0.0.1.",
)
console = Console()


def _stack() -> EmbeddedStack:
    settings = get_settings()
    ensure_credentials(settings.data_dir)
    # Re-read settings: the env file may have just been written with fresh credentials.
    get_settings.cache_clear()
    return EmbeddedStack(CaseflowSettings())


@dev_app.command()
def up(
    with_worker: bool = typer.Option(False, "--with-worker", help="Also start the worker."),
    json_output: bool = typer.Option(False, "--json", help="Print machine-readable output."),
) -> None:
    """Start Temporal (with Web UI), SeaweedFS S3 and the SMTP sink; reuse what is running.

    Each part starts on its own: one that cannot (a taken port) is listed as not up, with why,
    the others still start, and the command ends with `error: not up: <parts>` (status 1).
    """
    stack = _stack()
    addresses = stack.up(with_worker=with_worker)
    problems = addresses.problems
    # The demo's people, so the console can be tried at once; passwords in a mode-600 file.
    demo_logins = ensure_demo_users(stack.settings)
    console_url = f"{addresses.web}/console"
    portal_url = f"{addresses.web}/portal/inquiry"
    if json_output:
        shown = {k: str(v) for k, v in vars(addresses).items() if k != "problems"}
        print(json.dumps({**shown, "console": console_url, "portal": portal_url,
                          "demo_logins": str(demo_logins), "not_up": problems}))
        if problems:
            raise StackError(f"not up: {', '.join(problems)}")
        return
    # --- what is up and what is not (issue 11 item 8) ---
    if problems:
        console.print("[yellow]caseflow stack is partly up[/yellow]")
    else:
        console.print("[green]caseflow stack is up[/green]")

    def show(part: str, label: str, text: str) -> None:
        if part not in problems:
            console.print(f"  {label:<14} {text}", markup=False, highlight=False)

    show("temporal", "Temporal gRPC", addresses.temporal)
    show("temporal", "Temporal UI", addresses.ui)
    show("s3", "S3 (SeaweedFS)", addresses.s3)
    show("mail", "SMTP sink", f"{addresses.smtp}  (messages in {addresses.maildir})")
    show("hospital-inbox", "Hospital inbox", f"{addresses.hospital_inbox}  (signed webhooks)")
    if addresses.codec_server:
        show("codec-server", "Codec server",
             f"{addresses.codec_server}  (Web UI decodes, audited)")
    show("web", "Web service", f"{addresses.web}  (API docs at /docs)")
    show("web", "Console", console_url)
    show("web", "Patient portal", f"{portal_url}  (confirmation mails in the SMTP sink)")
    show("", "Demo logins", f"{demo_logins}  (coord-demo is the demo case's coordinator)")
    if with_worker:
        # -- render worker and metrics (issue 14) --
        settings = stack.settings
        show("worker", "Worker", f"running on task queue {settings.task_queue!r}  "
             f"(metrics http://{stack.metrics_address('cases')}/metrics)")
        show("worker", "Render worker", f"running on task queue {settings.letters_queue()!r}  "
             f"(metrics http://{stack.metrics_address('letters')}/metrics)")
        # -- end render worker and metrics --
    for part, reason in problems.items():
        console.print(f"  [red]not up[/red] {part}: {escape(reason)}", highlight=False)
    if problems:
        # One line on stderr and exit status 1, as every CLI failure (coordinator/cli.py).
        raise StackError(f"not up: {', '.join(problems)}")
    # --- end of what is up ---


@dev_app.command()
def down(
    json_output: bool = typer.Option(False, "--json", help="Print machine-readable output."),
) -> None:
    """Stop what `dev up` started; nothing else."""
    stopped = _stack().down()
    if json_output:
        print(json.dumps({"stopped": stopped}))
    else:
        console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@dev_app.command()
def status(
    json_output: bool = typer.Option(False, "--json", help="Print machine-readable output."),
) -> None:
    """Which parts of the stack are running."""
    running = _stack().status()
    if json_output:
        print(json.dumps(running))
        return
    table = Table("part", "state")
    for name, is_up in running.items():
        table.add_row(name, "[green]running[/green]" if is_up else "[red]stopped[/red]")
    console.print(table)
