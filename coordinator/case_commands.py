"""`caseflow case ...`: what a coordinator does to a case, one command per event.

Every command takes `--json`. A rejection (bad file, wrong field, an event the case refuses)
raises, and coordinator.cli turns it into one `error: ...` line and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from caseflow.case_events import (
    DischargeRecorded,
    FollowUpRecorded,
    HospitalAcknowledgement,
    HospitalResponse,
    RecordConsent,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    WaiveRequirement,
    Withdraw,
    WithdrawConsent,
)
from caseflow.case_status import (
    CaseStage,
    CaseStatus,
    EventAck,
    HospitalReferralStatus,
    ReferralState,
    TrialReferralView,
)
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.intake import parse_intake
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect, uses_tls
from caseflow.trial_referrals import TRIAL_ANSWER_WORDS
from client import cases as case_client
from client import packets

case_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Start, drive and read cases.",
)
console = Console()

T = TypeVar("T")

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CaseIdArg = Annotated[str, typer.Argument(help="The case id 'case start' printed.")]


def _file_arg(help_text: str):
    return typer.Argument(exists=True, dir_okay=False, readable=True, help=help_text)


async def reach_temporal(settings: CaseflowSettings) -> Client:
    """The Temporal client, or a ConnectionError in caseflow's words (not the SDK's)."""
    try:
        return await connect(settings)
    except RuntimeError:
        if uses_tls(settings):
            raise ConnectionError(
                f"cannot reach Temporal at {settings.temporal_address} over TLS (check "
                "temporal_tls_client_cert, temporal_tls_client_key and temporal_tls_server_ca)"
            ) from None
        raise ConnectionError(
            f"cannot reach Temporal at {settings.temporal_address} "
            "(is the stack up? 'caseflow dev up')"
        ) from None


def _with_client(action: Callable[[Client, CaseflowSettings], Awaitable[T]]) -> T:
    settings = get_settings()

    async def main() -> T:
        return await action(await reach_temporal(settings), settings)

    return asyncio.run(main())


def _emit(json_output: bool, payload: Any, text: str) -> None:
    if json_output:
        if isinstance(payload, BaseModel):
            print(payload.model_dump_json())
        else:
            print(json.dumps(payload, default=str))
    else:
        # soft_wrap: ids and paths are never broken mid-word; the terminal folds long lines.
        console.print(text, highlight=False, soft_wrap=True)


def _ack_text(ack: EventAck, what: str) -> str:
    if ack.replayed:  # a repeat of an event the case already has: nothing changed
        return f"{ack.detail}; nothing changed: case {ack.case_id} is in {ack.stage.value}"
    detail = f" ({ack.detail})" if ack.detail else ""
    return f"{what}: case {ack.case_id} is in {ack.stage.value}{detail}"


def _parse_date(value: str | None, option: str) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("expected a date as YYYY-MM-DD", param_hint=option) from None


def _load_event(path: Path, model: type[BaseModel], extra: dict[str, Any] | None = None):
    """Validate an event file before anything is uploaded or sent; raises ValidationError, whose
    one-line form names the field (never the value)."""
    text = path.read_text(encoding="utf-8")
    if not extra:
        return model.model_validate_json(text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path.name}: not valid JSON (line {error.lineno}, column {error.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a JSON object")
    return model.model_validate({**data, **extra})


def _event_from(
    file: Path | None, model: type[BaseModel], options: dict[str, Any], fixed: dict[str, Any]
):
    """An event from an optional EVENT.json, the options given (which override its fields) and
    the command's arguments; pydantic's one-line error names any field that is wrong."""
    given = {**{k: v for k, v in options.items() if v is not None}, **fixed}
    if file is None:
        return model.model_validate(given)
    return _load_event(file, model, given)


def _parse_document_option(value: str) -> tuple[Path, DocumentKind]:
    """`FILE:KIND` (the kind after the last colon, so paths with colons still work)."""
    path_text, sep, kind_text = value.rpartition(":")
    if not sep or not path_text:
        raise typer.BadParameter(
            "expected FILE:KIND, e.g. opinion.pdf:hospital_opinion", param_hint="--document"
        )
    try:
        kind = DocumentKind(kind_text)
    except ValueError:
        raise typer.BadParameter(
            f"unknown document kind {kind_text!r}; see 'caseflow case kinds'",
            param_hint="--document",
        ) from None
    path = Path(path_text)
    if not path.is_file():
        raise typer.BadParameter(f"file {path_text!r} does not exist", param_hint="--document")
    return path, kind


def _store(
    settings: CaseflowSettings, case_id: str, path: Path, kind: DocumentKind, quiet: bool
) -> DocumentRef:
    """Upload one file to S3 (content-addressed, so a repeat is a no-op)."""
    from coordinator.upload import store_file_with_progress

    return store_file_with_progress(settings, case_id, path, kind, quiet)


async def _ensure_open(client: Client, case_id: str) -> None:
    await case_client.ensure_open(client, case_id)


# -- start --------------------------------------------------------------------------------------


@case_app.command()
def start(
    intake_file: Annotated[Path, _file_arg("INTAKE.json (see 'caseflow schema intake').")],
    json_output: Json = False,
) -> None:
    """Validate INTAKE.json, start the case and print its id."""
    intake = parse_intake(intake_file.read_bytes(), date.today())

    async def action(client: Client, settings: CaseflowSettings) -> str:
        return await case_client.start_case(client, settings, intake, date.today())

    case_id = _with_client(action)
    link = case_client.ui_link(get_settings(), case_id)
    if json_output:
        print(json.dumps({"case_id": case_id, "ui": link}))
    else:
        print(case_id)


# -- documents ----------------------------------------------------------------------------------


@case_app.command()
def upload(
    case_id: CaseIdArg,
    file: Annotated[Path, _file_arg("The file to add to the case.")],
    kind: Annotated[
        DocumentKind,
        typer.Option(
            "--kind", metavar="KIND", help="What the document is; 'caseflow case kinds' lists them."
        ),
    ],
    json_output: Json = False,
) -> None:
    """Store FILE in S3, then add it to the case.

    The stored object is content-addressed (its key derives from the bytes), so uploading the
    same file again is a no-op. If the case then rejects the document, the object stays: it may
    be the very object an earlier add already references, and 'case withdraw --erase' removes
    everything a case stored.
    """
    case_client.check_case_id(case_id)
    _with_client(lambda client, _s: _ensure_open(client, case_id))
    ref = _store(get_settings(), case_id, file, kind, quiet=json_output)
    ack = _with_client(lambda client, _s: case_client.add_document(client, case_id, ref))
    _emit(
        json_output,
        {"document": ref.model_dump(mode="json"), **ack.model_dump(mode="json")},
        _ack_text(ack, f"added {ref.document_id} as {ref.kind.value}"),
    )


@case_app.command()
def kinds(json_output: Json = False) -> None:
    """The document kinds '--kind' accepts."""
    _emit(json_output, [k.value for k in DocumentKind], "\n".join(k.value for k in DocumentKind))


@case_app.command()
def waive(
    case_id: CaseIdArg,
    item_id: Annotated[str, typer.Argument(help="The checklist item, as 'case status' lists it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the item is not needed.")],
    by: Annotated[str | None, typer.Option("--by", help="Your coordinator id.")] = None,
    json_output: Json = False,
) -> None:
    """Waive a checklist item, with a reason."""
    event = WaiveRequirement(item_id=item_id, reason=reason, waived_by=by)
    ack = _with_client(lambda c, _s: case_client.waive_requirement(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"waived {item_id}"))


# -- review and hospitals -----------------------------------------------------------------------


@case_app.command()
def review(
    case_id: CaseIdArg,
    review_file: Annotated[Path, _file_arg("REVIEW.json (see 'caseflow schema event review').")],
    json_output: Json = False,
) -> None:
    """Record the specialist's review: proceed, need more records, or not a candidate."""
    event = _load_event(review_file, SubmitReview)
    ack = _with_client(lambda c, _s: case_client.submit_review(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"review recorded: {event.outcome.value}"))


@case_app.command()
def respond(
    case_id: CaseIdArg,
    hospital_id: Annotated[str, typer.Argument(help="The hospital that answered.")],
    response_file: Annotated[
        Path, _file_arg("RESPONSE.json (see 'caseflow schema event response').")
    ],
    document: Annotated[
        list[str] | None,
        typer.Option(
            "--document", help="FILE:KIND the hospital sent (repeatable), uploaded first."
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Record a hospital's answer, uploading the documents it sent first."""
    case_client.check_case_id(case_id)
    # Validate everything before any byte moves: the file, the documents' kinds and paths.
    _load_event(response_file, HospitalResponse, {"hospital_id": hospital_id})
    attachments = [_parse_document_option(d) for d in document or []]
    settings = get_settings()
    if attachments:
        _with_client(lambda client, _s: _ensure_open(client, case_id))
    refs = [_store(settings, case_id, p, k, quiet=json_output) for p, k in attachments]
    event = _load_event(
        response_file, HospitalResponse, {"hospital_id": hospital_id, "documents": refs}
    )
    ack = _with_client(lambda c, _s: case_client.record_hospital_response(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"{hospital_id}: {event.decision.value}"))


@case_app.command()
def select(
    case_id: CaseIdArg,
    hospital_id: Annotated[str, typer.Argument(help="An accepting hospital.")],
    json_output: Json = False,
) -> None:
    """Select the accepting hospital the patient goes to."""
    ack = _with_client(lambda c, _s: case_client.select_hospital(c, case_id, hospital_id))
    _emit(json_output, ack, _ack_text(ack, f"selected {hospital_id}"))


@case_app.command()
def packet(
    case_id: CaseIdArg,
    hospital_id: Annotated[str, typer.Argument(help="The hospital whose packet to fetch.")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", file_okay=False, help="Directory to write into, as OUT/HOSPITAL_ID/FILE."
        ),
    ],
    json_output: Json = False,
) -> None:
    """Download a hospital's referral packet (letters, FHIR bundle, manifest), as stored, into
    its own folder under --out, and say what was written."""
    written = _with_client(lambda c, s: packets.fetch_packet(c, s, case_id, hospital_id, out))
    folder = written[0].parent
    size = sum(p.stat().st_size for p in written)
    _emit(
        json_output,
        {"hospital_id": hospital_id, "directory": str(folder), "files": [str(p) for p in written]},
        f"wrote {hospital_id}'s packet for case {case_id} to {folder}/ "
        f"({len(written)} files, {size:,} bytes):\n" + "\n".join(f"  {p.name}" for p in written),
    )


# -- consent and acknowledgement ------------------------------------------------------------------

consent_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Record or withdraw the patient's consent per country x hospital x purpose.",
)
case_app.add_typer(consent_app, name="consent")

Country = Annotated[
    str | None, typer.Option("--country", help="Destination country: IN or CN.")
]
Purpose = Annotated[
    str | None, typer.Option("--purpose", help="referral, translation or travel.")
]
ConsentHospital = Annotated[
    str | None,
    typer.Option("--hospital", help="One hospital; omitted: every hospital in the country."),
]
RecordedBy = Annotated[str | None, typer.Option("--by", help="Your coordinator id.")]
WithdrawnPurpose = Annotated[
    str | None,
    typer.Option(
        "--purpose",
        help="records_review (no --country: the patient's consent to the review itself), "
        "referral, translation or travel.",
    ),
]


def _consent_file(help_text: str):
    return typer.Option(
        "--file", exists=True, dir_okay=False, readable=True, help=help_text
    )


@consent_app.command("record")
def consent_record(
    case_id: CaseIdArg,
    country: Country = None,
    purpose: Purpose = None,
    hospital: ConsentHospital = None,
    by: RecordedBy = None,
    granted_at: Annotated[
        str | None,
        typer.Option(
            "--granted-at", help="When the patient signed, with a zone, e.g. 2026-01-05T09:00Z."
        ),
    ] = None,
    file: Annotated[
        Path | None, _consent_file("CONSENT.json (see 'caseflow schema event consent').")
    ] = None,
    json_output: Json = False,
) -> None:
    """Record a consent the patient gave (again); deliveries it covers may go ahead."""
    case_client.check_case_id(case_id)
    event = _event_from(
        file,
        RecordConsent,
        {
            "country": country,
            "purpose": purpose,
            "hospital_id": hospital,
            "recorded_by": by,
            "granted_at": granted_at,
        },
        {},
    )
    ack = _with_client(lambda c, _s: case_client.record_consent(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, "consent recorded"))


@consent_app.command("withdraw")
def consent_withdraw(
    case_id: CaseIdArg,
    country: Country = None,
    purpose: WithdrawnPurpose = None,
    hospital: ConsentHospital = None,
    by: RecordedBy = None,
    file: Annotated[
        Path | None,
        _consent_file("WITHDRAWAL.json (see 'caseflow schema event consent-withdrawal')."),
    ] = None,
    json_output: Json = False,
) -> None:
    """Withdraw a consent; a withdrawn referral consent stops every delivery not yet made, a
    withdrawn records_review consent stops the specialist review (erasure is your next step:
    'caseflow case withdraw --erase')."""
    case_client.check_case_id(case_id)
    event = _event_from(
        file,
        WithdrawConsent,
        {"country": country, "purpose": purpose, "hospital_id": hospital, "recorded_by": by},
        {},
    )
    ack = _with_client(lambda c, _s: case_client.withdraw_consent(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, "consent withdrawn"))


@case_app.command()
def acknowledge(
    case_id: CaseIdArg,
    hospital_id: Annotated[str, typer.Argument(help="The hospital that confirmed receipt.")],
    reference: Annotated[
        str | None, typer.Option("--reference", help="The hospital's own reference, if any.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            exists=True,
            dir_okay=False,
            readable=True,
            help="ACK.json (see 'caseflow schema event acknowledgement').",
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Record that a hospital received its referral packet (its answer comes with 'respond')."""
    case_client.check_case_id(case_id)
    event = _event_from(
        file, HospitalAcknowledgement, {"reference": reference}, {"hospital_id": hospital_id}
    )
    ack = _with_client(lambda c, _s: case_client.record_hospital_acknowledgement(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"{hospital_id}: packet acknowledged"))


# -- translation, travel, admission, follow-up -------------------------------------------------


@case_app.command()
def translation(
    case_id: CaseIdArg,
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="The translated documents."
        ),
    ],
    language: Annotated[str, typer.Option("--language", help="BCP 47 tag, e.g. zh-CN.")],
    json_output: Json = False,
) -> None:
    """Upload the vendor's translated documents and record them."""
    case_client.check_case_id(case_id)
    _check_language(language)  # before any upload, so a typo moves no bytes
    settings = get_settings()
    _with_client(lambda client, _s: _ensure_open(client, case_id))
    refs = [
        _store(settings, case_id, f, DocumentKind.TRANSLATION, quiet=json_output) for f in files
    ]
    event = TranslationReceived(documents=refs, language=language)
    ack = _with_client(lambda c, _s: case_client.record_translation(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"translation recorded ({len(refs)} documents)"))


def _check_language(language: str) -> None:
    # The same pattern TranslationReceived.language enforces.
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", language):
        raise typer.BadParameter(
            "expected a BCP 47 tag such as en or zh-CN", param_hint="--language"
        )


@case_app.command()
def travel(
    case_id: CaseIdArg,
    event_file: Annotated[Path, _file_arg("EVENT.json (see 'caseflow schema event travel').")],
    document: Annotated[
        str | None, typer.Option("--document", help="FILE:KIND to attach, e.g. the visa letter.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Record a travel event: visa letter requested/received, visa granted/refused, flights
    booked (with the planned admission date), arrived."""
    case_client.check_case_id(case_id)
    _load_event(event_file, TravelEvent)
    extra: dict[str, Any] = {}
    if document:
        path, kind = _parse_document_option(document)
        _with_client(lambda client, _s: _ensure_open(client, case_id))
        extra["document"] = _store(get_settings(), case_id, path, kind, quiet=json_output)
    event = _load_event(event_file, TravelEvent, extra)
    ack = _with_client(lambda c, _s: case_client.record_travel(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"travel: {event.kind.value}"))


@case_app.command()
def admit(
    case_id: CaseIdArg,
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD; today if omitted.")] = None,
    json_output: Json = False,
) -> None:
    """Record the admission."""
    admitted_on = _parse_date(on, "--on")
    ack = _with_client(lambda c, _s: case_client.record_admission(c, case_id, admitted_on))
    _emit(json_output, ack, _ack_text(ack, f"admitted on {admitted_on}"))


@case_app.command()
def discharge(
    case_id: CaseIdArg,
    on: Annotated[str | None, typer.Option("--on", help="YYYY-MM-DD; today if omitted.")] = None,
    json_output: Json = False,
) -> None:
    """Record the discharge; follow-up timers start from it."""
    event = DischargeRecorded(discharged_on=_parse_date(on, "--on"))
    ack = _with_client(lambda c, _s: case_client.record_discharge(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"discharged on {event.discharged_on}"))


@case_app.command("follow-up")
def follow_up(
    case_id: CaseIdArg,
    day: Annotated[
        int, typer.Option("--day", help="The scheduled follow-up (days after discharge).")
    ],
    status: Annotated[
        str,
        typer.Option("--status", help="well, recurrence, toxicity, deceased or lost_to_follow_up."),
    ],
    note: Annotated[
        str | None, typer.Option("--note", help="A short note, without patient names.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Record a due follow-up."""
    event = FollowUpRecorded(day=day, status=status, note=note)
    ack = _with_client(lambda c, _s: case_client.record_follow_up(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, f"follow-up day {day}: {status}"))


# -- case control -------------------------------------------------------------------------------


@case_app.command()
def assign(
    case_id: CaseIdArg,
    coordinator_id: Annotated[str, typer.Argument(help="The coordinator taking the case.")],
    json_output: Json = False,
) -> None:
    """Hand the case to another coordinator."""
    ack = _with_client(
        lambda c, s: case_client.assign_coordinator(c, s, case_id, coordinator_id)
    )
    _emit(json_output, ack, _ack_text(ack, f"assigned to {coordinator_id}"))


@case_app.command("hold")
def hold_case(
    case_id: CaseIdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the case waits.")],
    json_output: Json = False,
) -> None:
    """Put the case on hold; SLA clocks pause."""
    ack = _with_client(lambda c, _s: case_client.hold(c, case_id, reason))
    _emit(json_output, ack, _ack_text(ack, "on hold"))


@case_app.command("resume")
def resume_case(
    case_id: CaseIdArg,
    note: Annotated[str | None, typer.Option("--note", help="What changed.")] = None,
    json_output: Json = False,
) -> None:
    """Take the case off hold."""
    ack = _with_client(lambda c, _s: case_client.resume(c, case_id, note))
    _emit(json_output, ack, _ack_text(ack, "resumed"))


@case_app.command()
def retry(
    case_id: CaseIdArg,
    step_id: Annotated[str, typer.Argument(help="A failed step, as 'case status' lists it.")],
    json_output: Json = False,
) -> None:
    """Run a failed step again."""
    ack = _with_client(lambda c, _s: case_client.retry_step(c, case_id, step_id))
    _emit(json_output, ack, _ack_text(ack, f"retrying {step_id}"))


@case_app.command()
def skip(
    case_id: CaseIdArg,
    step_id: Annotated[str, typer.Argument(help="A failed step, as 'case status' lists it.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the step is not needed.")],
    json_output: Json = False,
) -> None:
    """Skip a failed step, with a reason."""
    ack = _with_client(lambda c, _s: case_client.skip_step(c, case_id, step_id, reason))
    _emit(json_output, ack, _ack_text(ack, f"skipped {step_id}"))


@case_app.command("translation-skip")
def translation_skip(
    case_id: CaseIdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the case goes on untranslated.")],
    json_output: Json = False,
) -> None:
    """Go on without a translation (no consent, or the hospital reads the records)."""
    ack = _with_client(lambda c, _s: case_client.skip_translation(c, case_id, reason))
    _emit(json_output, ack, _ack_text(ack, "translation skipped"))


@case_app.command("destinations")
def destinations(
    case_id: CaseIdArg,
    countries: Annotated[
        str, typer.Option("--countries", help="Destination countries, e.g. IN,CN.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why the destinations change.")],
    json_output: Json = False,
) -> None:
    """Change the case's destination countries; referral consent must be in force for each."""
    wanted = [c.strip().upper() for c in countries.split(",") if c.strip()]
    ack = _with_client(
        lambda c, _s: case_client.change_destinations(c, case_id, wanted, reason)
    )
    _emit(json_output, ack, _ack_text(ack, f"destinations {','.join(wanted)}"))


@case_app.command("withdraw")
def withdraw_case(
    case_id: CaseIdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why the case ends here.")],
    erase: Annotated[
        bool, typer.Option("--erase", help="Also erase the case's documents in S3.")
    ] = False,
    json_output: Json = False,
) -> None:
    """Withdraw the case at any stage; referrals are cancelled."""
    event = Withdraw(reason=reason, erase=erase)
    ack = _with_client(lambda c, _s: case_client.withdraw(c, case_id, event))
    _emit(json_output, ack, _ack_text(ack, "withdrawn"))


# -- reading ------------------------------------------------------------------------------------


@case_app.command("status")
def status_command(case_id: CaseIdArg, json_output: Json = False) -> None:
    """Stage, checklist, triage flags, hospitals, deadlines, escalations and timeline."""
    status = _with_client(lambda c, _s: case_client.case_status(c, case_id))
    if json_output:
        print(status.model_dump_json())
        return
    render_status(status, console)
    console.print(
        f"Web UI: {case_client.ui_link(get_settings(), case_id)}", highlight=False, soft_wrap=True
    )


@case_app.command("list")
def list_command(
    stage: Annotated[
        CaseStage | None,
        typer.Option(
            "--stage",
            case_sensitive=False,
            metavar="STAGE",
            help="Only cases in this stage: " + ", ".join(s.value for s in CaseStage) + ".",
        ),
    ] = None,
    escalated: Annotated[bool, typer.Option("--escalated", help="Only escalated cases.")] = False,
    coordinator: Annotated[
        str | None, typer.Option("--coordinator", help="Only this coordinator's.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Cases through Temporal visibility (search attributes only, never patient data)."""
    case_client.visibility_query(stage, escalated, coordinator)  # refuse bad filters offline
    rows = _with_client(lambda c, _s: case_client.list_cases(c, stage, escalated, coordinator))
    if json_output:
        print(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table()
    table.add_column("case id", no_wrap=True, min_width=26)
    for column in (
        "stage", "execution", "coordinator", "hospitals", "escalated", "SLA due", "waits for"
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.case_id,
            row.stage or "-",
            row.execution_status,
            row.coordinator_id or "-",
            ", ".join(row.hospitals) or "-",
            f"level {row.escalation_level}" if row.escalated else "no",
            _when(row.sla_due_at),
            row.sla_waits_for or "-",
        )
    console.print(table)
    console.print(f"{len(rows)} case(s)", highlight=False)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s"


def _hospital_table(h: HospitalReferralStatus, trial: TrialReferralView | None = None) -> Table:
    title = f"hospital {h.hospital_id}"
    if trial is not None:  # a trial site (issue 15): the study it stands for
        title = f"trial {trial.study_id} at {h.hospital_id}: {trial.title}"
    table = Table(show_header=False, title=title, title_justify="left")
    table.add_column("fact", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("state", h.state.value)
    table.add_row("channel", h.channel)
    if h.state == ReferralState.DELIVERY_BLOCKED:
        delivered = "[red]blocked: no referral consent in force, nothing sent[/red]"
    elif h.delivered_at:
        receipt = f", {h.delivery_receipt}" if h.delivery_receipt else ""
        delivered = _when(h.delivered_at) + receipt
    else:
        delivered = "-"
    table.add_row("delivered", delivered)
    acknowledged = _when(h.acknowledged_at)
    if h.acknowledged_at and h.acknowledgement_reference:
        acknowledged += f", reference {h.acknowledgement_reference}"
    table.add_row("acknowledged", acknowledged)
    answered = _when(h.responded_at)
    if h.response is not None:
        decision = h.response.decision
        answered += f", {TRIAL_ANSWER_WORDS[decision] if trial else decision.value}"
    table.add_row("answered", answered)
    table.add_row("recipients", ", ".join(h.recipients) or "-")
    table.add_row("packet sha256", h.packet_sha256[:12] if h.packet_sha256 else "-")
    table.add_row(
        "endpoint disabled",
        "[red]yes: the webhook answered 410[/red]" if h.endpoint_disabled else "no",
    )
    table.add_row(
        "delivery blocked", "yes" if h.state == ReferralState.DELIVERY_BLOCKED else "no"
    )
    if h.escalation_level:
        table.add_row("escalation level", str(h.escalation_level))
    return table


def render_status(status: CaseStatus, out: Console) -> None:
    """The status as rich tables; triage is labelled advisory wherever it shows."""
    head = Table(show_header=False, title=f"case {status.case_id}")
    head.add_row("stage", status.stage.value + (" (ON HOLD)" if status.on_hold else ""))
    head.add_row("time in stage", _duration(status.time_in_stage))
    if status.outcome:
        head.add_row("outcome", status.outcome.value)
    if status.withdrawal_reason:
        head.add_row("withdrawal reason", status.withdrawal_reason)
    if status.closed_reason:  # issue 15: a closed case says why in words
        head.add_row("closed because", status.closed_reason)
    if status.stage == CaseStage.NEXT_OPTION and status.next_option_why:
        head.add_row("next option", f"{status.next_option_why}: 'caseflow case next-option' "
                     "trials|hospitals|close, or 'caseflow case trials' to match studies")
    head.add_row("coordinator", status.coordinator_id)
    head.add_row("pathway", status.pathway)
    if status.selected_hospital_id:
        head.add_row("selected hospital", status.selected_hospital_id)
    if status.escalation_level:
        head.add_row("escalation level", str(status.escalation_level))
    out.print(head)

    checklist = Table("item", "title", "state", "source", title="records checklist")
    for item in status.checklist:
        if item.waived_reason:
            state = "[yellow]waived[/yellow]"
        elif item.missing:
            state = "[red]missing[/red]"
        else:
            state = f"[green]{len(item.satisfied_by)} document(s)[/green]"
        checklist.add_row(item.item_id, item.title, state, item.source)
    out.print(checklist)
    if status.missing_items:
        out.print(f"missing: {', '.join(status.missing_items)}", highlight=False)

    if status.triage_flags:
        flags = Table("level", "flag", "message", "source", title="triage flags (ADVISORY)")
        for flag in status.triage_flags:
            flags.add_row(flag.level, flag.code, flag.message, flag.source)
        out.print(flags)
        out.print(status.triage_note, style="italic", highlight=False)

    # One small table per hospital: delivery, acknowledgement and answer are separate facts
    # (docs/sources.md, "Referrals and packets"), and a row of ten columns folds on a terminal.
    trials = {t.site_id: t for t in status.trials}
    for h in status.hospitals:
        out.print(_hospital_table(h, trials.get(h.hospital_id)))

    if status.open_deadlines:
        # The hospitals' waits (acknowledgement, answer) are listed beside the case's own.
        # "waits for" is what the SlaWaitsFor search attribute says (e.g. hospital_response:<id>).
        deadlines = Table(
            "waits for", "started", "level", "next step", "due", title="open deadlines"
        )
        for d in status.open_deadlines:
            deadlines.add_row(
                d.waits_for,
                _when(d.started_at),
                str(d.steps_fired),
                d.next_step or "-",
                _when(d.due_at),
            )
        out.print(deadlines)

    if status.escalations:
        escalations = Table("at", "wait", "subject", "step", "level", title="escalations")
        for e in status.escalations:
            escalations.add_row(_when(e.at), e.wait.value, e.subject or "-", e.step, str(e.level))
        out.print(escalations)

    if status.failed_steps:
        failed = Table(
            "step id",
            "activity",
            "failed at",
            "attempts",
            "hospital",
            title="failed steps (retry or skip)",
        )
        for f in status.failed_steps:
            failed.add_row(
                f.step_id, f.activity, _when(f.failed_at), str(f.attempts), f.hospital_id or "-"
            )
        out.print(failed)

    if status.follow_ups:
        follow_ups = Table("day", "due on", "state", "recorded", title="follow-up")
        for due in status.follow_ups:
            follow_ups.add_row(
                str(due.day), due.due_on.isoformat(), due.status, due.recorded_status or "-"
            )
        out.print(follow_ups)

    timeline = Table(title="timeline")
    for column in ("at", "stage", "event"):
        timeline.add_column(column, no_wrap=True)
    timeline.add_column("detail", overflow="fold")
    timeline.add_column("by", no_wrap=True)
    for entry in status.timeline:
        timeline.add_row(
            entry.at.astimezone(UTC).strftime("%m-%d %H:%M:%S"),
            entry.stage.value,
            entry.event,
            entry.detail,
            entry.actor or "-",
        )
    out.print(timeline)
