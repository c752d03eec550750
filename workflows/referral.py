"""HospitalReferralWorkflow: one hospital's referral, a child of the case.

It stores the packet, makes it available through the hospital's channel, then waits for the
hospital's answer under the hospital's own SLA. The answer arrives at the case (the coordinator's
record_hospital_response update, validated there) and is forwarded here as a signal. This workflow
owns the referral's HospitalReferralStatus: every progress signal carries all of it, and the case
stores what it is told, so the case's `status` shows every hospital live (an answer or an
acknowledgement the case forwarded shows there at once, until this workflow reports it).
"""

import asyncio
import contextlib
import functools
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.generations import takes

with workflow.unsafe.imports_passed_through():
    from activities.email_delivery import EmailDelivery
    from activities.letters import ReferralLetters
    from activities.payloads import (
        EMAIL_RETRY_POLICY,
        EMAIL_START_TO_CLOSE,
        WEBHOOK_RETRY_POLICY,
        WEBHOOK_START_TO_CLOSE,
        DeliveryConsent,
        EmailDeliveryRequest,
        Notice,
        PacketLink,
        PacketNotice,
        ReferralPacketRequest,
        StoredPacket,
        WebhookDeliveryRequest,
    )
    from activities.webhook_delivery import WebhookDelivery
    from caseflow import search_attributes as sa
    from caseflow.case_events import (
        AssignCoordinator,
        HospitalAcknowledgement,
        HospitalResponse,
        ReferralStepDecision,
    )
    from caseflow.case_status import (
        Deadline,
        Escalation,
        FailedStep,
        HospitalReferralStatus,
        ReferralState,
        next_due,
    )
    from caseflow.consent import ConsentLedger
    from caseflow.ids import referral_workflow_id
    from caseflow.referrals import take_answer
    from caseflow.sla import SlaStep, WaitKind
    from workflows.referral_messages import (
        HoldChange,
        ReferralInput,
        ReferralProgress,
        ReferralReports,
    )
    from workflows.sla_watch import (
        SlaWatch,
        StepAction,
        escalate_deadline,
        notify_escalation,
        send_notice,
        step_failure_reason,
    )
    from workflows.upserts import CoalescedUpserts, when_task_idle


# Running referrals started before email and webhook delivery went manual; replaying their
# histories must take the same path.
DELIVERY_CHANNELS_PATCH = "packet-delivery-channels"
# Likewise for the acknowledgement wait, which runs beside the answer's.
ACKNOWLEDGEMENT_PATCH = "hospital-acknowledgement-sla"
# And for the case reading answers and acknowledgements from this workflow's status: it must
# hear of an answer recorded before the answer wait began (the hospital answered before the
# packet went out) and of an acknowledgement recorded after an answer (needs more information).
REPORTS_PATCH = "referral-reports-every-answer-and-acknowledgement"
# And for the referral telling the case whenever its open waits change, so the case's status and
# SlaDueAt show the hospital's acknowledgement and answer deadlines: new signals.
DEADLINES_PATCH = "referral-reports-its-deadlines"
# The progress event of such a report: no timeline entry, only the status.
DEADLINES_CHANGED = "deadlines_changed"
# Lean histories (issue 14): a referral's reports go to the case in batches, one signal per
# workflow task rather than one per event (the status rides in each, so the case applies them in
# order as before), a batch of deadline moves alone is never sent as the run ends (its result
# carries the final status), and its search attributes are upserted once per workflow task.
LEAN_REPORTS_PATCH = "referral-batched-reports"
REPORTS_SIGNAL = "referral_reports"
# Errors the delivery handles itself; any other failure is a failed step (retry_step/skip_step).
_BLOCKING_ERRORS = ("ConsentMissing", "EndpointGone")


@workflow.defn
class HospitalReferralWorkflow:
    @workflow.init
    def __init__(self, input: ReferralInput) -> None:
        self._input = input
        self._coordinator_id = input.coordinator_id
        self._contact = input.coordinator_contact
        self._on_hold = input.on_hold
        self._responses: list[HospitalResponse] = []
        self._acknowledged = False
        self._deadlines: dict[str, Deadline] = {}
        self._failed_steps: dict[str, FailedStep] = {}
        self._decisions: dict[str, StepAction] = {}
        self._published: dict[str, object] = {}
        # The open waits as the case last heard of them.
        self._reported_deadlines: list[Deadline] = []
        self._reports_deadlines = False  # and the SlaWaitsFor search attribute
        # LEAN_REPORTS_PATCH: reports not yet signalled, whether one is in flight, and whether
        # the run is ending (deadline moves are then left to the result).
        self._lean = False
        self._outbox: list[ReferralProgress] = []
        self._sending = False
        self._ending = False
        self._answer_final = False  # no acknowledgement is waited for after a final answer
        self._upserts: CoalescedUpserts | None = None
        self._consent = input.consent or ConsentLedger.from_intake(input.intake)
        self._blocked_count = 0
        hospital = input.hospital
        self._status = HospitalReferralStatus(
            hospital_id=hospital.hospital_id,
            workflow_id=referral_workflow_id(input.case_id, hospital.hospital_id),
            channel=hospital.channel,
        )
        self._watch = SlaWatch(
            deadlines=self._deadlines,
            failed_steps=self._failed_steps,
            step_decisions=self._decisions,
            is_on_hold=lambda: self._on_hold,
            escalate=self._escalate,
            changed=self._publish,
            record=self._record_step,
            step_policy=input.slas.for_wait(WaitKind.STEP_FAILURE),
            retry=input.retry,
            generation=input.generation,
        )

    @workflow.run
    async def run(self, input: ReferralInput) -> HospitalReferralStatus:
        hospital = input.hospital
        self._reports_deadlines = takes(DEADLINES_PATCH, self._input.generation)
        if self._reports_deadlines:
            # Not awaited: it ends with the workflow.
            self._deadline_reports = asyncio.create_task(self._report_deadlines())
        self._lean = takes(LEAN_REPORTS_PATCH, self._input.generation)
        if self._lean:
            self._upserts = CoalescedUpserts()
            self._upserts.set({sa.HOSPITALS.name: (sa.HOSPITALS, [hospital.hospital_id])})
        else:
            workflow.upsert_search_attributes([sa.HOSPITALS.value_set([hospital.hospital_id])])
        # Consent is checked before every delivery, retries included [docs/sources.md, "Consent"].
        if not self._consent_in_force():
            self._status.state = ReferralState.CANCELLED
            await self._report("consent_missing", "no referral consent for this hospital")
            await self._reports_sent()
            return self._status

        packet_id = str(workflow.uuid4())
        self._status.packet_id = packet_id
        self._created_at = workflow.now()
        stored = await self._watch.run_step(
            f"referral-{hospital.hospital_id}-packet",
            ReferralLetters.render_referral_packet,
            ReferralPacketRequest(
                packet_id=packet_id,
                case_id=input.case_id,
                hospital=hospital,
                intake=input.intake,
                documents=input.documents,
                triage_flags=input.triage_flags,
                modalities=[m.value for m in input.review.modalities],
                recommendation=input.review.recommendation,
                reviewer_id=input.review.reviewer_id,
                coordinator_id=self._coordinator_id,
                coordinator_contact=self._contact,
                language=input.letter_language,
                written_on=workflow.now().date(),
                reason=input.review.reason,
                question=input.review.question,
                created_at=self._created_at,
                consents=self._consent.grants_for(hospital.country, hospital.hospital_id),
            ),
            hospital_id=hospital.hospital_id,
            # The render workers' queue: typesetting never competes with the case's updates.
            task_queue=input.letters_task_queue,
        )
        if stored is not None:
            self._status.packet_prefix = stored.prefix
            self._status.packet_sha256 = stored.sha256
            self._status.state = ReferralState.PACKET_STORED
            await self._report("packet_stored", f"packet {packet_id} sha256 {stored.sha256}")
        else:
            await self._report("packet_skipped", "packet step skipped; deliver by hand")

        await self._deliver(stored)
        # Acknowledgement and answer are separate facts with separate SLAs, waited for at once.
        acknowledgement = None
        if takes(ACKNOWLEDGEMENT_PATCH, self._input.generation):
            acknowledgement = asyncio.create_task(self._await_acknowledgement())
        await self._await_answer()
        if acknowledgement is not None:
            if not acknowledgement.done() and not self._acknowledged:
                # Waiting for a late acknowledgement, and the answer is final: nothing comes.
                if self._lean:
                    # Told, not cancelled: a cancel that meets a wait just ending is lost in
                    # asyncio.wait_for (Python 3.11), and the task would wait for ever.
                    self._answer_final = True
                else:
                    acknowledgement.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acknowledgement  # an answer implies receipt: it ends the SLA wait
        await self._reports_sent()
        return self._status

    async def _reports_sent(self) -> None:
        """LEAN_REPORTS_PATCH: before the run returns, the case has every report that says more
        than the result does; then this task's search attributes go out."""
        if not self._lean:
            return
        self._ending = True
        self._outbox = [p for p in self._outbox if p.event != DEADLINES_CHANGED]
        await workflow.wait_condition(lambda: not self._outbox and not self._sending)
        assert self._upserts is not None
        self._upserts.flush()

    async def _send_reports(self) -> None:
        """One signal per batch, one batch in flight at a time (so they arrive in order)."""
        parent = workflow.get_external_workflow_handle(self._input.parent_workflow_id)
        try:
            while self._outbox:
                await when_task_idle()  # this workflow task's other reports join the batch
                last = len(self._outbox) - 1
                # A deadline move is news only if nothing later in the batch carries a status.
                batch = [
                    p
                    for i, p in enumerate(self._outbox)
                    if p.event != DEADLINES_CHANGED or i == last
                ]
                self._outbox = []
                if batch:  # (the run's end may have left only deadline moves, dropped)
                    await parent.signal(REPORTS_SIGNAL, ReferralReports(reports=batch))
        finally:
            self._sending = False

    async def _await_acknowledgement(self) -> None:
        hospital_id = self._input.hospital.hospital_id
        await self._watch.wait(
            f"acknowledgement-{hospital_id}",
            WaitKind.HOSPITAL_ACKNOWLEDGEMENT,
            self._input.slas.for_wait(WaitKind.HOSPITAL_ACKNOWLEDGEMENT),
            lambda: self._acknowledged or bool(self._responses),
            subject=hospital_id,
        )
        if not self._acknowledged and takes(REPORTS_PATCH, self._input.generation):
            # Answered first (an answer implies receipt, so the SLA is met); the coordinator may
            # still record the acknowledgement while the hospital is asked for more.
            await workflow.wait_condition(lambda: self._acknowledged or self._answer_final)
        if self._acknowledged:
            # Only the answer's clock may still hold an escalation.
            self._status.escalation_level = self._watch.highest_level()
            self._publish()
            await self._report("acknowledged", self._status.acknowledgement_reference or "")

    async def _report_deadlines(self) -> None:
        """Tell the case whenever the open waits (acknowledgement, answer, a failed step) change
        and no other report has said so: a wait begun, escalated, held, or ended."""
        try:
            while True:
                await workflow.wait_condition(
                    lambda: self._status.open_deadlines != self._reported_deadlines
                )
                await self._report(DEADLINES_CHANGED, "")
        except asyncio.CancelledError:
            return  # the referral was cancelled: the case no longer counts its waits

    def _consent_in_force(self) -> bool:
        hospital = self._input.hospital
        return self._consent.allows(hospital.country, hospital.hospital_id, "referral")

    async def _wait_for_consent(self, why: str) -> None:
        """Nothing is sent without referral consent: escalate to the coordinator at once, then
        wait until consent is recorded again (record_consent) [docs/sources.md, "Consent"]."""
        hospital_id = self._input.hospital.hospital_id
        self._blocked_count += 1
        previous = self._status.state
        self._status.state = ReferralState.DELIVERY_BLOCKED
        reason = f"delivery to hospital {hospital_id} blocked: {why}; nothing was sent"
        escalation = await self._escalate_now(
            f"consent-blocked-{self._blocked_count}", "consent", reason
        )
        await self._report("delivery_blocked", reason, escalation=escalation)
        await workflow.wait_condition(self._consent_in_force)
        self._status.state = previous
        self._status.escalation_level = 0
        self._publish()
        await self._report("delivery_unblocked", "referral consent recorded again")

    async def _deliver(self, stored: StoredPacket | None) -> None:
        """Send the packet through the hospital's channel; consent first, on every try."""
        hospital = self._input.hospital
        channel = hospital.channel
        if stored is None and channel != "manual":
            channel = "manual"  # no stored packet to send: the coordinator delivers by hand
        elif channel != "manual" and not takes(DELIVERY_CHANNELS_PATCH, self._input.generation):
            channel = "manual"
        while True:
            while not self._consent_in_force():
                await self._wait_for_consent("no referral consent in force")
            if channel == "manual":
                await self._deliver_manually()
                return
            assert stored is not None
            try:
                receipt = await self._send(channel, stored)
            except ActivityError as error:
                cause = error.cause
                if not isinstance(cause, ApplicationError) or cause.type not in _BLOCKING_ERRORS:
                    raise  # cancelled (withdrawal)
                if cause.type == "ConsentMissing":
                    # The gate read the live ledger: withdrawn after this loop checked it.
                    await self._wait_for_consent("referral consent withdrawn")
                    continue
                await self._disable_endpoint(cause.message)
                channel = "manual"
                continue
            if receipt is None:  # the failed delivery step was skipped
                await self._deliver_manually("delivery step skipped; ")
                return
            self._status.state = ReferralState.DELIVERED
            self._status.delivered_at, self._status.delivery_receipt = receipt
            await self._report(
                "packet_delivered",
                f"packet {self._status.packet_id} sha256 {self._status.packet_sha256} by "
                f"{channel} to {', '.join(self._status.recipients)}",
            )
            return

    async def _send(self, channel: str, stored: StoredPacket) -> tuple[datetime, str] | None:
        """One delivery step: (receipt time, receipt) or None when the step was skipped."""
        hospital = self._input.hospital
        notice = PacketNotice(
            packet_id=stored.packet_id,
            case_id=self._input.case_id,
            hospital_id=hospital.hospital_id,
            created_at=self._created_at,
            manifest_url=stored.manifest_url,
            manifest_sha256=stored.sha256,
            letter_url=stored.letter_url,
            bundle_url=stored.bundle_url,
            links_expire_at=stored.links_expire_at,
            documents=[PacketLink(**d.model_dump()) for d in stored.documents],
            reply_url=stored.reply_url,  # the hospitals' reply path (issue 8)
            contact=self._contact,
            language=self._input.letter_language,
        )
        consent = DeliveryConsent(
            country=hospital.country,
            hospital_id=hospital.hospital_id,
            purpose="referral",
            ledger=self._consent,
            ledger_workflow_id=self._input.parent_workflow_id,
        )
        retry = self._input.retry
        step_id = f"referral-{hospital.hospital_id}-delivery"
        if channel == "webhook":
            assert hospital.webhook_url is not None
            self._status.recipients = [f"webhook:{hospital.hospital_id}"]
            webhook = await self._watch.run_step(
                step_id,
                WebhookDelivery.deliver_packet_webhook,
                WebhookDeliveryRequest(
                    packet_id=stored.packet_id,
                    endpoint_id=hospital.hospital_id,
                    url=hospital.webhook_url,
                    notice=notice,
                    consent=consent,
                ),
                hospital_id=hospital.hospital_id,
                retry_policy=retry.delivery_policy(WEBHOOK_RETRY_POLICY),
                start_to_close_timeout=WEBHOOK_START_TO_CLOSE,
                raise_types=_BLOCKING_ERRORS,
            )
            if webhook is None:
                return None
            return webhook.sent_at, f"HTTP {webhook.status_code}, attempt {webhook.attempt}"
        assert hospital.contact_email is not None
        self._status.recipients = [hospital.contact_email]
        mail = await self._watch.run_step(
            step_id,
            EmailDelivery.deliver_packet_email,
            EmailDeliveryRequest(
                packet_id=stored.packet_id,
                to=hospital.contact_email,
                notice=notice,
                letter_key=stored.letter_pdf_key or stored.prefix + "letter.pdf",
                consent=consent,
                # The mail's subject (issue 12); an activity input, so replays are unaffected.
                pathway=self._input.intake.pathway,
                hospital_reference=self._status.acknowledgement_reference,
            ),
            hospital_id=hospital.hospital_id,
            retry_policy=retry.delivery_policy(EMAIL_RETRY_POLICY),
            start_to_close_timeout=EMAIL_START_TO_CLOSE,
            raise_types=_BLOCKING_ERRORS,
        )
        if mail is None:
            return None
        # SMTP gives no receipt time: the workflow's time when the relay accepted the mail.
        return workflow.now(), f"Message-ID {mail.message_id}, attempt {mail.attempt}"

    async def _disable_endpoint(self, why: str) -> None:
        """410 Gone: stop using the webhook, fall back to manual, and tell the coordinator."""
        hospital_id = self._input.hospital.hospital_id
        self._status.endpoint_disabled = True
        self._status.channel = "manual"
        reason = f"webhook of hospital {hospital_id} is gone ({why}); deliver by hand"
        escalation = await self._escalate_now(f"endpoint-{hospital_id}", "endpoint", reason)
        await self._report("endpoint_disabled", reason, escalation=escalation)

    async def _escalate_now(self, key: str, subject: str, reason: str) -> Escalation:
        """An immediate escalation to the coordinator (not an SLA step): notice and record."""
        hospital_id = self._input.hospital.hospital_id
        escalation = await notify_escalation(
            notice_id=f"{self._input.case_id}.{hospital_id}.{key}",
            case_id=self._input.case_id,
            coordinator_id=self._coordinator_id,
            deadline_id=key,
            wait=WaitKind.STEP_FAILURE,
            subject=f"{subject} {hospital_id}",
            step=SlaStep.ESCALATE_COORDINATOR,
            level=2,
            reason=reason,
            sla_step=False,
        )
        self._status.escalation_level = max(self._status.escalation_level, 2)
        self._publish()
        return escalation

    async def _deliver_manually(self, why: str = "") -> None:
        hospital = self._input.hospital
        # The coordinator fetches the packet with `caseflow case packet` and sends it.
        await send_notice(
            Notice(
                notice_id=f"{self._input.case_id}.{hospital.hospital_id}.packet-ready",
                case_id=self._input.case_id,
                coordinator_id=self._coordinator_id,
                reason=f"referral packet for hospital {hospital.hospital_id} is ready",
                audience=["coordinator"],
            )
        )
        self._status.channel = "manual"
        self._status.recipients = [f"coordinator:{self._coordinator_id}"]
        self._status.state = ReferralState.DELIVERED
        self._status.delivered_at = workflow.now()
        self._status.delivery_receipt = "handed to the coordinator"
        await self._report("packet_delivered", f"{why}packet ready for manual delivery")

    async def _await_answer(self) -> None:
        hospital = self._input.hospital
        policy = hospital.response_sla or self._input.slas.for_wait(WaitKind.HOSPITAL_RESPONSE)
        round_ = 0
        # Answers already recorded count from the first round on (before the patch they were
        # passed over, and the wait was for another one).
        counted = 0 if takes(REPORTS_PATCH, self._input.generation) else len(self._responses)
        while True:
            self._status.state = (
                ReferralState.NEEDS_MORE_INFORMATION
                if round_ and self._status.state == ReferralState.NEEDS_MORE_INFORMATION
                else ReferralState.AWAITING_RESPONSE
            )
            seen = counted if round_ == 0 else len(self._responses)
            await self._report(self._status.state.value, f"round {round_}")
            await self._watch.wait(
                f"hospital-{hospital.hospital_id}-{round_}",
                WaitKind.HOSPITAL_RESPONSE,
                policy,
                functools.partial(self._answered_since, seen),
                subject=hospital.hospital_id,
            )
            take_answer(self._status, self._responses[-1], workflow.now())
            if self._status.state == ReferralState.NEEDS_MORE_INFORMATION:
                # The hospital asked for more: the clock restarts for its next answer.
                round_ += 1
                continue
            self._publish()
            return

    def _answered_since(self, seen: int) -> bool:
        return len(self._responses) > seen

    @workflow.signal
    def hospital_responded(self, response: HospitalResponse) -> None:
        self._responses.append(response)

    @workflow.signal
    def hospital_acknowledged(self, event: HospitalAcknowledgement) -> None:
        if not self._acknowledged:
            self._acknowledged = True
            self._status.acknowledged_at = workflow.now()
            self._status.acknowledgement_reference = event.reference

    @workflow.signal
    def consent_changed(self, ledger: ConsentLedger) -> None:
        self._consent = ledger

    @workflow.signal
    def decide_step(self, decision: ReferralStepDecision) -> None:
        if decision.step_id in self._failed_steps:
            self._decisions[decision.step_id] = decision.action

    @workflow.signal
    def set_hold(self, change: HoldChange) -> None:
        self._on_hold = change.on_hold

    @workflow.signal
    def assign_coordinator(self, change: AssignCoordinator) -> None:
        self._coordinator_id = change.coordinator_id
        self._contact = change.contact

    @workflow.query
    def status(self) -> HospitalReferralStatus:
        return self._status

    async def _escalate(self, deadline: Deadline, step: SlaStep, level: int) -> None:
        hospital_id = self._input.hospital.hospital_id
        if deadline.wait == WaitKind.STEP_FAILURE:
            reason = f"referral {step_failure_reason(deadline)}"
        elif deadline.wait == WaitKind.HOSPITAL_ACKNOWLEDGEMENT:
            reason = f"hospital {hospital_id} has not acknowledged the referral packet"
        else:
            reason = f"hospital {hospital_id} has not answered the referral"
        escalation = await escalate_deadline(
            self._input.case_id, self._coordinator_id, deadline, step, level, reason
        )
        self._status.escalation_level = max(level, self._watch.highest_level())
        self._publish(level)
        await self._report(f"sla_{step.value}", reason, escalation=escalation)

    async def _record_step(self, event: str, detail: str, step_id: str) -> None:
        # Failed-step bookkeeping goes to the case, which owns the timeline and retry/skip.
        failed = self._failed_steps.get(step_id) if event == "step_failed" else None
        if failed is not None:
            self._status.state = ReferralState.STEP_FAILED
            self._status.failed_step_id = step_id
        else:
            self._status.failed_step_id = None
        await self._report(
            event,
            detail,
            failed_step=failed,
            cleared_step_id=None if failed is not None else step_id,
        )

    async def _report(
        self,
        event: str,
        detail: str,
        *,
        escalation: Escalation | None = None,
        failed_step: FailedStep | None = None,
        cleared_step_id: str | None = None,
    ) -> None:
        parent = workflow.get_external_workflow_handle(self._input.parent_workflow_id)
        _stop_if_cancelled()
        status = self._status.model_copy(deep=True)
        self._reported_deadlines = status.open_deadlines
        progress = ReferralProgress(
            status=status,
            event=event,
            detail=detail,
            escalation=escalation,
            failed_step=failed_step,
            cleared_step_id=cleared_step_id,
        )
        if self._lean:
            if self._ending and event == DEADLINES_CHANGED:
                return  # the result carries the final waits
            self._outbox.append(progress)
            if not self._sending:
                self._sending = True
                # Not awaited: the reporter goes on at once, the batch follows this task.
                self._sender = asyncio.create_task(self._send_reports())
            return
        await parent.signal("referral_progress", progress)
        # A cancellation (the case's withdrawal) that arrives while a signal is in flight is
        # absorbed by the SDK's signal operation; honour it here, or the referral waits forever.
        _stop_if_cancelled()

    def _publish(self, level: int | None = None) -> None:
        # Every change to a wait comes through here (SlaWatch's `changed`): the status carries
        # a copy of each open wait, labelled with the hospital, for the case to show.
        hospital_id = self._input.hospital.hospital_id
        self._status.open_deadlines = [
            d.model_copy(update={"hospital_id": hospital_id}) for d in self._deadlines.values()
        ]
        first = next_due(self._status.open_deadlines)
        due = first.due_at if first else None
        waits_for = first.waits_for if first and self._reports_deadlines else None
        level = self._status.escalation_level if level is None else level
        wanted: dict[str, object] = {"level": level, "due": due, "waits_for": waits_for}
        if wanted == self._published:
            return
        self._published = wanted
        if self._upserts is not None:
            self._upserts.set(
                {
                    sa.ESCALATED.name: (sa.ESCALATED, level >= 2),
                    sa.ESCALATION_LEVEL.name: (sa.ESCALATION_LEVEL, level),
                    sa.SLA_DUE_AT.name: (sa.SLA_DUE_AT, due),
                    sa.SLA_WAITS_FOR.name: (sa.SLA_WAITS_FOR, waits_for),
                }
            )
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.ESCALATED.value_set(level >= 2),
            sa.ESCALATION_LEVEL.value_set(level),
            sa.SLA_DUE_AT.value_set(due) if due else sa.SLA_DUE_AT.value_unset(),
        ]
        if self._reports_deadlines:
            updates.append(
                sa.SLA_WAITS_FOR.value_set(waits_for)
                if waits_for
                else sa.SLA_WAITS_FOR.value_unset()
            )
        workflow.upsert_search_attributes(updates)


def _stop_if_cancelled() -> None:
    if workflow.cancellation_reason() is not None:
        raise asyncio.CancelledError()

