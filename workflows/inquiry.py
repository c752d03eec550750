"""InquiryWorkflow: a patient's inquiry from the portal, kept (encrypted, as every payload) only
until its e-mail is confirmed (id `inquiry-<inquiry_id>`).

It mails the one-time confirmation link, waits up to `confirmation_hours`, and then either ends
with nothing started (the link was never opened) or, confirmed, starts the case's CaseWorkflow
in INTAKE (from_inquiry) and ends; the case outlives it (ABANDON).
"""

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.inquiry_mail import InquiryMailer
    from activities.payloads import InquiryConfirmationMail
    from caseflow.hospitals import Hospital
    from caseflow.ids import case_workflow_id
    from caseflow.inquiry import PatientInquiry
    from caseflow.portal_links import email_digest
    from workflows.case import CaseWorkflow
    from workflows.case_state import CaseWorkflowInput

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


class InquiryInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inquiry_id: str = Field(pattern=r"^[a-z2-7]{26}$")
    inquiry: PatientInquiry
    # The directory snapshot the case will carry (the workflow reads no files).
    hospitals: list[Hospital] = Field(min_length=1)
    confirmation_hours: int = Field(gt=0)
    # The case's own start options, for tests (e.g. its SLAs); None: the defaults.
    case_overrides: dict | None = None


class ConfirmInquiry(BaseModel):
    """What a confirmation link carries: its one-time nonce and the address digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nonce: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    email_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class InquiryAck(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inquiry_id: str
    case_id: str
    already_confirmed: bool = False


class InquiryResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inquiry_id: str
    outcome: str  # "confirmed" | "expired" | "not_sent"
    case_id: str | None = None


def _reject(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="InvalidInquiryEvent", non_retryable=True)


@workflow.defn
class InquiryWorkflow:
    @workflow.init
    def __init__(self, input: InquiryInput) -> None:
        self._input = input
        # The link's one-time use: named in the token, checked here.
        self._nonce = workflow.uuid4().hex
        self._confirmation: ConfirmInquiry | None = None
        self._case_id: str | None = None

    @workflow.run
    async def run(self, input: InquiryInput) -> InquiryResult:
        window = timedelta(hours=input.confirmation_hours)
        expires_at = workflow.now() + window
        patient = input.inquiry.patient
        try:
            await workflow.execute_activity_method(
                InquiryMailer.send_inquiry_confirmation,
                InquiryConfirmationMail(
                    inquiry_id=input.inquiry_id,
                    email=input.inquiry.email,
                    language=patient.preferred_language,
                    nonce=self._nonce,
                    expires_at=expires_at,
                ),
                start_to_close_timeout=timedelta(minutes=1),
                schedule_to_close_timeout=window,
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
            )
        except ActivityError:
            # No mail could go out within the link's validity: nothing to confirm, nothing kept.
            return InquiryResult(inquiry_id=input.inquiry_id, outcome="not_sent")
        remaining = expires_at - workflow.now()
        confirmed = remaining > timedelta(0) and await self._confirmed_within(remaining)
        if not confirmed:
            return InquiryResult(inquiry_id=input.inquiry_id, outcome="expired")
        case_id = "".join(_ALPHABET[workflow.random().randrange(32)] for _ in range(26))
        case_input = CaseWorkflowInput(
            case_id=case_id,
            intake=input.inquiry.to_intake(),
            hospitals=input.hospitals,
            from_inquiry=True,
            consent_events=input.inquiry.consent_events(),
            **(input.case_overrides or {}),
        )
        await workflow.start_child_workflow(
            CaseWorkflow.run,
            case_input,
            id=case_workflow_id(case_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            memo={
                "patient": {
                    "given_name": patient.given_name,
                    "family_name": patient.family_name,
                    "date_of_birth": patient.date_of_birth.isoformat(),
                }
            },
            static_summary="caseflow case from a patient inquiry, waiting in INTAKE",
        )
        self._case_id = case_id
        await workflow.wait_condition(workflow.all_handlers_finished)
        return InquiryResult(inquiry_id=input.inquiry_id, outcome="confirmed", case_id=case_id)

    async def _confirmed_within(self, remaining: timedelta) -> bool:
        try:
            await workflow.wait_condition(
                lambda: self._confirmation is not None, timeout=remaining,
                timeout_summary="inquiry confirmation window",
            )
        except TimeoutError:
            return False
        return True

    @workflow.update
    async def confirm(self, event: ConfirmInquiry) -> InquiryAck:
        if self._confirmation is not None:
            await workflow.wait_condition(lambda: self._case_id is not None)
            assert self._case_id is not None
            return InquiryAck(
                inquiry_id=self._input.inquiry_id, case_id=self._case_id, already_confirmed=True
            )
        self._confirmation = event
        await workflow.wait_condition(lambda: self._case_id is not None)
        assert self._case_id is not None
        return InquiryAck(inquiry_id=self._input.inquiry_id, case_id=self._case_id)

    @confirm.validator
    def _validate_confirm(self, event: ConfirmInquiry) -> None:
        # The same words for every mismatch: a link tells nothing about another inquiry.
        if event.nonce != self._nonce or event.email_sha256 != email_digest(
            self._input.inquiry.email
        ):
            raise _reject("this link is not valid")
