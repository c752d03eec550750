"""`caseflow case erase CASE_ID`: erase a closed case (documents, packets, history) and notify
the hospitals that received its packets. See coordinator/erasure.py."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from caseflow.settings import get_settings
from caseflow.temporal_client import connect
from client.erasure import erase_case


def erase_command(
    case_id: Annotated[str, typer.Argument(help="The case id 'case start' printed.")],
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Withdraw an open case first (needs --reason).")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete every version of the case's documents and packets, notify hospitals that received
    a packet, then delete the case's closed workflow histories. The audit trail stays."""
    if withdraw and not reason:
        raise typer.BadParameter("--reason: required with --withdraw")
    settings = get_settings()

    async def main():
        client = await connect(settings)
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
