"""`caseflow case audit CASE_ID`: the case's audit trail, oldest first. Entries hold opaque ids,
counts and channels only, so printing them shows no patient data."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from activities.audit import AuditTrail
from caseflow.settings import get_settings
from client.cases import check_case_id

console = Console()


def audit_command(
    case_id: Annotated[str, typer.Argument(help="The case id 'case start' printed.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the entries as one JSON array, oldest first.")
    ] = False,
) -> None:
    """Who was sent, shown or erased what for this case (append-only; kept after erasure)."""
    check_case_id(case_id)
    entries = AuditTrail(get_settings()).entries(case_id)
    if json_output:
        # One array, each entry as its model writes it (compact, as every --json is).
        print("[" + ",".join(entry.model_dump_json() for entry in entries) + "]")
        return
    if not entries:
        console.print(f"no audit entries for case {case_id}")
        return
    table = Table("at (UTC)", "action", "actor", "hospital", "subject", "detail")
    for entry in entries:
        detail = ", ".join(f"{k}={v}" for k, v in entry.detail.items())
        table.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.action.value,
            entry.actor,
            entry.hospital_id or "",
            entry.subject or entry.workflow_id or "",
            detail,
        )
    console.print(table)
