"""`caseflow case erase CASE_ID`: erase a closed case (documents, packets, history) and notify
the hospitals that received its packets. See client/erasure.py."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from caseflow.settings import get_settings
from client.cases import check_case_id
from client.erasure import erase_case
from coordinator.case_commands import reach_temporal


class NotConfirmed(RuntimeError):
    """Erasure cannot be undone: it needs a yes, typed or given as --yes."""


def _can_ask() -> bool:
    """Whether a person is there to answer the question (a terminal on stdin)."""
    return sys.stdin is not None and sys.stdin.isatty()


def erase_command(
    case_id: Annotated[str, typer.Argument(help="The case id 'case start' printed.")],
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw an open case first (needs --reason).")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why the case is withdrawn (with --withdraw).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Erase without asking; needed without a terminal.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete every version of the case's documents and packets, notify hospitals that received
    a packet, then delete the case's closed workflow histories. The audit trail stays. Asks
    first, unless --yes."""
    check_case_id(case_id)
    if withdraw and not reason:
        raise typer.BadParameter("--reason: required with --withdraw")
    if not yes:
        if not _can_ask():
            raise NotConfirmed(
                f"case {case_id}: erasure cannot be undone; confirm with --yes "
                "(no terminal to ask on)"
            )
        what = "Withdraw and erase" if withdraw else "Erase"
        if not typer.confirm(
            f"{what} case {case_id}: every document, packet and workflow history, for good?",
            default=False,
            err=True,
        ):
            raise NotConfirmed(f"case {case_id}: not erased")
    settings = get_settings()

    async def main():
        client = await reach_temporal(settings)
        return await erase_case(
            client, settings, case_id, withdraw_reason=reason if withdraw else None
        )

    report = asyncio.run(main())
    if json_output:
        print(report.model_dump_json())
        return
    print(
        f"case {case_id} erased: {report.versions_deleted} object versions, "
        f"{len(report.notices)} hospital notice(s), "
        f"{len(report.executions_deleted)} workflow run(s) deleted; "
        f"{report.audit_entries_kept} audit entries kept"
    )
    if report.manual_hospitals:
        print(f"tell these hospitals by hand: {', '.join(report.manual_hospitals)}")
