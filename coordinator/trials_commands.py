"""`caseflow trials import|list` (the registry snapshot) and `caseflow case trials|trial-refer|
next-option` (a case's ranked studies, its referral to them, its next option): issue 15.

Every command takes `--json`; a refusal is one `error: ...` line (coordinator.cli).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from caseflow.settings import get_settings
from caseflow.trial_referrals import ChooseNextOption, NextOption
from caseflow.trial_registry import REGISTRIES, RegistryFileError
from client import trials as trial_client
from coordinator.case_commands import (
    CaseIdArg,
    Json,
    _ack_text,
    _emit,
    _with_client,
    case_app,
    console,
)

trials_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="The trial registry caseflow matches cases against (ClinicalTrials.gov API v2 JSON).",
)


@trials_app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(dir_okay=False, help="A ClinicalTrials.gov API v2 JSON download."),
    ],
    registry: Annotated[
        str, typer.Option("--registry", help=f"The registry's format: {', '.join(REGISTRIES)}.")
    ] = "clinicaltrials.gov",
    json_output: Json = False,
) -> None:
    """Import a registry download as the snapshot in force. A malformed or truncated file is
    refused, and the previous snapshot stays in force."""
    if not file.is_file():
        raise RegistryFileError(f"FILE: {file.name} does not exist")
    summary = trial_client.import_registry_file(get_settings(), file, registry)
    _emit(
        json_output, summary,
        f"imported {summary.study_count:,} studies from {summary.registry} "
        f"(snapshot of {summary.imported_at.isoformat()}, file sha256 "
        f"{summary.source_sha256[:12]}...)",
    )


@trials_app.command("list")
def list_command(
    studies: Annotated[
        bool, typer.Option("--studies", help="List every study of the snapshot too.")
    ] = False,
    json_output: Json = False,
) -> None:
    """The snapshot in force per registry: when it was imported, the file's hash, its count."""
    settings = get_settings()
    summaries = trial_client.snapshot_summaries(settings)
    rows: list[dict[str, str]] = []
    if studies:
        rows = [
            {"study_id": s.study_id, "status": s.status.value, "title": s.title,
             "countries": " ".join(sorted({site.country for site in s.sites if site.country}))}
            for snapshot in trial_client.load_snapshots(settings) for s in snapshot.studies
        ]
    if json_output:
        _emit(True, {"snapshots": [s.model_dump(mode="json") for s in summaries],
                     **({"studies": rows} if studies else {})}, "")
        return
    if not summaries:
        console.print("no trial registry imported yet; run 'caseflow trials import FILE'")
        return
    for s in summaries:
        console.print(f"{s.registry}: {s.study_count:,} studies, imported "
                      f"{s.imported_at.isoformat()}, file sha256 {s.source_sha256[:12]}...",
                      highlight=False)
    if rows:
        table = Table("study", "status", "countries", "title")
        for row in rows:
            table.add_row(row["study_id"], row["status"], row["countries"], row["title"])
        console.print(table)


@case_app.command("trials")
def case_trials(
    case_id: CaseIdArg,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")] = 20,
    json_output: Json = False,
) -> None:
    """The studies the case might be screened for, best first, each with why it matched, what
    speaks against it and what is unknown. Advisory: the trial team decides."""
    result = _with_client(
        lambda c, s: trial_client.case_trial_matches(c, s, case_id)
    )
    if json_output:
        _emit(True, result, "")
        return
    dated = "; ".join(f"{s.registry} of {s.imported_at.date().isoformat()}"
                      for s in result.snapshots)
    console.print(
        f"case {case_id}: {len(result.matches)} of {result.studies_considered:,} studies "
        f"match ({dated})", highlight=False,
    )
    for rank, match in enumerate(result.matches[:limit], start=1):
        sites = "; ".join(f"site {s.site_index}: {s.facility}, {s.city or ''} {s.country}"
                          + ("" if s.has_contact_email else " (no e-mail: --to)")
                          for s in match.sites)
        console.print(
            f"\n{rank}. {match.study_id} [{match.status.value}] {' '.join(match.phases)} "
            f"score {match.score}\n   {match.title}\n   sites: {sites}",
            highlight=False, markup=False,
        )
        for reason in match.reasons:
            console.print(f"   + {reason}", highlight=False, markup=False)
        for concern in match.concerns:
            console.print(f"   - {concern}", highlight=False, markup=False)
        for unknown in match.unknowns:
            console.print(f"   ? {unknown}", highlight=False, markup=False)
    console.print(f"\n{result.advisory}", highlight=False)


@case_app.command("trial-refer")
def case_trial_refer(
    case_id: CaseIdArg,
    study_ids: Annotated[list[str], typer.Argument(help="NCT ids from 'caseflow case trials'.")],
    site: Annotated[
        int | None, typer.Option("--site", help="The site number 'case trials' shows.")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The trial team's e-mail, when the registry gives none."),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who refers (a login id).")] = None,
    json_output: Json = False,
) -> None:
    """Refer the case to each study's site in its destination countries: the same packet and
    delivery as a hospital, after the consent check for that country."""
    ack = _with_client(
        lambda c, s: trial_client.refer_case_to_trials(
            c, s, case_id, study_ids, site_index=site, recipient=to, referred_by=by,
        )
    )
    _emit(json_output, ack, _ack_text(ack, "trial referral"))


@case_app.command("next-option")
def case_next_option(
    case_id: CaseIdArg,
    option: Annotated[NextOption, typer.Argument(help="trials, hospitals or close.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: kept in the timeline.")],
    by: Annotated[str | None, typer.Option("--by", help="Who chooses (a login id).")] = None,
    json_output: Json = False,
) -> None:
    """Choose what a case does after "not a candidate" or every hospital declining: explore
    trials, refer to other hospitals (a new review round), or close with the reason."""
    event = ChooseNextOption(option=option, reason=reason, chosen_by=by)
    ack = _with_client(lambda c, _s: trial_client.choose_next_option(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"next option {option.value}"))
