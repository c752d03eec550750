"""One mechanism for every wait on a person or a hospital, shared by both workflows.

A wait runs its SLA policy (remind, escalate to the coordinator, then to the supervisor), pauses
while the case is on hold, and survives continue-as-new because its clock lives in a `Deadline`
kept in workflow state. One timer serves every wait of a workflow (ONE_CLOCK_PATCH): it is armed
for the earliest due time, so a wait that ends in time costs no timer of its own. An activity that
exhausts its retries becomes such a wait too: it escalates and waits for retry_step or
skip_step instead of failing the case.
"""

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

from workflows.case_metrics import count_escalation
from workflows.generations import takes

with workflow.unsafe.imports_passed_through():
    from activities.notifications import CaseMailer
    from activities.payloads import Notice
    from caseflow.case_status import Deadline, Escalation, FailedStep
    from caseflow.sla import SlaPolicy, SlaStep, WaitKind
    from workflows.step_policies import StepPatience

# Error types an activity raises for input that can never succeed; retrying them is pointless.
NON_RETRYABLE_ERRORS = ["ValidationError", "InvalidInput", "ConsentMissing"]

StepAction = Literal["retry", "skip"]

# Steps run with their kind's timeouts, heartbeat and patience, escalating while they retry.
PATIENT_STEPS_PATCH = "steps-retry-infrastructure-errors-patiently"
# The deadline of a step still retrying (as opposed to one that failed and is parked).
RETRYING_PREFIX = "retrying-"
# Lean histories (issue 14): one timer per workflow, armed for the earliest due time of its
# waits and re-armed only when an earlier one appears, instead of a timer started and cancelled
# for every wait and every step. Runs started before it time each wait on its own.
ONE_CLOCK_PATCH = "one-sla-clock"

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


class StepRetry(BaseModel):
    """How hard an activity is retried before it escalates as a failed step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    maximum_attempts: int = 5
    initial_interval: timedelta = timedelta(seconds=1)
    maximum_interval: timedelta = timedelta(minutes=1)
    start_to_close_timeout: timedelta = timedelta(minutes=2)
    # Packet deliveries keep their channel's own policy (backoff, non-retryable errors); this
    # only caps its attempts (tests). None: the channel's maximum_attempts.
    delivery_attempts: int | None = None
    # Issue 11: retry infrastructure errors for as long as each kind of step's patience, and
    # escalate while retrying (workflows/step_policies.py). None (cases started before, and
    # tests of the fixed budget): maximum_attempts as above.
    patience: StepPatience | None = None

    def delivery_policy(self, channel_policy: RetryPolicy) -> RetryPolicy:
        if self.delivery_attempts is None:
            return channel_policy
        return dataclasses.replace(channel_policy, maximum_attempts=self.delivery_attempts)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=self.initial_interval,
            maximum_interval=self.maximum_interval,
            maximum_attempts=self.maximum_attempts,
            non_retryable_error_types=NON_RETRYABLE_ERRORS,
        )


class SlaWatch:
    """Runs SLA-governed waits against state the owning workflow keeps.

    The workflow passes its own dicts (so they are carried across continue-as-new) and three
    callbacks: `escalate` sends the notice and records the step, `changed` republishes search
    attributes after a deadline moves, `record(event, detail, step_id)` notes a failed step, a
    retry or a skip.
    """

    def __init__(
        self,
        *,
        deadlines: dict[str, Deadline],
        failed_steps: dict[str, FailedStep],
        step_decisions: dict[str, StepAction],
        is_on_hold: Callable[[], bool],
        escalate: Callable[[Deadline, SlaStep, int], Awaitable[None]],
        changed: Callable[[], None],
        record: Callable[[str, str, str], Awaitable[None]],
        step_policy: SlaPolicy,
        retry: StepRetry,
        generation: int | None = None,
    ) -> None:
        self._deadlines = deadlines
        self._failed_steps = failed_steps
        self._step_decisions = step_decisions
        self._is_on_hold = is_on_hold
        self._escalate = escalate
        self._changed = changed
        self._record = record
        self._step_policy = step_policy
        self._retry = retry
        self._generation = generation
        # ONE_CLOCK_PATCH, decided at the run's first timed wait; the clock's task; and when
        # each step in flight is due to escalate as still retrying (by step, this run only:
        # an activity does not outlive its run).
        self._clocked: bool | None = None
        self._clock: asyncio.Task | None = None
        self._alarms: dict[str, datetime] = {}

    def highest_level(self) -> int:
        return max((d.steps_fired for d in self._deadlines.values()), default=0)

    async def wait(
        self,
        deadline_id: str,
        kind: WaitKind,
        policy: SlaPolicy,
        done: Callable[[], bool],
        *,
        subject: str = "",
        start: datetime | None = None,
    ) -> None:
        """Return once `done()` holds, escalating on the way as `policy` says.

        Reuses the deadline with this id when one is open (after continue-as-new), so the clock
        does not restart.
        """
        deadline = self._deadlines.get(deadline_id)
        if deadline is None:
            started = start if start is not None else workflow.now()
            deadline = Deadline(deadline_id=deadline_id, wait=kind, subject=subject,
                                started_at=started)
            self._deadlines[deadline_id] = deadline
        # Not try/finally: a cancelled wait (continue-as-new) keeps its deadline for the next
        # run, and an evicted workflow must not issue commands.
        while not done():
            if workflow.cancellation_reason() is not None:
                # Cancelled while some earlier operation absorbed the task's cancellation.
                raise asyncio.CancelledError()
            if self._is_on_hold():
                await self._sit_out_hold(deadline, done)
                continue
            # The clock runs from the start of the wait, less the time spent on hold.
            schedule = policy.deadlines(deadline.started_at + deadline.paused_for)
            if deadline.steps_fired >= len(schedule):
                deadline.next_step, deadline.due_at = None, None
                self._changed()
                await workflow.wait_condition(done)
                break
            index = deadline.steps_fired
            step, due = schedule[index].step, schedule[index].due_at
            deadline.next_step, deadline.due_at = step.value, due
            self._changed()
            remaining = due - workflow.now()
            if remaining > timedelta(0) and self._one_clock():
                await workflow.wait_condition(functools.partial(self._ended_or_due, done, due))
                if done() or self._is_on_hold():
                    continue
            elif remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: done() or self._is_on_hold(),
                        timeout=remaining,
                        timeout_summary=f"{deadline_id}:{step.value}",
                    )
                    continue
                except TimeoutError:
                    pass
            # Notice first, count after: if this run is cut short the next run repeats the
            # notice with the same deterministic id, which the mail side deduplicates.
            await self._escalate(deadline, step, index + 1)
            deadline.steps_fired = index + 1
        self._deadlines.pop(deadline_id, None)
        self._changed()

    def _one_clock(self) -> bool:
        """Whether this run's waits share one timer; starts it on first use."""
        if self._clocked is None:
            self._clocked = takes(ONE_CLOCK_PATCH, self._generation)
        if self._clocked and self._clock is None:
            # Not awaited: it ends with the run, and its timer with it (no cancel event).
            self._clock = asyncio.create_task(self._keep_time())
        return self._clocked

    def _next_due(self) -> tuple[datetime, str] | None:
        """The earliest due time of the open waits and the steps in flight, and whose it is."""
        dues = [(d.due_at, d.deadline_id) for d in self._deadlines.values() if d.due_at]
        dues.extend((due, step) for step, due in self._alarms.items())
        return min(dues, default=None)

    async def _keep_time(self) -> None:
        """Keep one timer armed for the earliest due time. Each wait tests `now >= due` in its
        own condition, so the timer only has to wake the workflow; one that fires for a wait
        that has ended re-arms for the next."""
        while True:
            first = self._next_due()
            if first is None or first[0] <= workflow.now():
                # Nothing to time, or it is due now and its wait is acting on it.
                await workflow.wait_condition(functools.partial(self._moved_from, first))
                continue
            # Re-armed (this timer cancelled) only when an earlier due time appears.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    functools.partial(self._earlier_than, first[0]),
                    timeout=first[0] - workflow.now(),
                    timeout_summary=f"sla-clock:{first[1]}",
                )

    def _ended_or_due(self, done: Callable[[], bool], due: datetime) -> bool:
        return done() or self._is_on_hold() or workflow.now() >= due

    def _moved_from(self, first: tuple[datetime, str] | None) -> bool:
        return self._next_due() != first

    def _earlier_than(self, due: datetime) -> bool:
        first = self._next_due()
        return first is not None and first[0] < due

    async def _sit_out_hold(self, deadline: Deadline, done: Callable[[], bool]) -> None:
        if deadline.held_since is None:
            deadline.held_since = workflow.now()
        deadline.next_step, deadline.due_at = None, None
        self._changed()
        await workflow.wait_condition(lambda: done() or not self._is_on_hold())
        deadline.paused_for += workflow.now() - deadline.held_since
        deadline.held_since = None

    @overload
    async def run_step(
        self,
        step_id: str,
        activity: Callable[[Any, ArgT], Awaitable[ResultT]],
        arg: ArgT,
        *,
        hospital_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        start_to_close_timeout: timedelta | None = None,
        raise_types: Collection[str] = (),
        task_queue: str | None = None,
    ) -> ResultT | None: ...

    @overload
    async def run_step(
        self,
        step_id: str,
        activity: Callable[[Any, ArgT], ResultT],
        arg: ArgT,
        *,
        hospital_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        start_to_close_timeout: timedelta | None = None,
        raise_types: Collection[str] = (),
        task_queue: str | None = None,
    ) -> ResultT | None: ...

    async def run_step(
        self,
        step_id: str,
        activity: Callable[[Any, Any], Any],
        arg: Any,
        *,
        hospital_id: str | None = None,
        retry_policy: RetryPolicy | None = None,
        start_to_close_timeout: timedelta | None = None,
        raise_types: Collection[str] = (),
        task_queue: str | None = None,
    ) -> Any:
        """Execute an activity method (by reference, e.g. `ReferralLetters.render_referral_packet`);
        past its retry budget, escalate and wait for a decision.

        Returns the activity's result, or None when the step was skipped. An ActivityError
        whose cause is an ApplicationError of one of `raise_types` is raised to the caller,
        which handles it itself (e.g. a delivery blocked by consent). `task_queue`: another
        queue's workers run it (the render workers); None: this workflow's.
        """
        # Every activity is registered under its method's name (failed steps show it).
        name = activity.__name__
        attempt = 0
        attempts = 0  # the activity's attempts over every round, as `case status` shows them
        patient = self._retry.patience is not None and takes(PATIENT_STEPS_PATCH, self._generation)
        while True:
            try:
                if patient:
                    assert self._retry.patience is not None
                    return await self._run_patiently(
                        step_id, activity, arg, self._retry.patience, retry_policy, task_queue
                    )
                return await workflow.execute_activity_method(
                    activity,
                    arg,
                    start_to_close_timeout=(
                        start_to_close_timeout or self._retry.start_to_close_timeout
                    ),
                    retry_policy=retry_policy or self._retry.policy(),
                    task_queue=task_queue,
                )
            except ActivityError as error:
                # A cancelled workflow (withdrawal) cancels its activity: not a failed step.
                if is_cancelled_exception(error):
                    raise
                cause = error.cause
                error_type = cause.type if isinstance(cause, ApplicationError) else None
                if error_type in raise_types:
                    raise
                attempt += 1
                attempts += attempts_of(error) or 1
                self._failed_steps[step_id] = FailedStep(
                    step_id=step_id,
                    activity=name,
                    failed_at=workflow.now(),
                    error_type=error_type or type(cause).__name__,
                    attempts=attempts,
                    hospital_id=hospital_id,
                )
                await self._record(
                    "step_failed",
                    f"{step_id} ({name}) failed; waiting for retry_step or skip_step",
                    step_id,
                )
                await self.wait(
                    f"step-{step_id}-{attempt}",
                    WaitKind.STEP_FAILURE,
                    self._step_policy,
                    lambda: step_id in self._step_decisions,
                    subject=step_id,
                )
                action = self._step_decisions.pop(step_id)
                self._failed_steps.pop(step_id, None)
                await self._record(f"step_{action}", step_id, step_id)
                if action == "skip":
                    return None

    async def _run_patiently(
        self,
        step_id: str,
        activity: Callable[[Any, Any], Any],
        arg: Any,
        patience: StepPatience,
        channel_policy: RetryPolicy | None,
        task_queue: str | None = None,
    ) -> Any:
        """The activity with its kind's options; while it is still retrying once the step-failure
        policy's first step falls due, the case reminds and escalates as for a failed step."""
        options = patience.options(activity.__name__)
        policy = options.retry_policy
        if self._retry.delivery_attempts is not None:  # tests cap deliveries
            policy = dataclasses.replace(policy, maximum_attempts=self._retry.delivery_attempts)
        del channel_policy  # the kind's policy replaces the channel's
        started = workflow.now()
        handle = workflow.start_activity_method(
            activity,
            arg,
            start_to_close_timeout=options.start_to_close,
            heartbeat_timeout=options.heartbeat,
            schedule_to_close_timeout=options.patience,
            retry_policy=policy,
            task_queue=task_queue,
        )
        if self._one_clock():
            alarm = started + self._step_policy.remind_after
            self._alarms[step_id] = alarm
            try:
                await workflow.wait_condition(lambda: handle.done() or workflow.now() >= alarm)
            finally:
                self._alarms.pop(step_id, None)
            retrying = not handle.done()
        else:
            retrying = await _still_running(handle, self._step_policy.remind_after, step_id)
        if retrying:
            # Still retrying: the wait's clock runs from the step's start, so its first step is
            # due now; it ends by itself when the activity does.
            await self.wait(
                f"{RETRYING_PREFIX}{step_id}",
                WaitKind.STEP_FAILURE,
                self._step_policy,
                handle.done,
                subject=step_id,
                start=started,
            )
        return await handle


async def _still_running(handle: asyncio.Task, remind_after: timedelta, step_id: str) -> bool:
    """Runs started before ONE_CLOCK_PATCH: a timer of the step's own."""
    try:
        await workflow.wait_condition(
            handle.done,
            timeout=remind_after,
            timeout_summary=f"{RETRYING_PREFIX}{step_id}",
        )
    except TimeoutError:
        return True
    return False


def attempts_of(error: BaseException) -> int | None:
    """The attempts an activity made, from the detail activities/failures.py puts on each
    failure (also found under a timeout, whose cause is the last attempt's failure)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.details:
            first = cause.details[0]
            if isinstance(first, dict) and isinstance(first.get("attempt"), int):
                return int(first["attempt"])
        cause = cause.__cause__
    return None


def step_failure_reason(deadline: Deadline) -> str:
    """How a notice names a step's wait: still retrying, or failed and parked."""
    if deadline.deadline_id.startswith(RETRYING_PREFIX):
        return (
            f"step {deadline.subject} is still retrying: storage, an endpoint or the mail "
            "relay is unreachable"
        )
    return f"step {deadline.subject} failed and needs retry_step or skip_step"


NOTICE_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30))


async def send_notice(notice: Notice) -> bool:
    """Mail a notice; False when mail stayed down past its retries. A lost notice is recorded,
    not fatal: the escalation itself is in the timeline and the search attributes."""
    try:
        await workflow.execute_activity_method(
            CaseMailer.send_notice,
            notice,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=NOTICE_RETRY,
        )
    except ActivityError as error:
        if is_cancelled_exception(error):
            raise  # the workflow is being cancelled: the notice is moot, the wait must end
        return False
    return True


async def notify_escalation(
    *,
    notice_id: str,
    case_id: str,
    coordinator_id: str,
    deadline_id: str,
    wait: WaitKind,
    subject: str,
    step: SlaStep,
    level: int,
    reason: str,
    waiting_since: datetime | None = None,
    due_at: datetime | None = None,
    sla_step: bool = True,
) -> Escalation:
    """Mail the notice for one escalation step and return its record; level 3 also goes to the
    supervisor. The caller records it (the case's escalations, or a referral's progress). An
    immediate escalation (`sla_step=False`, e.g. a gone webhook) is worded by its reason alone."""
    count_escalation(wait.value, level)  # the worker's metrics (workflows/case_metrics.py)
    notified = await send_notice(
        Notice(
            notice_id=notice_id,
            case_id=case_id,
            coordinator_id=coordinator_id,
            reason=reason,
            audience=["coordinator", "supervisor"] if level == 3 else ["coordinator"],
            step=step if sla_step else None,
            waits_for=wait if sla_step else None,
            wait_subject=subject if sla_step else "",
            waiting_since=waiting_since if sla_step else None,
            due_at=due_at if sla_step else None,
        )
    )
    return Escalation(
        at=workflow.now(),
        deadline_id=deadline_id,
        wait=wait,
        subject=subject,
        step=step.value,
        level=level,
        notice_id=notice_id,
        notified=notified,
    )


async def escalate_deadline(
    case_id: str, coordinator_id: str, deadline: Deadline, step: SlaStep, level: int, reason: str
) -> Escalation:
    """An SLA step that fell due on `deadline`: its notice, named after the deadline and step so
    a repeat after continue-as-new is the same message."""
    return await notify_escalation(
        notice_id=f"{case_id}.{deadline.deadline_id}.{step.value}",
        case_id=case_id,
        coordinator_id=coordinator_id,
        deadline_id=deadline.deadline_id,
        wait=deadline.wait,
        subject=deadline.subject,
        step=step,
        level=level,
        reason=reason,
        waiting_since=deadline.started_at,
        due_at=deadline.due_at,
    )
