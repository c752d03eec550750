"""`caseflow schema`: the JSON Schemas of the files coordinators write (intake and event files)."""

from __future__ import annotations

import json

import typer
from pydantic import BaseModel

from caseflow.case_events import (
    HospitalAcknowledgement,
    HospitalResponse,
    RecordConsent,
    SubmitReview,
    TravelEvent,
    WithdrawConsent,
)
from caseflow.intake import CaseIntake

schema_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="JSON Schemas of the files the CLI reads.",
)

# The event files `caseflow case ...` reads, by the name the commands use.
EVENT_MODELS: dict[str, type[BaseModel]] = {
    "review": SubmitReview,
    "response": HospitalResponse,
    "travel": TravelEvent,
    "consent": RecordConsent,
    "consent-withdrawal": WithdrawConsent,
    "acknowledgement": HospitalAcknowledgement,
}


def _print_schema(model: type[BaseModel], compact: bool) -> None:
    schema = model.model_json_schema()
    print(json.dumps(schema) if compact else json.dumps(schema, indent=2))


@schema_app.command()
def intake(
    json_output: bool = typer.Option(False, "--json", help="Print the schema on one line."),
) -> None:
    """The schema of INTAKE.json for `caseflow case start`."""
    _print_schema(CaseIntake, json_output)


@schema_app.command()
def event(
    name: str = typer.Argument(..., help=f"One of: {', '.join(EVENT_MODELS)}."),
    json_output: bool = typer.Option(False, "--json", help="Print the schema on one line."),
) -> None:
    """The schema of an event file: review (REVIEW.json), response, travel (EVENT.json),
    consent and consent-withdrawal ('case consent ... --file'), acknowledgement."""
    model = EVENT_MODELS.get(name)
    if model is None:
        raise typer.BadParameter(
            f"unknown event {name!r}; expected one of {', '.join(EVENT_MODELS)}",
            param_hint="NAME",
        )
    _print_schema(model, json_output)
