"""The patient portal's side of the client layer: a fresh status link by e-mail (a coordinator's
button, or the patient's "send me a new link"), the open cases an address has, the consents as
the patient sees them, and a withdrawal from the status page, which is the same event the CLI's
`case consent withdraw` sends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client

from activities.patient_mail import PatientMailRouting, patient_message, send_message
from activities.payloads import PatientNotice
from caseflow.case_events import WithdrawConsent
from caseflow.case_status import EventAck
from caseflow.consent import ConsentLedger
from caseflow.portal_links import email_digest
from caseflow.settings import CaseflowSettings
from client import cases
from client.case_start import case_start_input

# Who the ledger says recorded a withdrawal made on the status page: the patient, by the portal.
PORTAL_ACTOR = "patient-portal"


class StatusLinkUnavailable(RuntimeError):
    """No link can be sent: the case has no patient address, or the portal has no secret."""


async def send_status_link(client: Client, settings: CaseflowSettings, case_id: str) -> str:
    """Mail the case's patient a fresh status link, in their language; returns the Message-ID.
    The address comes from the case's own (encrypted) start input, never from the caller."""
    if settings.portal_link_secret is None:
        raise StatusLinkUnavailable("portal: no portal link secret is set; no link can be made")
    started = await case_start_input(client, case_id)
    patient = started.intake.patient
    if patient.email is None:
        raise StatusLinkUnavailable(f"CASE_ID: case {case_id} has no patient e-mail address")
    status = await cases.case_status(client, case_id)
    notice = PatientNotice(
        notice_id=f"{case_id}.patient.link.{uuid.uuid4().hex[:16]}",
        case_id=case_id,
        email=patient.email,
        language=patient.preferred_language,
        reason="status_link",
        stage=status.stage.value,
    )
    routing = PatientMailRouting.from_settings(settings)
    message = patient_message(routing, notice)
    await asyncio.to_thread(send_message, routing, message)
    return message["Message-ID"]


async def open_cases_for_email(client: Client, email: str, limit: int = 10_000) -> list[str]:
    """Ids of the open cases whose patient has this address: matched on the digest inside each
    case's decrypted memo; the address never enters a query."""
    wanted = email_digest(email)
    found = []
    query = cases.visibility_query(open_only=True)
    async for execution in client.list_workflows(query, limit=limit):
        memo = await cases.patient_memo(execution)
        if memo is not None and memo.email_sha256 == wanted:
            found.append(execution.id.removeprefix("case-"))
    return found


class PortalConsent(BaseModel):
    """One consent the patient gave, as the status page lists it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None  # None: the records review, which no country's delivery needs
    hospital_id: str | None
    purpose: str
    granted_at: datetime
    in_force: bool
    withdrawn_at: datetime | None = None


def consents_in_view(ledger: ConsentLedger) -> list[PortalConsent]:
    """Each scope the patient granted (country, hospital or the whole country, purpose), once,
    and whether it is still in force: the latest grant or withdrawal for that scope decides,
    and a country-wide withdrawal ends a hospital's grant too."""
    scopes: dict[tuple[str | None, str | None, str], PortalConsent] = {}
    for event in ledger.events:
        key = (event.country, event.hospital_id, event.purpose)
        if event.action == "grant":
            scopes[key] = PortalConsent(
                country=event.country, hospital_id=event.hospital_id, purpose=event.purpose,
                granted_at=event.at, in_force=True,
            )
            continue
        for (country, hospital_id, purpose), consent in list(scopes.items()):
            ends = (
                country == event.country
                and purpose == event.purpose
                and (event.hospital_id is None or event.hospital_id == hospital_id)
            )
            if ends and consent.in_force:
                scopes[(country, hospital_id, purpose)] = consent.model_copy(
                    update={"in_force": False, "withdrawn_at": event.at}
                )
    return list(scopes.values())


async def withdraw_patient_consent(
    client: Client, case_id: str, country: str | None, hospital_id: str | None, purpose: str
) -> EventAck:
    """The patient's withdrawal from the status page: `case consent withdraw`'s event, recorded
    as by the portal (`country=None` for the records review). The case's validator refuses a
    consent not in force."""
    event = WithdrawConsent(
        country=country,
        hospital_id=hospital_id or None,
        purpose=purpose,
        recorded_by=PORTAL_ACTOR,
    )
    return await cases.withdraw_consent(client, case_id, event)
