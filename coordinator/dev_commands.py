"""`caseflow dev up|down|status`: the embedded stack on 127.0.0.1."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from caseflow.settings import CaseflowSettings, get_settings
from client.identities import ensure_demo_users
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
    """Start Temporal (with Web UI), SeaweedFS S3 and the SMTP sink; reuse what is running."""
    stack = _stack()
    addresses = stack.up(with_worker=with_worker)
    # The demo's people, so the console can be tried at once; passwords in a mode-600 file.
    demo_logins = ensure_demo_users(stack.settings)
    console_url = f"{addresses.web}/console"
    portal_url = f"{addresses.web}/portal/inquiry"
    if json_output:
        print(json.dumps({**{k: str(v) for k, v in vars(addresses).items()},
                          "console": console_url, "portal": portal_url,
                          "demo_logins": str(demo_logins)}))
        return
    console.print("[green]caseflow stack is up[/green]")
    console.print(f"  Temporal gRPC  {addresses.temporal}")
    console.print(f"  Temporal UI    {addresses.ui}")
    console.print(f"  S3 (SeaweedFS) {addresses.s3}")
    console.print(f"  SMTP sink      {addresses.smtp}  (messages in {addresses.maildir})")
    console.print(f"  Hospital inbox {addresses.hospital_inbox}  (signed webhooks)")
    if addresses.codec_server:
        console.print(f"  Codec server   {addresses.codec_server}  (Web UI decodes, audited)")
    console.print(f"  Web service    {addresses.web}  (API docs at /docs)")
    console.print(f"  Console        {console_url}")
    console.print(f"  Patient portal {portal_url}  (confirmation mails in the SMTP sink)")
    console.print(f"  Demo logins    {demo_logins}  (coord-demo is the demo case's coordinator)")
    if with_worker:
        console.print("  Worker         running on task queue 'cases'")


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
