"""CaseWorkflow: one durable workflow per case, from intake to follow-up (id `case-<case_id>`).

Coordinators drive it with validated updates; every wait on a person or a hospital runs under an
SLA (workflows/sla_watch.py); HOSPITAL_SUBMISSION runs one HospitalReferralWorkflow per hospital.
Stage logic lives in one coroutine per stage, which `_drive` runs in turn; withdrawal and
continue-as-new interrupt it from `run`.
"""

import asyncio
import functools
import inspect
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    is_cancelled_exception,
)

from workflows.generations import takes

with workflow.unsafe.imports_passed_through():
    from activities.documents import DocumentStore
    from activities.inquiry_mail import InquiryMailer
    from activities.letters import ReferralLetters
    from activities.notifications import CaseMailer
    from activities.patient_mail import PatientMailer
    from activities.payloads import (
        CONSENT_LEDGER_QUERY,
        EraseCaseDocumentsInput,
        InquiryDeclinedMail,
        Notice,
        PatientNotice,
        TranslationDocument,
        TranslationJob,
        TranslationPacketRequest,
    )
    from caseflow.case_events import (
        AcceptInquiry,
        AcceptPatientDocument,
        AddDocument,
        AddPatientDocument,
        AdmissionRecorded,
        AssignCoordinator,
        ChangeDestinations,
        DeclineInquiry,
        DischargeRecorded,
        FollowUpRecorded,
        Hold,
        HospitalAcknowledgement,
        HospitalResponse,
        RecordConsent,
        ReferralStepDecision,
        RejectPatientDocument,
        Resume,
        RetryStep,
        ReviewOutcome,
        SelectHospital,
        SkipStep,
        SkipTranslation,
        SubmitReview,
        TranslationReceived,
        TravelEvent,
        WaiveRequirement,
        Withdraw,
        WithdrawConsent,
    )
    from caseflow.case_status import (
        CaseOutcome,
        CaseProgress,
        CaseResult,
        CaseStage,
        CaseStatus,
        Deadline,
        EventAck,
        FollowUpState,
        HospitalReferralStatus,
        ReferralState,
        TimelineEntry,
        TravelProgress,
        TriageFlagEntry,
    )
    from caseflow.checklist import ChecklistError, RecordsChecklist
    from caseflow.consent import RECORDS_REVIEW, ConsentEvent, ConsentLedger
    from caseflow.destinations import destination_change_error, outside_destinations
    from caseflow.documents import ACCEPTED_CONTENT_TYPES, DocumentKind, DocumentRef
    from caseflow.hospitals import Hospital
    from caseflow.ids import document_key, referral_workflow_id
    from caseflow.intake import ConsentGrant
    from caseflow.referrals import (
        CASE_DECISIONS,
        ReferralRuleError,
        check_acknowledgement,
        check_answer,
        check_selection,
        none_can_accept,
        take_answer,
    )
    from caseflow.sla import SlaStep, WaitKind
    from caseflow.translation_need import translation_language_error, translation_need
    from caseflow.travel import TravelError, check_travel_event, record_travel_event
    from caseflow.triage import triage
    from caseflow.trial_matching import TrialMatchProfile, profile_from_intake
    from caseflow.trial_referrals import (
        ChooseNextOption,
        NextOption,
        ReferToTrials,
        is_trial_site,
        screening_review,
    )
    from workflows.case_metrics import count_stage_entered
    from workflows.case_state import CaseState, CaseWorkflowInput
    from workflows.case_view import CaseView, escalation_level
    from workflows.referral_messages import (
        HoldChange,
        ReferralInput,
        ReferralProgress,
        ReferralReports,
    )
    from workflows.sla_watch import (
        NOTICE_RETRY,
        SlaWatch,
        StepAction,
        escalate_deadline,
        send_notice,
        step_failure_reason,
    )

from workflows.referral import DEADLINES_CHANGED, REPORTS_SIGNAL, HospitalReferralWorkflow
from workflows.upserts import when_task_idle

# Stages in which a document may still be added (anything but a closed case).
_OPEN_STAGES = frozenset(CaseStage) - {CaseStage.CLOSED}
# Cases that started their referrals before this patch merged the children's reports into
# their own record; replaying them must keep doing so. Since: each child owns its status.
REFERRAL_STATUS_PATCH = "referral-status-owned-by-child"
# Cases that ran before the patient's notices mailed them nothing; replaying them must not.
# Since: a mail in the patient's language at each stage change and records request (issue 10).
PATIENT_NOTICES_PATCH = "patient-notices"
# Since: a withdrawn records review consent mails the coordinator that erasure is next.
REVIEW_CONSENT_WITHDRAWN_PATCH = "review-consent-withdrawn"
# Since: the translation is decided from the languages, and a missing translation consent is a
# wait that escalates (issue 12). Before: a job was always sent, or a note said why not.
TRANSLATION_BY_LANGUAGE_PATCH = "translation-by-language"
# Cases that closed on "not a candidate", or went back to review when every hospital declined,
# before the next option existed; replaying them must do so again. Since: NEXT_OPTION (issue 15).
NEXT_OPTION_PATCH = "next-option-after-first-fails"
# Cases whose updates answered at once, before the run acted on them (their update completions
# precede the run's commands in history); replaying them must answer so again. Since: the ack
# names the stage after the run's reaction, and clients query nothing after an update (issue 14).
SETTLED_ACKS_PATCH = "settled-update-acks"
# Cases whose answer and acknowledgement updates waited for the child to report them back;
# replaying them must wait again. Since: the case shows what it forwarded at once, and the
# update completes without the child's round trip (issue 14: update p99).
ANSWERS_AT_ONCE_PATCH = "hospital-answers-shown-at-once"
# Cases that started each hospital's referral once the one before it had started; replaying them
# must do so again. Since: every referral of a review starts in the same workflow task.
REFERRALS_TOGETHER_PATCH = "referrals-started-together"
# Stages whose referrals (hospitals' or trial teams') take answers, acknowledgements, selection.
_REFERRING_STAGES = (CaseStage.HOSPITAL_SUBMISSION, CaseStage.TRIAL_SCREENING)
# A referral in these states is waiting (or about to wait) for the hospital's answer.
_AWAITING_ANSWER = frozenset(
    {
        ReferralState.DELIVERED,
        ReferralState.AWAITING_RESPONSE,
        ReferralState.NEEDS_MORE_INFORMATION,
    }
)


def _reject(reason: str) -> ApplicationError:
    """A rejected event: one line, naming the field, never patient data."""
    return ApplicationError(reason, type="InvalidCaseEvent", non_retryable=True)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _settles(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An update handler whose ack names the stage once the case's run has acted on the event in
    the same workflow task (a review that proceeds answers HOSPITAL_SUBMISSION, not
    SPECIALIST_REVIEW), so a client needs no query after it (issue 14: cheap polling)."""

    @functools.wraps(handler)
    async def settled(self: "CaseWorkflow", event: Any) -> EventAck:
        ack = handler(self, event)
        if inspect.isawaitable(ack):
            ack = await ack
        return await self._settled(ack)

    return settled


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, input: CaseWorkflowInput) -> None:
        self._input = input
        self._case_id = input.case_id
        self._hospitals = {h.hospital_id: h for h in input.hospitals}
        if input.carried is not None:
            self._state = input.carried.model_copy(deep=True)
            self._state.run_count += 1
        else:
            self._state = CaseState(
                stage_entered_at=workflow.now(),
                coordinator_id=input.intake.coordinator_id,
                coordinator_contact=input.coordinator_contact,
                checklist=RecordsChecklist.build(input.intake),
            )
        if self._state.hospitals is not None:  # destinations changed after intake (issue 12)
            self._hospitals = {h.hospital_id: h for h in self._state.hospitals}
        if self._state.consent is None:
            self._state.consent = (
                ConsentLedger().recorded(*input.consent_events)
                if input.consent_events is not None
                else ConsentLedger.from_intake(input.intake)
            )
        # Trial sites the case was referred to are hospitals to its referral machinery (issue 15).
        for site_id, target in self._state.trial_targets.items():
            self._hospitals[site_id] = target.site
        self._children: dict[str, workflow.ChildWorkflowHandle] = {}
        # False only while replaying referrals started before REFERRAL_STATUS_PATCH.
        self._child_owns_status = True
        # Answers and acknowledgements the case forwarded to a child that has not reported them
        # back yet (ANSWERS_AT_ONCE_PATCH), by hospital: the case's record shows them meanwhile.
        self._answers_forwarded: dict[str, HospitalResponse] = {}
        self._acknowledgements_forwarded: set[str] = set()
        self._forwarding: list[asyncio.Task] = []  # their signals, until the server has them
        self._view = CaseView(input)
        # Mails to the patient in flight; the run waits for them before it ends or continues.
        self._patient_mail: list[asyncio.Task] = []
        self._watch = SlaWatch(
            deadlines=self._state.deadlines,
            failed_steps=self._state.failed_steps,
            step_decisions=self._state.step_decisions,
            is_on_hold=lambda: self._state.on_hold,
            escalate=self._escalate,
            changed=self._publish,
            record=self._record_step,
            step_policy=input.slas.for_wait(WaitKind.STEP_FAILURE),
            retry=input.retry,
            generation=input.generation,
        )

    # -- the run ---------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseWorkflowInput) -> CaseResult:
        s = self._state
        if input.carried is None:
            self._open()
        else:
            # Steps re-run from the start in a new run; their old waits are void.
            for deadline_id in [d for d in s.deadlines if d.startswith("step-")]:
                del s.deadlines[deadline_id]
            s.failed_steps.clear()
            s.step_decisions.clear()
            self._note("continued_as_new", f"run {s.run_count}")
        self._publish()

        driver = asyncio.create_task(self._drive())
        await workflow.wait_condition(
            lambda: driver.done()
            or s.withdrawal is not None
            or self._should_continue_as_new()
        )
        if s.withdrawal is not None and s.stage != CaseStage.CLOSED:
            await self._stop(driver)
            await self._withdraw()
        elif not driver.done():
            await self._stop(driver)
            await workflow.wait_condition(workflow.all_handlers_finished)
            await self._mail_and_signals_sent()
            self._view.flush()  # the search attributes this run's last task changed
            workflow.continue_as_new(input.model_copy(update={"carried": s}))
        else:
            driver.result()  # re-raise anything unexpected
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._mail_and_signals_sent()
        assert s.outcome is not None and s.closed_at is not None
        self._view.flush()  # the search attributes this run's last task changed
        return CaseResult(
            case_id=self._case_id,
            outcome=s.outcome,
            closed_at=s.closed_at,
            documents_erased=s.documents_erased,
        )

    def _should_continue_as_new(self) -> bool:
        # Never with children running: their handles do not survive into the next run.
        if self._state.stage in (*_REFERRING_STAGES, CaseStage.CLOSED):
            return False
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self._input.continue_as_new_after_events
        return limit is not None and info.get_current_history_length() >= limit

    async def _stop(self, driver: asyncio.Task) -> None:
        driver.cancel()
        try:
            await driver
        except asyncio.CancelledError:
            pass
        except ActivityError as error:
            # The cancellation reached an activity in flight (a packet being stored when the
            # case continues as new or is withdrawn): the step re-runs, or is moot.
            if not is_cancelled_exception(error):
                raise

    def _open(self) -> None:
        intake = self._input.intake
        flags = triage(intake, workflow.now().date())
        self._state.triage_flags = [
            TriageFlagEntry(code=f.code, level=str(f.level), message=f.message, source=f.source,
                            phrases=list(f.phrases))
            for f in flags
        ]
        self._note("case_opened", f"pathway {intake.pathway}; {len(flags)} triage flag(s)")
        if self._input.from_inquiry:
            # A patient's inquiry: INTAKE waits for a coordinator to accept or decline it.
            self._note("inquiry_confirmed", "waiting for a coordinator", actor="patient")
            return
        self._enter(CaseStage.RECORDS)

    async def _drive(self) -> None:
        stages = {
            CaseStage.INTAKE: self._intake,
            CaseStage.RECORDS: self._records,
            CaseStage.SPECIALIST_REVIEW: self._specialist_review,
            CaseStage.HOSPITAL_SUBMISSION: self._hospital_submission,
            CaseStage.NEXT_OPTION: self._next_option,
            CaseStage.TRIAL_SCREENING: self._trial_screening,
            CaseStage.TRANSLATION: self._translation,
            CaseStage.TRAVEL: self._travel,
            CaseStage.ADMISSION: self._admission,
            CaseStage.FOLLOW_UP: self._follow_up,
        }
        while self._state.stage != CaseStage.CLOSED:
            await stages[self._state.stage]()

    # -- stages ----------------------------------------------------------------------------------

    async def _intake(self) -> None:
        """Only a case from an inquiry stays in INTAKE: until a coordinator decides, under the
        "first contact within 24 h" SLA."""
        s = self._state
        await self._wait(
            WaitKind.INQUIRY_ACCEPTANCE, "inquiry",
            lambda: s.inquiry_accepted is not None or s.inquiry_declined is not None,
        )
        declined = s.inquiry_declined
        if declined is None:
            self._enter(CaseStage.RECORDS, f"accepted by {s.coordinator_id}")
            return
        patient = self._input.intake.patient
        if not s.decline_mail_sent and patient.email is not None:
            sent = await self._watch.run_step(
                "inquiry-declined-mail",
                InquiryMailer.send_inquiry_declined,
                InquiryDeclinedMail(
                    case_id=self._case_id, email=patient.email,
                    language=patient.preferred_language, reason=declined.reason,
                ),
            )
            s.decline_mail_sent = sent is not None
            self._note("patient_told" if sent is not None else "patient_not_told", "declined")
        self._close(CaseOutcome.DECLINED)

    async def _records(self) -> None:
        s = self._state
        # Without the records review consent the case holds here, complete or not: entering
        # SPECIALIST_REVIEW would mail the patient "a specialist is reviewing your records" just
        # after they withdrew that. (Older histories have no such withdrawal: same commands.)
        await self._wait(
            WaitKind.RECORDS_UPLOAD, "records",
            lambda: s.checklist.complete and not self._consent.review_withdrawn(),
        )
        self._enter(CaseStage.SPECIALIST_REVIEW)

    async def _specialist_review(self) -> None:
        s = self._state
        await self._wait(
            WaitKind.SPECIALIST_REVIEW, "review", lambda: s.pending_review is not None
        )
        review, s.pending_review = s.pending_review, None
        assert review is not None
        s.review = review
        if review.outcome == ReviewOutcome.PROCEED:
            self._enter(CaseStage.HOSPITAL_SUBMISSION)
        elif review.outcome == ReviewOutcome.NEED_MORE_RECORDS:
            opened = s.checklist.request_more(
                list(review.requested_kinds), _review_reason(review)
            )
            self._note("records_requested", ", ".join(opened), actor=review.reviewer_id)
            self._enter(CaseStage.RECORDS, requested=list(review.requested_kinds))
        elif takes(NEXT_OPTION_PATCH, self._input.generation):
            self._to_next_option("not a candidate for re-irradiation")
        else:
            self._close(CaseOutcome.NOT_A_CANDIDATE)

    async def _hospital_submission(self) -> None:
        s = self._state
        assert s.review is not None
        targets = list(s.review.target_hospital_ids)
        s.selected_hospital_id = None
        self._child_owns_status = takes(REFERRAL_STATUS_PATCH, self._input.generation)
        for hospital_id in targets:
            s.referrals[hospital_id] = HospitalReferralStatus(
                hospital_id=hospital_id,
                workflow_id=referral_workflow_id(self._case_id, hospital_id),
                channel=self._hospitals[hospital_id].channel,
            )
        self._publish()
        followers = []
        try:
            if takes(REFERRALS_TOGETHER_PATCH, self._input.generation):
                # Every start in one workflow task, not a task for each one's confirmation.
                started = await asyncio.gather(*(self._start_referral(h) for h in targets))
                for hospital_id, handle in zip(targets, started, strict=True):
                    followers.append(self._referral_started(hospital_id, handle))
            else:
                for hospital_id in targets:
                    handle = await self._start_referral(hospital_id)
                    followers.append(self._referral_started(hospital_id, handle))
            await workflow.wait_condition(
                lambda: s.selected_hospital_id is not None or self._all_referrals_declined()
            )
        except asyncio.CancelledError:
            # Withdrawal: a referral must not outlive the case's interest in it.
            for handle in self._children.values():
                if not handle.done():
                    handle.cancel()
            raise
        await self._forwarded_answers_taken(keeping=s.selected_hospital_id)
        for hospital_id, handle in self._children.items():
            if not handle.done() and hospital_id != s.selected_hospital_id:
                handle.cancel()
        if s.selected_hospital_id is None:
            self._note("all_hospitals_declined", ", ".join(targets))
            if takes(NEXT_OPTION_PATCH, self._input.generation):
                self._to_next_option("every hospital declined")
                return
            s.review = None
            self._enter(CaseStage.SPECIALIST_REVIEW)
            return
        for hospital_id, status in s.referrals.items():
            if hospital_id in targets:
                status.state = (
                    ReferralState.SELECTED
                    if hospital_id == s.selected_hospital_id
                    else ReferralState.NOT_SELECTED
                )
        self._enter(CaseStage.TRANSLATION, f"hospital {s.selected_hospital_id}")

    # -- the next option and trial screening (issue 15) -------------------------------------------

    def _to_next_option(self, why: str) -> None:
        s = self._state
        s.next_option_why = why
        s.next_option = None
        self._enter(CaseStage.NEXT_OPTION, why)

    async def _next_option(self) -> None:
        """Wait, under its SLA, for the coordinator's choice: trials, other hospitals (a new
        review round; earlier answers stay in `referrals`), or close with a stated reason.
        A trial referral sent here is the choice of trials."""
        s = self._state
        await self._wait(
            WaitKind.NEXT_OPTION, "next-option",
            lambda: s.next_option is not None or bool(s.trial_pending),
        )
        choice = s.next_option
        if choice is None or choice.option == NextOption.TRIALS:
            self._enter(CaseStage.TRIAL_SCREENING)
        elif choice.option == NextOption.HOSPITALS:
            s.review = None
            self._enter(CaseStage.SPECIALIST_REVIEW, "a new review round")
        else:
            s.closed_reason = choice.reason
            first_failed = s.next_option_why == "not a candidate for re-irradiation"
            self._close(
                CaseOutcome.NOT_A_CANDIDATE if first_failed else CaseOutcome.NO_FURTHER_OPTION
            )

    async def _trial_screening(self) -> None:
        """One HospitalReferralWorkflow per trial site, as for hospitals: the same packet,
        delivery, consent check and answer SLA. Waits for the coordinator's selection of an
        eligible site, or for every trial team to decline (then the next option again)."""
        s = self._state
        s.selected_hospital_id = None
        followers = []
        round_sites: list[str] = []
        try:
            while True:
                await self._wait(
                    WaitKind.NEXT_OPTION, "trial-referral",
                    lambda: bool(s.trial_pending) or bool(round_sites),
                )
                while s.trial_pending:
                    site_id = s.trial_pending.pop(0)
                    round_sites.append(site_id)
                    followers.append(await self._start_trial_referral(site_id))
                await workflow.wait_condition(
                    lambda: s.selected_hospital_id is not None
                    or bool(s.trial_pending)
                    or none_can_accept(s.referrals[h] for h in round_sites)
                )
                if not s.trial_pending:
                    break
        except asyncio.CancelledError:
            for site_id in round_sites:
                handle = self._children.get(site_id)
                if handle is not None and not handle.done():
                    handle.cancel()
            raise
        await self._forwarded_answers_taken(keeping=s.selected_hospital_id)
        for site_id in round_sites:
            handle = self._children[site_id]
            if not handle.done() and site_id != s.selected_hospital_id:
                handle.cancel()
        if s.selected_hospital_id is None:
            self._note("all_trial_teams_declined", ", ".join(round_sites))
            self._to_next_option("every trial team declined")
            return
        for site_id in round_sites:
            s.referrals[site_id].state = (
                ReferralState.SELECTED
                if site_id == s.selected_hospital_id
                else ReferralState.NOT_SELECTED
            )
        # The trial team screens the patient at its site: travel follows, without the hospital
        # translation job (the screening packet is in English).
        target = s.trial_targets[s.selected_hospital_id]
        self._enter(CaseStage.TRAVEL, f"trial {target.study_id} at {s.selected_hospital_id}")

    async def _start_referral(
        self, hospital_id: str, review: SubmitReview | None = None, kind: str = "Referral"
    ) -> workflow.ChildWorkflowHandle[HospitalReferralWorkflow, HospitalReferralStatus]:
        return await workflow.start_child_workflow(
            HospitalReferralWorkflow.run,
            self._referral_input(hospital_id, review),
            id=referral_workflow_id(self._case_id, hospital_id),
            static_summary=f"{kind} of case {self._case_id} to {hospital_id}",
        )

    def _referral_started(
        self,
        hospital_id: str,
        handle: workflow.ChildWorkflowHandle[HospitalReferralWorkflow, HospitalReferralStatus],
    ) -> asyncio.Task:
        """Keep the started referral's handle, note it, and follow it to its end."""
        self._children[hospital_id] = handle
        self._note("referral_started", f"hospital {hospital_id}")
        return asyncio.create_task(self._follow(hospital_id, handle))

    async def _start_trial_referral(self, site_id: str) -> asyncio.Task:
        s = self._state
        target = s.trial_targets[site_id]
        self._child_owns_status = True
        s.referrals[site_id] = HospitalReferralStatus(
            hospital_id=site_id,
            workflow_id=referral_workflow_id(self._case_id, site_id),
            channel=target.site.channel,
        )
        self._publish()
        handle = await self._start_referral(
            site_id, screening_review(target, s.coordinator_id), kind="Trial referral"
        )
        self._children[site_id] = handle
        self._note("trial_referral_started", f"study {target.study_id} at {site_id}")
        return asyncio.create_task(self._follow(site_id, handle))

    @workflow.update
    @_settles
    def choose_next_option(self, event: ChooseNextOption) -> EventAck:
        self._state.next_option = event
        self._note("next_option_chosen", f"{event.option.value}: {event.reason[:300]}",
                   actor=event.chosen_by)
        return self._ack(f"next option: {event.option.value}")

    @choose_next_option.validator
    def _validate_next_option(self, event: ChooseNextOption) -> None:
        self._require_stage("choose_next_option", CaseStage.NEXT_OPTION)
        if self._state.next_option is not None or self._state.trial_pending:
            raise _reject("choose_next_option: the next option is already chosen")
        if event.option == NextOption.HOSPITALS and self._consent.review_withdrawn():
            raise _reject("choose_next_option: the patient withdrew the records review consent")

    @workflow.update
    @_settles
    def refer_to_trials(self, event: ReferToTrials) -> EventAck:
        s = self._state
        for target in event.targets:
            site_id = target.site.hospital_id
            s.trial_targets[site_id] = target
            self._hospitals[site_id] = target.site
            s.trial_pending.append(site_id)
            self._note("trial_referral_requested", f"study {target.study_id} at {site_id}",
                       actor=event.referred_by)
        self._publish()
        studies = ", ".join(t.study_id for t in event.targets)
        return self._ack(f"referred to {studies}")

    @refer_to_trials.validator
    def _validate_refer_to_trials(self, event: ReferToTrials) -> None:
        self._require_stage("refer_to_trials", CaseStage.NEXT_OPTION, CaseStage.TRIAL_SCREENING)
        s = self._state
        if s.stage == CaseStage.NEXT_OPTION and s.next_option is not None:
            raise _reject("refer_to_trials: the next option is already chosen")
        countries = self._destination_countries()
        for target in event.targets:
            site = target.site
            if not is_trial_site(site.hospital_id):
                raise _reject(f"targets: {site.hospital_id} is not a trial site")
            if site.hospital_id in s.trial_targets or site.hospital_id in s.trial_pending:
                raise _reject(f"targets: study {target.study_id} at {site.hospital_id} is "
                              "already referred")
            if site.country not in countries:
                raise _reject(f"targets: site {site.hospital_id} is in {site.country}, not in "
                              "the case's destination countries")
            # Consent for that country and purpose, as for a hospital [docs/sources.md,
            # "Consent and erasure"]; the child checks it again before every delivery.
            if not self._consent.allows(site.country, site.hospital_id, "referral"):
                raise _reject(f"targets: no referral consent for {site.country} "
                              f"(trial site {site.hospital_id})")

    @workflow.query
    def trial_profile(self) -> TrialMatchProfile:
        """What trial matching reads of the case: no name, no date of birth, no contact."""
        profile = profile_from_intake(self._input.intake, workflow.now().date())
        return profile.model_copy(update={"countries": self._destination_countries()})

    # -- end of the next option and trial screening -----------------------------------------------

    def _all_referrals_declined(self) -> bool:
        review = self._state.review
        assert review is not None
        return none_can_accept(self._state.referrals[h] for h in review.target_hospital_ids)

    async def _follow(
        self,
        hospital_id: str,
        handle: workflow.ChildWorkflowHandle[HospitalReferralWorkflow, HospitalReferralStatus],
    ) -> None:
        try:
            final = await handle
        except (ChildWorkflowError, asyncio.CancelledError):
            status = self._state.referrals[hospital_id]
            if not status.final:
                status.state = ReferralState.CANCELLED
            self._publish()
            return
        if self._child_owns_status:
            self._take_report(final)
        else:
            status = self._state.referrals[hospital_id]
            if not status.final:
                status.state = final.state
            _merge_delivery(status, final)
        self._publish()

    def _take_report(self, reported: HospitalReferralStatus) -> None:
        """Store the child's status as it reports it. A referral the case has ended (selected,
        not selected, cancelled) keeps its outcome against a report still in flight, and one
        the child sent before it took a forwarded answer or acknowledgement keeps that."""
        hospital_id = reported.hospital_id
        current = self._state.referrals[hospital_id]
        answer = self._answers_forwarded.get(hospital_id)
        if answer is not None and reported.response == answer:
            del self._answers_forwarded[hospital_id]  # the child has it: its report is the record
        elif answer is None and current.final:
            return
        if current.state in CASE_DECISIONS or current.state == ReferralState.CANCELLED:
            return
        taken = reported.model_copy(deep=True)
        if hospital_id in self._answers_forwarded:
            assert answer is not None and current.responded_at is not None
            take_answer(taken, answer, current.responded_at)
        if hospital_id in self._acknowledgements_forwarded:
            if reported.acknowledged_at is not None:
                self._acknowledgements_forwarded.discard(hospital_id)
            else:
                taken.acknowledged_at = current.acknowledged_at
                taken.acknowledgement_reference = current.acknowledgement_reference
        self._state.referrals[hospital_id] = taken

    async def _forwarded_answers_taken(self, keeping: str | None) -> None:
        """Before the case cancels the referrals it no longer needs (all but `keeping`): each
        has taken the answer the case forwarded to it (ANSWERS_AT_ONCE_PATCH), so its own
        record ends with that answer."""
        await workflow.wait_condition(
            lambda: all(
                hospital_id == keeping
                or hospital_id not in self._children
                or self._children[hospital_id].done()
                for hospital_id in self._answers_forwarded
            )
        )

    async def _until_reported(self, hospital_id: str, reported) -> None:
        """Wait until the child has reported what an update told it (or has ended), so the
        next event is validated against the child's own status."""
        handle = self._children.get(hospital_id)
        await workflow.wait_condition(
            lambda: reported(self._state.referrals[hospital_id])
            or handle is None
            or handle.done()
        )

    def _referral_input(
        self, hospital_id: str, review: SubmitReview | None = None
    ) -> ReferralInput:
        s = self._state
        review = review or s.review
        assert review is not None
        return ReferralInput(
            case_id=self._case_id,
            parent_workflow_id=workflow.info().workflow_id,
            hospital=self._hospitals[hospital_id],
            intake=self._input.intake,
            documents=self._clinical_documents(),
            triage_flags=s.triage_flags,
            review=review,
            coordinator_id=s.coordinator_id,
            coordinator_contact=s.coordinator_contact,
            slas=self._input.slas,
            retry=self._input.retry,
            on_hold=s.on_hold,
            letter_language=_letter_language(self._hospitals[hospital_id]),
            consent=self._consent,
            letters_task_queue=self._input.letters_task_queue,
            generation=self._input.generation,
        )

    def _clinical_documents(self) -> list[DocumentRef]:
        return [d for d in self._state.documents.values() if d.kind != DocumentKind.TRANSLATION]

    async def _translation(self) -> None:
        if takes(TRANSLATION_BY_LANGUAGE_PATCH, self._input.generation):
            await self._translation_by_language()
            return
        s = self._state
        hospital_id = s.selected_hospital_id
        assert hospital_id is not None
        hospital = self._hospitals[hospital_id]
        language = hospital.languages[0]
        documents = self._clinical_documents()
        if not self._consent.allows(hospital.country, hospital_id, "translation"):
            self._note("translation_job_not_sent", f"no translation consent for {hospital_id}")
        elif not documents:
            self._note("translation_job_not_sent", "no documents to translate")
        elif not s.translation_job_sent:
            await self._send_translation_job(language, documents)
        await self._wait(WaitKind.TRANSLATION, "translation", lambda: s.translation is not None)
        self._enter(CaseStage.TRAVEL)

    async def _send_translation_job(self, language: str, documents: list[DocumentRef]) -> None:
        s = self._state
        if s.translation_job_id is None:
            s.translation_job_id = str(workflow.uuid4())
        job_id = s.translation_job_id
        packet = await self._watch.run_step(
            f"translation-{job_id}-packet",
            ReferralLetters.store_translation_packet,
            TranslationPacketRequest(
                packet_id=job_id,
                case_id=self._case_id,
                target_language=language,
                documents=documents,
            ),
        )
        if packet is not None:
            sent = await self._watch.run_step(
                f"translation-{job_id}-mail",
                CaseMailer.send_translation_job,
                TranslationJob(
                    job_id=job_id,
                    case_id=self._case_id,
                    target_language=language,
                    documents=[
                        TranslationDocument(**d.model_dump(include=set(
                            TranslationDocument.model_fields)))
                        for d in packet.documents
                    ],
                    manifest_url=packet.manifest_url,
                    links_expire_at=packet.links_expire_at,
                ),
            )
            if sent is not None:
                s.translation_job_sent = True
                self._note("translation_job_sent", f"job {job_id} into {language}")

    async def _travel(self) -> None:
        s = self._state
        hospital_id = s.selected_hospital_id
        assert hospital_id is not None
        hospital = self._hospitals[hospital_id]
        response = s.referrals[hospital_id].response
        if s.travel is None:
            s.travel = TravelProgress(
                visa_needed=self._input.intake.patient.country_of_residence != hospital.country,
                planned_admission_date=response.earliest_admission_date if response else None,
            )
        travel = s.travel
        if travel.visa_needed:
            if travel.visa_letter_requested_on is None:
                # Only the manual channel exists: the coordinator asks the hospital.
                await send_notice(
                    Notice(
                        notice_id=f"{self._case_id}.{s.stage_seq}.visa-letter-request",
                        case_id=self._case_id,
                        coordinator_id=s.coordinator_id,
                        reason=f"request the visa invitation letter from hospital {hospital_id}",
                        audience=["coordinator"],
                    )
                )
                travel.visa_letter_requested_on = workflow.now().date()
                self._note("visa_letter_requested", f"hospital {hospital_id}", actor="caseflow")
                if response is not None and not response.visa_invitation_possible:
                    self._note("visa_letter_uncertain", f"hospital {hospital_id} did not offer one")
            await self._wait(
                WaitKind.VISA_LETTER,
                "visa-letter",
                lambda: travel.visa_letter_received_on is not None,
                subject=hospital_id,
            )
            await self._wait(WaitKind.TRAVEL, "visa", lambda: travel.visa_granted_on is not None)
        await self._wait(
            WaitKind.TRAVEL, "flights", lambda: travel.flights_booked_on is not None
        )
        await self._wait(WaitKind.TRAVEL, "arrival", lambda: travel.arrived_on is not None)
        self._enter(CaseStage.ADMISSION)

    async def _admission(self) -> None:
        s = self._state
        planned = s.travel.planned_admission_date if s.travel else None
        # The admission SLA counts from the planned admission date [caseflow.sla].
        start = max(workflow.now(), _midnight(planned)) if planned else None
        await self._wait(
            WaitKind.ADMISSION, "admission", lambda: s.admitted_on is not None, start=start
        )
        await self._wait(WaitKind.DISCHARGE, "discharge", lambda: s.discharged_on is not None)
        self._enter(CaseStage.FOLLOW_UP)

    async def _follow_up(self) -> None:
        s = self._state
        assert s.discharged_on is not None
        if not s.follow_ups:
            s.follow_ups = [
                FollowUpState(day=day, due_on=s.discharged_on + timedelta(days=day))
                for day in self._input.follow_up_days
            ]
        await asyncio.gather(
            *(self._one_follow_up(f) for f in s.follow_ups if f.status != "recorded")
        )
        self._close(CaseOutcome.COMPLETED)

    async def _one_follow_up(self, follow_up: FollowUpState) -> None:
        if follow_up.status == "scheduled":
            remaining = _midnight(follow_up.due_on) - workflow.now()
            if remaining > timedelta(0):
                await workflow.sleep(remaining, summary=f"follow-up day {follow_up.day}")
            follow_up.status = "due"
            self._note("follow_up_due", f"day {follow_up.day}")
        await self._watch.wait(
            f"follow-up-day-{follow_up.day}",
            WaitKind.FOLLOW_UP,
            self._input.slas.for_wait(WaitKind.FOLLOW_UP),
            lambda: follow_up.status == "recorded",
            subject=f"day-{follow_up.day}",
        )

    async def _withdraw(self) -> None:
        s = self._state
        assert s.withdrawal is not None
        running = [h for h in self._children.values() if not h.done()]
        for handle in running:
            handle.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for status in s.referrals.values():
            if not status.final:
                status.state = ReferralState.CANCELLED
        s.deadlines.clear()
        self._note("withdrawn", "documents to be erased" if s.withdrawal.erase else "")
        if s.withdrawal.erase:
            erased = await self._watch.run_step(
                "erase-documents", DocumentStore.erase_case_documents,
                EraseCaseDocumentsInput(case_id=self._case_id),
            )
            s.documents_erased = erased is not None
            self._note("documents_erased" if erased is not None else "documents_not_erased")
        self._close(CaseOutcome.WITHDRAWN)

    # -- bookkeeping -----------------------------------------------------------------------------

    async def _wait(
        self,
        kind: WaitKind,
        name: str,
        done,
        *,
        subject: str | None = None,
        start: datetime | None = None,
    ) -> None:
        # Ids include the stage entry count, so a stage entered again gets a fresh clock, and a
        # continued-as-new run finds the clock of the wait it was in.
        await self._watch.wait(
            f"{self._state.stage_seq}-{name}",
            kind,
            self._input.slas.for_wait(kind),
            done,
            subject=subject if subject is not None else name,
            start=start,
        )

    def _enter(
        self, stage: CaseStage, detail: str = "", requested: list[DocumentKind] | None = None
    ) -> None:
        s = self._state
        s.stage = stage
        s.stage_entered_at = workflow.now()
        s.stage_seq += 1
        count_stage_entered(stage.value)  # the worker's metrics (workflows/case_metrics.py)
        self._note("stage_entered", f"{stage.value} {detail}".strip())
        self._publish()
        if stage != CaseStage.CLOSED:  # closing is the coordinator's conversation, not a mail
            self._tell_patient(requested or [])

    # -- the patient's notices (issue 10) --------------------------------------------------------

    def _tell_patient(self, requested: list[DocumentKind]) -> None:
        """Mail the patient that the case moved on (or what the specialist asked for), in their
        language, with a fresh status link the activity makes. One per stage entry: the id is
        the Message-ID, so a resend after a lost reply is the same message."""
        patient = self._input.intake.patient
        if patient.email is None or not takes(PATIENT_NOTICES_PATCH, self._input.generation):
            return
        reason = "records_requested" if requested else "stage_changed"
        notice = PatientNotice(
            notice_id=f"{self._case_id}.patient.{self._state.stage_seq}.{reason}",
            case_id=self._case_id,
            email=patient.email,
            language=patient.preferred_language,
            reason=reason,
            stage=self._state.stage.value,
            requested_kinds=requested,
        )
        self._patient_mail.append(asyncio.create_task(self._send_patient_notice(notice)))

    async def _send_patient_notice(self, notice: PatientNotice) -> None:
        try:
            await workflow.execute_activity_method(
                PatientMailer.send_patient_notice,
                notice,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=NOTICE_RETRY,
                summary=f"patient notice: {notice.reason}",
            )
        except ActivityError as error:
            if is_cancelled_exception(error):
                return
            # Not fatal: the stage change stands; the coordinator sees the lost mail.
            self._note("patient_not_notified", notice.reason)
        # A sent notice is not noted: the timeline records what the case did, and the mail is
        # the stage change's echo (its Message-ID names the stage entry).

    async def _mail_and_signals_sent(self) -> None:
        """Also the signals forwarded to children: nothing in flight is dropped at the end."""
        await workflow.wait_condition(
            lambda: all(t.done() for t in self._patient_mail)
            and all(t.done() for t in self._forwarding)
        )

    # -- end of the patient's notices ------------------------------------------------------------

    def _close(self, outcome: CaseOutcome) -> None:
        self._state.outcome = outcome
        self._state.closed_at = workflow.now()
        self._enter(CaseStage.CLOSED, outcome.value)

    def _note(
        self,
        event: str,
        detail: str = "",
        actor: str | None = None,
        *,
        packet_id: str | None = None,
        packet_sha256: str | None = None,
        recipients: list[str] | None = None,
    ) -> None:
        self._state.timeline.append(
            TimelineEntry(
                at=workflow.now(), stage=self._state.stage, event=event, detail=detail,
                actor=actor, packet_id=packet_id, packet_sha256=packet_sha256,
                recipients=recipients or [],
            )
        )

    async def _escalate(self, deadline: Deadline, step: SlaStep, level: int) -> None:
        s = self._state
        s.escalations.append(
            await escalate_deadline(
                self._case_id, s.coordinator_id, deadline, step, level,
                self._wait_reason(deadline),
            )
        )
        self._note(f"sla_{step.value}", f"{deadline.wait.value} {deadline.subject}".strip())

    def _wait_reason(self, deadline: Deadline) -> str:
        s = self._state
        subject = deadline.subject
        match deadline.wait:
            case WaitKind.INQUIRY_ACCEPTANCE:
                return "new patient inquiry waiting to be accepted or declined"
            case WaitKind.RECORDS_UPLOAD | WaitKind.SPECIALIST_REVIEW if (
                self._consent.review_withdrawn()
            ):
                return _REVIEW_WITHDRAWN_REASON
            case WaitKind.RECORDS_UPLOAD:
                return f"records incomplete, {len(s.checklist.missing())} checklist item(s) missing"
            case WaitKind.SPECIALIST_REVIEW:
                return "specialist review pending"
            case WaitKind.TRANSLATION:
                return "translated documents not received"
            case WaitKind.TRANSLATION_CONSENT:
                return (
                    f"no translation consent for hospital {subject}: record the patient's "
                    "consent, or skip the translation with a reason (caseflow case "
                    f"translation-skip {self._case_id} --reason ...)"
                )
            case WaitKind.VISA_LETTER:
                return f"visa invitation letter not received from hospital {subject}"
            case WaitKind.TRAVEL:
                return f"travel step pending: {subject}"
            case WaitKind.ADMISSION:
                return "admission not recorded"
            case WaitKind.DISCHARGE:
                return "discharge not recorded"
            case WaitKind.FOLLOW_UP:
                return f"follow-up {subject} not recorded"
            case WaitKind.STEP_FAILURE:
                return step_failure_reason(deadline)
            case WaitKind.NEXT_OPTION if subject == "trial-referral":
                return "trial screening chosen: refer the case to a study (case trial-refer)"
            case WaitKind.NEXT_OPTION:
                return (f"{s.next_option_why or 'the first option failed'}: choose trials, "
                        "other hospitals, or close with a reason (case next-option)")
            case _:
                return f"{deadline.wait.value} {subject} overdue"

    async def _record_step(self, event: str, detail: str, step_id: str) -> None:
        self._note(event, detail)
        self._publish()

    def _escalation_level(self) -> int:
        return escalation_level(self._watch.highest_level(), self._state.referrals.values())

    def _publish(self) -> None:
        self._view.publish(self._state, self._escalation_level())

    @workflow.query
    def status(self) -> CaseStatus:
        return self._view.status(self._state, self._escalation_level(), workflow.now())

    @workflow.query
    def progress(self) -> CaseProgress:
        """What a poller waits for, without the whole status (issue 14: cheap polling)."""
        return self._view.progress(self._state, self._escalation_level())

    # -- updates: documents and records ----------------------------------------------------------

    def _ack(self, detail: str = "") -> EventAck:
        return EventAck(case_id=self._case_id, stage=self._state.stage, detail=detail)

    async def _settled(self, ack: EventAck) -> EventAck:
        if not takes(SETTLED_ACKS_PATCH, self._input.generation):
            return ack
        # The SDK checks wait conditions only once every coroutine of the task waits: by then
        # the run has taken the event (its own wait woke with ours, in the first round) and
        # anything that woke with it has acted (the second). Waiting issues no command, but the
        # update now completes after the commands the run issued on the event, hence the patch.
        await when_task_idle()
        return ack.model_copy(update={"stage": self._state.stage, "settled": True})

    def _require_stage(self, event: str, *stages: CaseStage) -> None:
        if self._state.stage not in stages:
            allowed = ", ".join(stage.value for stage in stages)
            raise _reject(f"{event}: case is in {self._state.stage.value}; allowed in {allowed}")

    def _check_ref(self, field: str, ref: DocumentRef) -> None:
        if ref.case_id != self._case_id:
            raise _reject(f"{field}: document {ref.document_id} belongs to another case")
        if ref.key != document_key(self._case_id, ref.document_id):
            raise _reject(f"{field}: key does not match document {ref.document_id}")
        known = self._state.documents.get(ref.document_id)
        if known is not None and known.sha256 != ref.sha256:
            raise _reject(f"{field}: document {ref.document_id} is known with other content")

    def _add_documents(self, refs: list[DocumentRef]) -> list[str]:
        satisfied: list[str] = []
        for ref in refs:
            if ref.document_id not in self._state.documents:
                self._state.documents[ref.document_id] = ref
                self._note("document_added", f"{ref.document_id} {ref.kind.value}")
            satisfied += self._state.checklist.satisfy(ref)
        return satisfied

    @workflow.update
    @_settles
    def add_document(self, event: AddDocument) -> EventAck:
        known = event.ref.document_id in self._state.documents
        items = self._add_documents([event.ref])
        self._publish()
        if known:
            return self._ack(f"document {event.ref.document_id} is already in the case")
        return self._ack("satisfies " + (", ".join(items) or "no checklist item"))

    @add_document.validator
    def _validate_add_document(self, event: AddDocument) -> None:
        self._require_stage("add_document", *_OPEN_STAGES)
        self._check_ref("ref", event.ref)

    # -- updates: the portal's quarantine (patient uploads wait for a coordinator) ---------------
    # New handlers that add no commands of their own (state, timeline, the same publish as
    # add_document), so no patch marker: a history from before them never calls them.

    @workflow.update
    @_settles
    def add_patient_document(self, event: AddPatientDocument) -> EventAck:
        ref = event.ref
        if ref.document_id in self._state.documents or ref.document_id in self._state.quarantined:
            return self._ack(f"document {ref.document_id} is already received")
        self._state.quarantined[ref.document_id] = ref
        self._note("patient_document_received", f"{ref.document_id} {ref.kind.value}")
        self._publish()
        return self._ack(f"document {ref.document_id} awaits a coordinator")

    @add_patient_document.validator
    def _validate_add_patient_document(self, event: AddPatientDocument) -> None:
        self._require_stage("add_patient_document", *_OPEN_STAGES)
        self._check_ref("ref", event.ref)
        held = self._state.quarantined.get(event.ref.document_id)
        if held is not None and held.sha256 != event.ref.sha256:
            raise _reject(f"ref: document {event.ref.document_id} is known with other content")
        if event.ref.document_id in self._state.rejected_documents:
            raise _reject(f"ref: document {event.ref.document_id} was rejected")

    def _accepted_ref(self, event: AcceptPatientDocument) -> DocumentRef:
        """The quarantined ref as the case will hold it: re-kinded to suit the item, if one."""
        ref = self._state.quarantined[event.document_id]
        if event.item_id is None:
            return ref
        item = self._state.checklist.item(event.item_id)
        if ref.kind in item.accepts:
            return ref
        kind = next(k for k in item.accepts if ref.content_type in ACCEPTED_CONTENT_TYPES[k])
        return ref.model_copy(update={"kind": kind})

    @workflow.update
    @_settles
    def accept_patient_document(self, event: AcceptPatientDocument) -> EventAck:
        if event.document_id in self._state.documents:
            return self._ack(f"document {event.document_id} is already in the case")
        ref = self._accepted_ref(event)
        del self._state.quarantined[event.document_id]
        self._note("patient_document_accepted", f"{ref.document_id} {ref.kind.value}",
                   actor=event.accepted_by)
        items = self._add_documents([ref])
        self._publish()
        return self._ack("satisfies " + (", ".join(items) or "no checklist item"))

    @accept_patient_document.validator
    def _validate_accept_patient_document(self, event: AcceptPatientDocument) -> None:
        self._require_stage("accept_patient_document", *_OPEN_STAGES)
        if event.document_id in self._state.documents:
            return
        ref = self._state.quarantined.get(event.document_id)
        if ref is None:
            raise _reject(f"document_id: {event.document_id} is not awaiting a decision")
        if event.item_id is None:
            return
        try:
            item = self._state.checklist.item(event.item_id)
        except ChecklistError as error:
            raise _reject(str(error)) from None
        if not any(ref.content_type in ACCEPTED_CONTENT_TYPES[k] for k in item.accepts):
            raise _reject(
                f"item_id: {event.item_id} accepts no document of type {ref.content_type}"
            )

    @workflow.update
    @_settles
    def reject_patient_document(self, event: RejectPatientDocument) -> EventAck:
        if event.document_id in self._state.rejected_documents:
            return self._ack(f"document {event.document_id} is already rejected")
        del self._state.quarantined[event.document_id]
        self._state.rejected_documents[event.document_id] = event.reason
        self._note("patient_document_rejected", event.document_id, actor=event.rejected_by)
        self._publish()
        return self._ack(f"document {event.document_id} rejected")

    @reject_patient_document.validator
    def _validate_reject_patient_document(self, event: RejectPatientDocument) -> None:
        self._require_stage("reject_patient_document", *_OPEN_STAGES)
        if event.document_id in self._state.rejected_documents:
            return
        if event.document_id not in self._state.quarantined:
            raise _reject(f"document_id: {event.document_id} is not awaiting a decision")

    @workflow.update
    @_settles
    def waive_requirement(self, event: WaiveRequirement) -> EventAck:
        self._state.checklist.waive(event.item_id, event.reason)
        self._note("requirement_waived", event.item_id, actor=event.waived_by)
        self._publish()
        return self._ack(f"{event.item_id} waived")

    @waive_requirement.validator
    def _validate_waive(self, event: WaiveRequirement) -> None:
        self._require_stage("waive_requirement", CaseStage.RECORDS)
        try:
            self._state.checklist.check_waiver(event.item_id, event.reason)
        except ChecklistError as error:
            raise _reject(str(error)) from None

    @workflow.update
    @_settles
    def submit_review(self, review: SubmitReview) -> EventAck:
        self._state.pending_review = review
        self._note("review_submitted", review.outcome.value, actor=review.reviewer_id)
        return self._ack(f"review {review.outcome.value} recorded")

    @submit_review.validator
    def _validate_review(self, review: SubmitReview) -> None:
        self._require_stage("submit_review", CaseStage.SPECIALIST_REVIEW)
        if self._state.pending_review is not None:
            raise _reject("submit_review: a review is already being applied")
        if self._consent.review_withdrawn():
            # Refused rather than held: the reviewer learns why at once, and the case stays
            # where it is for the coordinator's erasure (a case already in review when the
            # patient withdrew; a new one holds in RECORDS).
            raise _reject("submit_review: the patient withdrew the records review consent")
        if review.outcome == ReviewOutcome.PROCEED:
            for hospital_id in review.target_hospital_ids:
                hospital = self._hospitals.get(hospital_id)
                if hospital is None:
                    raise _reject("target_hospital_ids: " + outside_destinations(
                        hospital_id, self._destination_countries(), list(self._hospitals),
                        self._case_id,
                    ))
                if not self._consent.allows(hospital.country, hospital_id, "referral"):
                    raise _reject(
                        f"target_hospital_ids: no referral consent for hospital {hospital_id}"
                    )
                if review.modalities and not any(hospital.offers(m) for m in review.modalities):
                    raise _reject(
                        f"target_hospital_ids: hospital {hospital_id} offers none of the "
                        "proposed modalities"
                    )
        if review.outcome == ReviewOutcome.NEED_MORE_RECORDS:
            try:
                self._state.checklist.check_request(
                    list(review.requested_kinds), _review_reason(review)
                )
            except ChecklistError as error:
                raise _reject(str(error)) from None

    # -- updates: hospitals ----------------------------------------------------------------------

    # -- hospitals' reply path (issue 8): a reply id already recorded changes nothing ----------

    def _replayed(self, reply_id: str | None) -> EventAck | None:
        if reply_id is None or reply_id not in self._state.reply_ids:
            return None
        ack = self._ack(f"already recorded: {self._state.reply_ids[reply_id]}")
        return ack.model_copy(update={"replayed": True})

    def _remember_reply(self, reply_id: str | None, detail: str) -> None:
        if reply_id is not None:
            self._state.reply_ids[reply_id] = detail

    @workflow.query
    def reply_ack(self, reply_id: str) -> EventAck | None:
        """The ack for a reply id already recorded, or None: the web service asks before it
        sends, because Temporal's update-id dedup returns the first ack unmarked."""
        return self._replayed(reply_id)

    # -- end of the reply path's helpers ---------------------------------------------------------

    @workflow.update
    @_settles
    async def record_hospital_response(self, response: HospitalResponse) -> EventAck:
        replayed = self._replayed(response.reply_id)  # reply path: a repeat changes nothing
        if replayed is not None:
            return replayed
        hospital_id = response.hospital_id
        # A child waiting for the answer takes it at once, so the case may show it meanwhile
        # (ANSWERS_AT_ONCE_PATCH; before, the update waited for its report). One still
        # delivering (a failed or blocked step) takes it when it gets there.
        answering = self._state.referrals[hospital_id].state in _AWAITING_ANSWER
        at_once = self._child_owns_status and takes(ANSWERS_AT_ONCE_PATCH, self._input.generation)
        self._add_documents(list(response.documents))
        if not self._child_owns_status or (at_once and answering):
            # The child applies it the same way when it reports; the case shows it meanwhile.
            take_answer(self._state.referrals[hospital_id], response, workflow.now())
        if at_once and answering:
            self._answers_forwarded[hospital_id] = response
        self._note(
            "hospital_response",
            f"hospital {hospital_id}: {response.decision.value}",
            actor=response.answered_by,
        )
        detail = f"hospital {hospital_id} {response.decision.value}"
        self._remember_reply(response.reply_id, detail)
        self._publish()
        if at_once:
            self._forward(hospital_id, HospitalReferralWorkflow.hospital_responded, response)
            return self._ack(detail)
        await self._signal_child(hospital_id, HospitalReferralWorkflow.hospital_responded, response)
        if self._child_owns_status and answering:
            await self._until_reported(hospital_id, lambda r: r.response == response)
        return self._ack(detail)

    @record_hospital_response.validator
    def _validate_response(self, response: HospitalResponse) -> None:
        if response.reply_id in self._state.reply_ids:  # reply path (issue 8): a repeat
            return
        self._require_stage("record_hospital_response", *_REFERRING_STAGES)
        self._check_referral(check_answer, response.hospital_id)
        for ref in response.documents:
            self._check_ref("documents", ref)

    @workflow.update
    @_settles
    async def record_hospital_acknowledgement(self, event: HospitalAcknowledgement) -> EventAck:
        replayed = self._replayed(event.reply_id)  # reply path: a repeat changes nothing
        if replayed is not None:
            return replayed
        hospital_id = event.hospital_id
        at_once = self._child_owns_status and takes(ANSWERS_AT_ONCE_PATCH, self._input.generation)
        if not self._child_owns_status or at_once:
            status = self._state.referrals[hospital_id]
            status.acknowledged_at = workflow.now()
            status.acknowledgement_reference = event.reference
        if at_once:
            self._acknowledgements_forwarded.add(hospital_id)
        reference = f" (reference {event.reference})" if event.reference else ""
        self._note(
            "hospital_acknowledged", f"hospital {hospital_id}{reference}", actor=event.answered_by
        )
        detail = f"hospital {hospital_id} acknowledged the packet"
        self._remember_reply(event.reply_id, detail)
        self._publish()
        if at_once:
            self._forward(hospital_id, HospitalReferralWorkflow.hospital_acknowledged, event)
            return self._ack(detail)
        await self._signal_child(hospital_id, HospitalReferralWorkflow.hospital_acknowledged, event)
        if self._child_owns_status:
            await self._until_reported(hospital_id, lambda r: r.acknowledged_at is not None)
        return self._ack(detail)

    @record_hospital_acknowledgement.validator
    def _validate_acknowledgement(self, event: HospitalAcknowledgement) -> None:
        if event.reply_id in self._state.reply_ids:  # reply path (issue 8): a repeat
            return
        self._require_stage("record_hospital_acknowledgement", *_REFERRING_STAGES)
        self._check_referral(check_acknowledgement, event.hospital_id)

    def _check_referral(self, check, hospital_id: str) -> None:
        try:
            check(self._state.referrals.get(hospital_id), hospital_id)
        except ReferralRuleError as error:
            raise _reject(str(error)) from None

    @workflow.update
    @_settles
    def select_hospital(self, event: SelectHospital) -> EventAck:
        self._state.selected_hospital_id = event.hospital_id
        self._note("hospital_selected", f"hospital {event.hospital_id}")
        return self._ack(f"hospital {event.hospital_id} selected")

    @select_hospital.validator
    def _validate_select(self, event: SelectHospital) -> None:
        self._require_stage("select_hospital", *_REFERRING_STAGES)
        selected = self._state.selected_hospital_id
        self._check_referral(
            lambda status, hospital_id: check_selection(status, hospital_id, selected),
            event.hospital_id,
        )

    @workflow.signal(name=REPORTS_SIGNAL)
    def referral_reports(self, reports: ReferralReports) -> None:
        """A child's news since its last signal, oldest first (LEAN_REPORTS_PATCH). Internal."""
        for progress in reports.reports:
            self.referral_progress(progress)

    @workflow.signal
    def referral_progress(self, progress: ReferralProgress) -> None:
        """A child's news. Internal: sent by HospitalReferralWorkflow, not by the CLI."""
        s = self._state
        reported = progress.status
        status = s.referrals.get(reported.hospital_id)
        if status is None:
            return
        if self._child_owns_status:
            self._take_report(reported)
        else:
            _legacy_merge_report(status, reported)
        if progress.escalation is not None:
            s.escalations.append(progress.escalation)
        if progress.failed_step is not None:
            s.failed_steps[progress.failed_step.step_id] = progress.failed_step
        if progress.cleared_step_id is not None:
            s.failed_steps.pop(progress.cleared_step_id, None)
        packet = progress.event in ("packet_stored", "packet_delivered")
        if progress.event == DEADLINES_CHANGED:
            self._publish()  # only its waits moved: status and search attributes, no timeline
            return
        self._note(
            f"referral_{progress.event}",
            f"hospital {reported.hospital_id}: {progress.detail}",
            packet_id=reported.packet_id if packet else None,
            packet_sha256=reported.packet_sha256 if packet else None,
            recipients=list(reported.recipients) if progress.event == "packet_delivered" else [],
        )
        self._publish()

    # -- updates: translation, travel, admission, follow-up --------------------------------------

    @workflow.update
    @_settles
    def record_translation(self, event: TranslationReceived) -> EventAck:
        self._add_documents(list(event.documents))
        self._state.translation = event
        self._note("translation_received", f"{len(event.documents)} document(s), "
                   f"{event.language}")
        return self._ack("translation recorded")

    @record_translation.validator
    def _validate_translation(self, event: TranslationReceived) -> None:
        self._require_stage("record_translation", CaseStage.TRANSLATION)
        if self._state.translation is not None:
            raise _reject("record_translation: the translation is already recorded")
        self._check_translation_language(event.language)
        for ref in event.documents:
            self._check_ref("documents", ref)

    @workflow.update
    @_settles
    def record_travel(self, event: TravelEvent) -> EventAck:
        travel = self._state.travel
        assert travel is not None
        if event.document is not None:
            self._add_documents([event.document])
        late = record_travel_event(travel, event)
        self._note(f"travel_{event.kind.value}", event.on.isoformat())
        if late:
            planned = travel.planned_admission_date
            assert planned is not None
            self._note("arrival_after_planned_admission", f"planned {planned.isoformat()}")
        return self._ack(f"{event.kind.value} recorded")

    @record_travel.validator
    def _validate_travel(self, event: TravelEvent) -> None:
        self._require_stage("record_travel", CaseStage.TRAVEL)
        travel = self._state.travel
        if travel is None:
            raise _reject("record_travel: travel has not started yet")
        self._not_future("on", event.on)
        if event.document is not None:
            self._check_ref("document", event.document)
        try:
            check_travel_event(travel, event)
        except TravelError as error:
            raise _reject(str(error)) from None

    def _not_future(self, field: str, day: date) -> None:
        if day > workflow.now().date():
            raise _reject(f"{field}: {day.isoformat()} is in the future")

    @workflow.update
    @_settles
    def record_admission(self, event: AdmissionRecorded) -> EventAck:
        self._state.admitted_on = event.admitted_on
        self._note("admitted", event.admitted_on.isoformat())
        return self._ack("admission recorded")

    @record_admission.validator
    def _validate_admission(self, event: AdmissionRecorded) -> None:
        self._require_stage("record_admission", CaseStage.ADMISSION)
        if self._state.admitted_on is not None:
            raise _reject("admitted_on: the admission is already recorded")
        self._not_future("admitted_on", event.admitted_on)

    @workflow.update
    @_settles
    def record_discharge(self, event: DischargeRecorded) -> EventAck:
        self._state.discharged_on = event.discharged_on
        if event.summary is not None:
            self._add_documents([event.summary])
        self._note("discharged", event.discharged_on.isoformat())
        return self._ack("discharge recorded")

    @record_discharge.validator
    def _validate_discharge(self, event: DischargeRecorded) -> None:
        self._require_stage("record_discharge", CaseStage.ADMISSION)
        admitted = self._state.admitted_on
        if admitted is None:
            raise _reject("discharged_on: the admission is not recorded yet")
        if self._state.discharged_on is not None:
            raise _reject("discharged_on: the discharge is already recorded")
        if event.discharged_on < admitted:
            raise _reject("discharged_on: is before the admission date")
        self._not_future("discharged_on", event.discharged_on)
        if event.summary is not None:
            self._check_ref("summary", event.summary)

    @workflow.update
    @_settles
    def record_follow_up(self, event: FollowUpRecorded) -> EventAck:
        follow_up = next(f for f in self._state.follow_ups if f.day == event.day)
        follow_up.status = "recorded"
        follow_up.recorded_status = event.status
        if event.document is not None:
            self._add_documents([event.document])
        self._note("follow_up_recorded", f"day {event.day}: {event.status}")
        return self._ack(f"follow-up day {event.day} recorded")

    @record_follow_up.validator
    def _validate_follow_up(self, event: FollowUpRecorded) -> None:
        self._require_stage("record_follow_up", CaseStage.FOLLOW_UP)
        follow_up = next((f for f in self._state.follow_ups if f.day == event.day), None)
        if follow_up is None:
            days = ", ".join(str(f.day) for f in self._state.follow_ups)
            raise _reject(f"day: no follow-up on day {event.day}; scheduled: {days}")
        if follow_up.status == "recorded":
            raise _reject(f"day: follow-up day {event.day} is already recorded")
        if follow_up.status == "scheduled":
            raise _reject(
                f"day: follow-up day {event.day} is not due until {follow_up.due_on.isoformat()}"
            )
        if event.document is not None:
            self._check_ref("document", event.document)

    # -- consent -----------------------------------------------------------------------------------

    @property
    def _consent(self) -> ConsentLedger:
        assert self._state.consent is not None
        return self._state.consent

    @workflow.query(name=CONSENT_LEDGER_QUERY)
    def consent_ledger(self) -> ConsentLedger:
        """The live ledger: delivery activities check it on every attempt (ConsentGate)."""
        return self._consent

    @workflow.update
    @_settles
    async def record_consent(self, event: RecordConsent) -> EventAck:
        grant = ConsentGrant(
            country=event.country,
            hospital_id=event.hospital_id,
            purpose=event.purpose,
            granted_at=event.granted_at or workflow.now(),
        )
        if event.text_id is None:
            self._state.consent = self._consent.granted(grant, recorded_by=event.recorded_by)
        else:
            # Portal (issue 10): the event carries what the patient read; the ledger keeps it.
            self._state.consent = self._consent.recorded(
                ConsentEvent(
                    action="grant", country=grant.country, hospital_id=grant.hospital_id,
                    purpose=grant.purpose, at=grant.granted_at, recorded_by=event.recorded_by,
                    text_id=event.text_id, text_version=event.text_version,
                    language=event.language, text_sha256=event.text_sha256, text=event.text,
                    given_by=event.given_by,
                )
            )
        scope = _consent_scope(event.purpose, event.country, event.hospital_id)
        self._note("consent_recorded", scope, actor=event.recorded_by)
        self._publish()
        await self._tell_children(HospitalReferralWorkflow.consent_changed, self._consent)
        return self._ack(f"{scope} recorded")

    @record_consent.validator
    def _validate_record_consent(self, event: RecordConsent) -> None:
        self._require_stage("record_consent", *_OPEN_STAGES)
        hospitals = self._consent_hospitals(event.country, event.hospital_id)
        if event.granted_at is not None and event.granted_at > workflow.now():
            raise _reject("granted_at: is in the future")
        scope = _consent_scope(event.purpose, event.country, event.hospital_id)
        if hospitals and all(
            self._consent.allows(event.country, h, event.purpose) for h in hospitals
        ):
            raise _reject(f"consent: {scope} is already in force")

    @workflow.update
    @_settles
    async def withdraw_consent(self, event: WithdrawConsent) -> EventAck:
        s = self._state
        s.consent = self._consent.withdrawn(
            event.country, event.hospital_id, event.purpose, workflow.now(),
            recorded_by=event.recorded_by,
        )
        scope = _consent_scope(event.purpose, event.country, event.hospital_id)
        self._note("consent_withdrawn", scope, actor=event.recorded_by)
        if event.purpose == RECORDS_REVIEW:
            self._review_consent_withdrawn()
        if event.purpose == "referral":
            # Deliveries not yet made stop here; the delivery activity re-checks the live
            # ledger on every attempt, so one already retrying stops too.
            for hospital_id, status in s.referrals.items():
                hospital = self._hospitals[hospital_id]
                if (
                    status.delivered_at is None
                    and not status.final
                    and not self._consent.allows(hospital.country, hospital_id, "referral")
                ):
                    self._note("delivery_blocked", f"hospital {hospital_id}: {scope} withdrawn")
        self._publish()
        await self._tell_children(HospitalReferralWorkflow.consent_changed, self._consent)
        return self._ack(f"{scope} withdrawn")

    @withdraw_consent.validator
    def _validate_withdraw_consent(self, event: WithdrawConsent) -> None:
        self._require_stage("withdraw_consent", *_OPEN_STAGES)
        if event.country is None:  # the records review (WithdrawConsent's own rule)
            if self._consent.review_withdrawn():
                raise _reject("consent: the records_review consent is already withdrawn")
            if not self._consent.allows_review():
                raise _reject("consent: no records_review consent is in force")
            return
        hospitals = self._consent_hospitals(event.country, event.hospital_id)
        if not any(self._consent.allows(event.country, h, event.purpose) for h in hospitals):
            scope = _consent_scope(event.purpose, event.country, event.hospital_id)
            raise _reject(f"consent: no {scope} is in force")

    # -- the records review consent withdrawn (issue 10) -----------------------------------------

    def _review_consent_withdrawn(self) -> None:
        """The coordinator is told at once, by mail, that erasure is their next step (DPDP
        s.8(7)): the case does not erase by itself, because a law may require keeping the
        records, and that is the coordinator's call. The mail goes in the background, as the
        patient's do (the run waits for it), so the patient's click is not held by the SMTP
        server; only a lost mail is noted in the timeline."""
        if not takes(REVIEW_CONSENT_WITHDRAWN_PATCH, self._input.generation):
            return
        s = self._state
        count = sum(
            1 for e in self._consent.events
            if e.purpose == RECORDS_REVIEW and e.action == "withdraw"
        )
        notice = Notice(
            notice_id=f"{self._case_id}.consent.records-review-withdrawn.{count}",
            case_id=self._case_id,
            coordinator_id=s.coordinator_id,
            reason=_REVIEW_WITHDRAWN_REASON,
            audience=["coordinator"],
        )
        self._patient_mail.append(asyncio.create_task(self._send_review_withdrawn(notice)))

    async def _send_review_withdrawn(self, notice: Notice) -> None:
        try:
            sent = await send_notice(notice)
        except ActivityError:  # cancelled with the run: moot
            return
        if not sent:
            self._note("coordinator_not_notified", "records review consent withdrawn")

    # -- end of the records review consent withdrawn ----------------------------------------------

    def _consent_hospitals(self, country: str, hospital_id: str | None) -> list[str]:
        """The case's hospitals a consent scope covers; rejects a hospital outside the case."""
        if hospital_id is None:
            return [h.hospital_id for h in self._hospitals.values() if h.country == country]
        hospital = self._hospitals.get(hospital_id)
        if hospital is None:
            known = ", ".join(self._hospitals)
            raise _reject(f"hospital_id: unknown hospital {hospital_id!r}; known: {known}")
        if hospital.country != country:
            raise _reject(f"hospital_id: hospital {hospital_id} is not in {country}")
        return [hospital_id]

    # -- updates: a patient's inquiry in INTAKE (issue 10) ----------------------------------------

    @workflow.update
    @_settles
    async def accept_inquiry(self, event: AcceptInquiry) -> EventAck:
        s = self._state
        previous = s.coordinator_id
        s.inquiry_accepted = event
        s.coordinator_id = event.coordinator_id
        s.coordinator_contact = event.contact
        self._note("inquiry_accepted", f"{previous} -> {event.coordinator_id}",
                   actor=event.coordinator_id)
        self._publish()
        await workflow.wait_condition(lambda: s.stage != CaseStage.INTAKE)
        return self._ack(f"accepted by {event.coordinator_id}")

    @accept_inquiry.validator
    def _validate_accept_inquiry(self, event: AcceptInquiry) -> None:
        self._require_inquiry_undecided("accept_inquiry")

    @workflow.update
    @_settles
    def decline_inquiry(self, event: DeclineInquiry) -> EventAck:
        self._state.inquiry_declined = event
        self._note("inquiry_declined", event.reason[:200], actor=event.declined_by)
        self._publish()
        return self._ack("declined; the patient is told by e-mail")

    @decline_inquiry.validator
    def _validate_decline_inquiry(self, event: DeclineInquiry) -> None:
        self._require_inquiry_undecided("decline_inquiry")

    def _require_inquiry_undecided(self, event: str) -> None:
        if not self._input.from_inquiry:
            raise _reject(f"{event}: the case did not start from a patient's inquiry")
        self._require_stage(event, CaseStage.INTAKE)
        s = self._state
        if s.inquiry_accepted is not None or s.inquiry_declined is not None:
            raise _reject(f"{event}: the inquiry is already decided")

    # -- translation from the languages, and destinations after intake (issue 12) ----------------

    async def _translation_by_language(self) -> None:
        """Translate only when the records' language is not the selected hospital's working one
        (caseflow/translation_need.py); a missing translation consent is a wait that escalates
        until the patient grants it or the coordinator skips the translation."""
        s = self._state
        assert s.selected_hospital_id is not None
        hospital = self._hospitals[s.selected_hospital_id]
        # Documents carry no language yet: the patient's stands for theirs.
        need = translation_need(self._input.intake.patient.preferred_language, [], hospital)
        if not s.translation_decided:
            s.translation_decided = True
            self._note("translation_needed" if need.needed else "translation_not_needed", need.why)

        def settled() -> bool:
            return s.translation is not None or s.translation_skipped is not None

        def consented() -> bool:
            return self._consent.allows(hospital.country, hospital.hospital_id, "translation")

        if need.needed and not settled():
            if not consented():
                await self._wait(
                    WaitKind.TRANSLATION_CONSENT, "translation-consent",
                    lambda: consented() or settled(), subject=hospital.hospital_id,
                )
            documents = self._clinical_documents()
            if not settled() and not s.translation_job_sent:
                if documents:
                    await self._send_translation_job(need.target_language, documents)
                else:
                    self._note("translation_job_not_sent", "no documents to translate")
            await self._wait(WaitKind.TRANSLATION, "translation", settled)
        self._enter(CaseStage.TRAVEL)

    @workflow.update
    @_settles
    def skip_translation(self, event: SkipTranslation) -> EventAck:
        if self._state.translation_skipped is not None:
            return self._ack("already recorded: the translation is skipped")
        self._state.translation_skipped = event
        self._note("translation_skipped", event.reason, actor=event.skipped_by)
        return self._ack("translation skipped")

    @skip_translation.validator
    def _validate_skip_translation(self, event: SkipTranslation) -> None:
        if self._state.translation_skipped is not None:
            return  # a repeat: answered "already recorded"
        self._require_stage("skip_translation", CaseStage.TRANSLATION)
        if self._state.translation is not None:
            raise _reject("skip_translation: the translation is already recorded")

    def _check_translation_language(self, language: str) -> None:
        hospital_id = self._state.selected_hospital_id
        if hospital_id is None:
            return
        error = translation_language_error(language, self._hospitals[hospital_id])
        if error is not None:
            raise _reject(f"language: {error}")

    def _destination_countries(self) -> list[str]:
        return list(self._state.destination_countries
                    or self._input.intake.destinations.countries)

    @workflow.update
    @_settles
    def change_destinations(self, event: ChangeDestinations) -> EventAck:
        s = self._state
        before = self._destination_countries()
        if before == list(event.countries):
            return self._ack(f"already recorded: destinations {','.join(before)}")
        # Hospitals already referred stay, whatever their country: their referrals are history.
        kept = {
            h.hospital_id: h for h in self._hospitals.values()
            if h.country in event.countries or h.hospital_id in s.referrals
        }
        self._hospitals = kept | {h.hospital_id: h for h in event.hospitals
                                  if h.country in event.countries}
        s.hospitals = list(self._hospitals.values())
        s.destination_countries = list(event.countries)
        self._note("destinations_changed", f"{','.join(before)} to {','.join(event.countries)}: "
                   f"{event.reason}")
        self._publish()
        return self._ack(f"destinations {','.join(event.countries)}; "
                         f"{len(self._hospitals)} hospital(s) in scope")

    @change_destinations.validator
    def _validate_change_destinations(self, event: ChangeDestinations) -> None:
        if self._destination_countries() == list(event.countries):
            return  # a repeat: answered "already recorded"
        self._require_stage(
            "change_destinations", CaseStage.INTAKE, CaseStage.RECORDS, CaseStage.SPECIALIST_REVIEW
        )
        error = destination_change_error(
            list(event.countries), list(self._hospitals.values()), event.hospitals, self._consent
        )
        if error is not None:
            raise _reject(error)

    # -- end of issue 12's translation and destinations ----------------------------------------

    # -- updates: any stage ----------------------------------------------------------------------

    @workflow.update
    @_settles
    async def withdraw(self, event: Withdraw) -> EventAck:
        self._state.withdrawal = event
        erase = "; documents to be erased" if event.erase else ""
        self._note("withdrawal_requested", f"{event.reason}{erase}")
        # Answer once the case is closed, so the caller knows children and erasure are done.
        await workflow.wait_condition(lambda: self._state.stage == CaseStage.CLOSED)
        erased = " and documents erased" if self._state.documents_erased else ""
        return self._ack(f"withdrawn{erased}")

    @withdraw.validator
    def _validate_withdraw(self, event: Withdraw) -> None:
        self._require_stage("withdraw", *_OPEN_STAGES)
        if self._state.withdrawal is not None:
            raise _reject("withdraw: the case is already being withdrawn")

    @workflow.update
    @_settles
    async def assign_coordinator(self, event: AssignCoordinator) -> EventAck:
        previous = self._state.coordinator_id
        self._state.coordinator_id = event.coordinator_id
        # The previous contact names someone else: without a new one, letters give the id.
        self._state.coordinator_contact = event.contact
        self._note("coordinator_assigned", f"{previous} -> {event.coordinator_id}")
        self._publish()
        await self._tell_children(HospitalReferralWorkflow.assign_coordinator, event)
        return self._ack(f"coordinator {event.coordinator_id}")

    @assign_coordinator.validator
    def _validate_assign(self, event: AssignCoordinator) -> None:
        self._require_stage("assign_coordinator", *_OPEN_STAGES)
        if event.coordinator_id == self._state.coordinator_id:
            raise _reject(f"coordinator_id: {event.coordinator_id} is already the coordinator")

    @workflow.update
    @_settles
    async def hold(self, event: Hold) -> EventAck:
        self._state.on_hold = True
        self._state.hold_reason = event.reason
        self._note("hold", event.reason)
        self._publish()
        await self._tell_children(HospitalReferralWorkflow.set_hold, HoldChange(on_hold=True))
        return self._ack("on hold: SLA escalation paused")

    @hold.validator
    def _validate_hold(self, event: Hold) -> None:
        self._require_stage("hold", *_OPEN_STAGES)
        if self._state.on_hold:
            raise _reject("hold: the case is already on hold")

    @workflow.update
    @_settles
    async def resume(self, event: Resume) -> EventAck:
        self._state.on_hold = False
        self._state.hold_reason = None
        self._note("resumed", event.note or "")
        self._publish()
        await self._tell_children(HospitalReferralWorkflow.set_hold, HoldChange(on_hold=False))
        return self._ack("resumed: SLA escalation running")

    @resume.validator
    def _validate_resume(self, event: Resume) -> None:
        self._require_stage("resume", *_OPEN_STAGES)
        if not self._state.on_hold:
            raise _reject("resume: the case is not on hold")

    @workflow.update
    @_settles
    async def retry_step(self, event: RetryStep) -> EventAck:
        await self._decide(event.step_id, "retry")
        return self._ack(f"retrying {event.step_id}")

    @retry_step.validator
    def _validate_retry(self, event: RetryStep) -> None:
        self._require_failed(event.step_id)

    @workflow.update
    @_settles
    async def skip_step(self, event: SkipStep) -> EventAck:
        self._note("step_skip_requested", f"{event.step_id}: {event.reason}")
        await self._decide(event.step_id, "skip")
        return self._ack(f"skipping {event.step_id}")

    @skip_step.validator
    def _validate_skip(self, event: SkipStep) -> None:
        self._require_failed(event.step_id)

    def _require_failed(self, step_id: str) -> None:
        self._require_stage("step decision", *_OPEN_STAGES)
        if step_id not in self._state.failed_steps:
            failed = ", ".join(self._state.failed_steps) or "none"
            raise _reject(f"step_id: {step_id!r} is not a failed step; failed steps: {failed}")

    async def _decide(self, step_id: str, action: StepAction) -> None:
        failed = self._state.failed_steps.pop(step_id)
        if failed.hospital_id is None:
            self._state.step_decisions[step_id] = action
            return
        await self._signal_child(
            failed.hospital_id,
            HospitalReferralWorkflow.decide_step,
            ReferralStepDecision(step_id=step_id, action=action, decided_at=workflow.now()),
        )

    async def _tell_children(self, signal, arg) -> None:
        for hospital_id in self._children:
            await self._signal_child(hospital_id, signal, arg)

    def _forward(self, hospital_id: str, signal, arg) -> None:
        """Signal the child without the update waiting for the server to confirm it (that is
        one more workflow task): the case already shows what it forwarded."""
        self._forwarding.append(asyncio.create_task(self._signal_child(hospital_id, signal, arg)))

    async def _signal_child(self, hospital_id: str, signal, arg) -> None:
        handle = self._children.get(hospital_id)
        if handle is None or handle.done():
            return
        try:
            await handle.signal(signal, arg)
        except Exception:  # noqa: BLE001 - a child that just closed must not fail the update
            self._note("signal_not_delivered", f"hospital {hospital_id}")


def _consent_scope(purpose: str, country: str | None, hospital_id: str | None) -> str:
    if country is None:  # the records review: no country, no hospital
        return f"{purpose} consent"
    where = f"hospital {hospital_id}" if hospital_id else "any hospital"
    return f"{purpose} consent for {where} in {country}"


# The coordinator's mail and the SLA's words while the records review consent is withdrawn.
_REVIEW_WITHDRAWN_REASON = (
    "the patient withdrew the records review consent: no specialist review; erase the records "
    "(caseflow case withdraw --erase) unless a law requires keeping them"
)


def _letter_language(hospital: Hospital) -> str:
    # The zh-CN template is bilingual (Chinese headings and notices beside the English text),
    # so a Chinese hospital's international desk and its English-reading oncologists both read
    # it; other hospitals get the English letter.
    return "zh-CN" if hospital.country == "CN" and "zh-CN" in hospital.languages else "en"


def _review_reason(review: SubmitReview) -> str:
    text = (review.recommendation or "").strip()
    return text[:500] if text else "requested by the specialist review"


# -- referrals started before REFERRAL_STATUS_PATCH --------------------------------------------
# Such a case kept its own copy of each referral, changed it on the coordinator's events and
# merged the child's reports into it. Remove once no case started before the patch is open.


def _legacy_merge_report(status: HospitalReferralStatus, reported: HospitalReferralStatus) -> None:
    # The case's own record won for decisions it had already made (response, selection).
    if not status.final and (reported.final or status.response is None):
        status.state = reported.state
    _merge_delivery(status, reported)
    status.escalation_level = reported.escalation_level
    status.failed_step_id = reported.failed_step_id


def _merge_delivery(status: HospitalReferralStatus, reported: HospitalReferralStatus) -> None:
    """Copy what the child owned even then: the packet and its delivery."""
    status.packet_id = reported.packet_id or status.packet_id
    status.packet_prefix = reported.packet_prefix or status.packet_prefix
    status.packet_sha256 = reported.packet_sha256 or status.packet_sha256
    status.channel = reported.channel
    status.endpoint_disabled = reported.endpoint_disabled
    status.recipients = list(reported.recipients) or status.recipients
    status.delivered_at = reported.delivered_at or status.delivered_at
    status.delivery_receipt = reported.delivery_receipt or status.delivery_receipt
    status.acknowledged_at = status.acknowledged_at or reported.acknowledged_at
    status.acknowledgement_reference = (
        status.acknowledgement_reference or reported.acknowledgement_reference
    )
