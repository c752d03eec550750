"""Patients' inquiries, one action one place: submit (starts the InquiryWorkflow), confirm (the
one-time link), and a coordinator's accept or decline of the case it started. The portal, the
console and the API call these."""

from __future__ import annotations

import contextlib

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from caseflow.case_events import AcceptInquiry, DeclineInquiry
from caseflow.case_status import EventAck
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import inquiry_id_for, inquiry_workflow_id
from caseflow.inquiry import PatientInquiry
from caseflow.intake import check_intake
from caseflow.portal_links import PortalLinkExpired, PortalLinkInvalid, read_token
from caseflow.settings import CaseflowSettings
from client import cases
from client.coordinator_contacts import lookup_contact
from workflows.case import CaseWorkflow
from workflows.generations import CURRENT_GENERATION
from workflows.inquiry import ConfirmInquiry, InquiryInput, InquiryResult, InquiryWorkflow


class InquiryConfirmed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str
    already_confirmed: bool
    # The digest of the address the link went to: a first confirmation opens the patient's
    # portal visit for the new case, bound to it like a status link.
    email_sha256: str | None = None


def _secret(settings: CaseflowSettings) -> str:
    if settings.portal_link_secret is None:
        raise RuntimeError("portal_link_secret is not set: the portal cannot take inquiries")
    return settings.portal_link_secret.get_secret_value()


async def submit(
    client: Client,
    settings: CaseflowSettings,
    inquiry: PatientInquiry,
    form_nonce: str,
    today,
    directory: HospitalDirectory | None = None,
    **case_overrides,
) -> str:
    """Keep the inquiry (encrypted, in its workflow) and mail the confirmation link; returns the
    inquiry id. The same form nonce twice is the same inquiry: nothing is started again."""
    check_intake(inquiry.to_intake(), today)  # the date checks that need today
    directory = directory or HospitalDirectory.load_default()
    inquiry_id = inquiry_id_for(_secret(settings), form_nonce)
    if "retry" not in case_overrides:  # issue 11: the case retries as settings say
        from client.step_retry import step_retry

        case_overrides["retry"] = step_retry(settings).model_dump(mode="json")
    # The same form sent before: WorkflowAlreadyStartedError, and that inquiry stands.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            InquiryWorkflow.run,
            InquiryInput(
                inquiry_id=inquiry_id,
                inquiry=inquiry,
                hospitals=cases.hospitals_for(inquiry.to_intake(), directory),
                confirmation_hours=settings.inquiry_confirmation_hours,
                # The case the inquiry starts renders its letters on the render workers' queue.
                case_overrides={"letters_task_queue": settings.letters_queue(),
                                "generation": CURRENT_GENERATION,
                                **(case_overrides or {})},
            ),
            id=inquiry_workflow_id(inquiry_id),
            task_queue=settings.task_queue,
            static_summary="patient inquiry waiting for e-mail confirmation",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return inquiry_id


async def confirm(client: Client, settings: CaseflowSettings, token: str) -> InquiryConfirmed:
    """Open a confirmation link: PortalLinkInvalid/PortalLinkExpired for a bad or old one. The
    first use starts the case; a later one says so and changes nothing."""
    claims = read_token(
        _secret(settings), token, "confirm_inquiry", settings.inquiry_confirmation_hours * 3600
    )
    if claims.nonce is None:
        raise PortalLinkInvalid("this link is not valid")
    handle = client.get_workflow_handle_for(
        InquiryWorkflow.run, inquiry_workflow_id(claims.subject_id)
    )
    event = ConfirmInquiry(nonce=claims.nonce, email_sha256=claims.email_sha256)
    try:
        ack = await handle.execute_update(InquiryWorkflow.confirm, event)
        return InquiryConfirmed(
            case_id=ack.case_id,
            already_confirmed=ack.already_confirmed,
            email_sha256=claims.email_sha256,
        )
    except WorkflowUpdateFailedError:
        raise PortalLinkInvalid("this link is not valid") from None
    except RPCError:
        # Most often the inquiry has ended ("already completed" comes as NOT_FOUND): confirmed
        # before (its result names the case), or expired. No such inquiry: not valid.
        pass
    try:
        result: InquiryResult = await handle.result()
    except (WorkflowFailureError, RPCError):
        raise PortalLinkInvalid("this link is not valid") from None
    if result.outcome == "confirmed" and result.case_id is not None:
        return InquiryConfirmed(case_id=result.case_id, already_confirmed=True)
    raise PortalLinkExpired("this link has expired; send the inquiry again")


async def accept(
    client: Client, settings: CaseflowSettings, case_id: str, coordinator_id: str
) -> EventAck:
    """The coordinator takes the case on: it is assigned to them and moves to RECORDS."""
    cases.check_case_id(case_id)
    contact = await lookup_contact(settings, coordinator_id)
    return await cases._update(
        client, case_id, CaseWorkflow.accept_inquiry,
        AcceptInquiry(coordinator_id=coordinator_id, contact=contact),
    )


async def decline(client: Client, case_id: str, reason: str, declined_by: str) -> EventAck:
    """The coordinator declines: the case closes and the patient is told, in their language."""
    cases.check_case_id(case_id)
    return await cases._update(
        client, case_id, CaseWorkflow.decline_inquiry,
        DeclineInquiry(reason=reason, declined_by=declined_by),
    )
