"""A hospital's reply as a FHIR R4B Task: which caseflow event it is and the event's fields.

The mapping (README, "Hospitals' reply path"):
- Task.status `received` is an acknowledgement; Task.identifier[0].value is the hospital's own
  reference for the referral.
- Task.status `accepted` is an answer accepting the patient, `rejected` declining, `on-hold`
  asking for more information; businessStatus code `needs-more-information` (any answering
  status) also asks for more information.
- Task.output carries the answer, keyed by output.type (a coding with system
  REPLY_OUTPUT_SYSTEM, any coding's code, or the type's text): `opinion` and
  `proposed-treatment` (valueString/valueMarkdown), `cost-estimate` (valueMoney),
  `earliest-admission-date` (valueDate), `visa-invitation-possible` (valueBoolean), `document`
  (valueReference "DocumentReference/<document_id>", valueIdentifier or valueString, a document
  uploaded with POST .../documents). Task.note texts are the opinion when no opinion output is
  given.
- Task.basedOn, when given, must name this referral (ServiceRequest identifier REFERRAL_ID_SYSTEM
  or "ServiceRequest/<packet_id>").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from caseflow.fhir_systems import CASEFLOW_SYSTEM, DOCUMENT_ID_SYSTEM, REFERRAL_ID_SYSTEM

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.task import Task, TaskOutput

REPLY_OUTPUT_SYSTEM = f"{CASEFLOW_SYSTEM}/reply-output"
NEEDS_MORE_INFORMATION_CODE = "needs-more-information"
ACKNOWLEDGEMENT_STATUS = "received"
ANSWER_STATUSES = {
    "accepted": "accept",
    "rejected": "decline",
    "on-hold": "needs_more_information",
}
_OUTPUTS = {
    "opinion",
    "proposed-treatment",
    "cost-estimate",
    "earliest-admission-date",
    "visa-invitation-possible",
    "document",
}

ReplyKind = Literal["acknowledgement", "response"]


class TaskNotMapped(ValueError):
    """A Task that is valid FHIR but not a reply caseflow understands; names the element."""


def is_task(data: Any) -> bool:
    return isinstance(data, dict) and data.get("resourceType") == "Task"


def parse_task(data: dict) -> Task:
    """The Task, validated by fhir.resources; the error names elements, never values."""
    # Loaded here, not at import: the FHIR models cost the web service ~25 MiB of memory, and
    # most hospitals reply in caseflow's own JSON.
    from fhir.resources.R4B.task import Task

    try:
        return Task.model_validate(data)
    except ValidationError as error:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors()[:3])
        raise TaskNotMapped(
            f"Task: {error.error_count()} FHIR validation error(s) at {where}"
        ) from None


def _codes(concept: CodeableConcept | None) -> list[str]:
    if concept is None:
        return []
    preferred = [c.code for c in concept.coding or [] if c.system == REPLY_OUTPUT_SYSTEM and c.code]
    others = [c.code for c in concept.coding or [] if c.code]
    return preferred + others + ([concept.text] if concept.text else [])


def kind_of(task: Task) -> ReplyKind:
    if task.status == ACKNOWLEDGEMENT_STATUS:
        return "acknowledgement"
    if task.status in ANSWER_STATUSES or NEEDS_MORE_INFORMATION_CODE in _codes(task.businessStatus):
        return "response"
    allowed = ", ".join([ACKNOWLEDGEMENT_STATUS, *ANSWER_STATUSES])
    raise TaskNotMapped(f"status: a reply Task has status {allowed}")


def check_referral(task: Task, packet_id: str) -> None:
    for based_on in task.basedOn or []:
        named = []
        if based_on.identifier is not None and based_on.identifier.system == REFERRAL_ID_SYSTEM:
            named.append(based_on.identifier.value)
        if based_on.reference and based_on.reference.startswith("ServiceRequest/"):
            named.append(based_on.reference.removeprefix("ServiceRequest/"))
        if any(value != packet_id for value in named):
            raise TaskNotMapped("basedOn: names another referral")


def acknowledgement_fields(task: Task) -> dict[str, Any]:
    """HospitalAcknowledgement's fields (without hospital_id)."""
    if kind_of(task) != "acknowledgement":
        raise TaskNotMapped("status: an acknowledgement is a Task with status 'received'")
    identifiers = [i.value for i in task.identifier or [] if i.value]
    return {"reference": identifiers[0]} if identifiers else {}


def _output_name(output: TaskOutput) -> str:
    for code in _codes(output.type):
        if code in _OUTPUTS:
            return code
    raise TaskNotMapped(
        "output.type: each output is one of " + ", ".join(sorted(_OUTPUTS))
    )


def _document_id(output: TaskOutput) -> str:
    if output.valueReference is not None and output.valueReference.reference:
        return output.valueReference.reference.removeprefix("DocumentReference/")
    if output.valueIdentifier is not None and output.valueIdentifier.system in (
        None,
        DOCUMENT_ID_SYSTEM,
    ):
        return output.valueIdentifier.value or ""
    if output.valueString:
        return output.valueString
    raise TaskNotMapped("output.document: give valueReference 'DocumentReference/<document_id>'")


def response_fields(task: Task) -> dict[str, Any]:
    """HospitalResponse's fields (without hospital_id); documents as ids, for the service to
    resolve against what the hospital uploaded."""
    if kind_of(task) != "response":
        raise TaskNotMapped("status: an answer is a Task with status accepted, rejected or on-hold")
    if NEEDS_MORE_INFORMATION_CODE in _codes(task.businessStatus):
        decision = "needs_more_information"
    else:
        decision = ANSWER_STATUSES[task.status or ""]
    fields: dict[str, Any] = {"decision": decision}
    documents: list[str] = []
    for output in task.output or []:
        name = _output_name(output)
        if name in ("opinion", "proposed-treatment"):
            text = output.valueString or output.valueMarkdown
            if not text:
                raise TaskNotMapped(f"output.{name}: give valueString")
            fields[name.replace("-", "_")] = text
        elif name == "cost-estimate":
            money = output.valueMoney
            if money is None or money.value is None or not money.currency:
                raise TaskNotMapped("output.cost-estimate: give valueMoney with value and currency")
            fields["cost_estimate"] = {"amount": float(money.value), "currency": money.currency}
        elif name == "earliest-admission-date":
            if output.valueDate is None:
                raise TaskNotMapped("output.earliest-admission-date: give valueDate")
            fields["earliest_admission_date"] = output.valueDate.isoformat()
        elif name == "visa-invitation-possible":
            if output.valueBoolean is None:
                raise TaskNotMapped("output.visa-invitation-possible: give valueBoolean")
            fields["visa_invitation_possible"] = output.valueBoolean
        else:
            documents.append(_document_id(output))
    if "opinion" not in fields:
        notes = [n.text for n in task.note or [] if n.text]
        if notes:
            fields["opinion"] = "\n\n".join(notes)
    if documents:
        fields["documents"] = documents
    return fields
