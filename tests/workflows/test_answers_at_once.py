"""A hospital's answer and acknowledgement show on the case at once (ANSWERS_AT_ONCE_PATCH): the
update completes without waiting for the referral to report them back, and a report the referral
sent before it took them does not undo them.

The referral here is a stand-in registered under HospitalReferralWorkflow's name on a queue of
its own: it reports that it awaits the answer, sends one more report without it when the case
forwards an answer or acknowledgement (as a report already in flight would arrive), and takes
the answer only when the test releases it.
"""

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from temporalio import workflow
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RawValue
from temporalio.worker import Worker

from caseflow.case_events import HospitalAcknowledgement, HospitalResponse, SelectHospital
from caseflow.case_status import CaseStage, HospitalReferralStatus, ReferralState
from caseflow.ids import case_workflow_id, referral_workflow_id
from caseflow.referrals import take_answer
from workflows.case import CaseWorkflow
from workflows.referral import (
    REPORTS_SIGNAL,
    ReferralInput,
    ReferralProgress,
    ReferralReports,
)

from .cases import (
    HOSPITAL_IDS,
    case_id_of,
    case_input,
    status,
    wait_for,
    wait_for_stage,
)
from .drive import accept, drive_to

QUEUE = "answers-at-once-tests"
ANSWERED = HOSPITAL_IDS[0]


@workflow.defn(name="HospitalReferralWorkflow", sandboxed=False)
class SlowReferral:
    def __init__(self) -> None:
        self._forwarded = 0
        self._stale_sent = 0
        self._released = False
        self._answers: list[HospitalResponse] = []

    @workflow.run
    async def run(self, input: ReferralInput) -> HospitalReferralStatus:
        self._parent = workflow.get_external_workflow_handle(input.parent_workflow_id)
        self._status = HospitalReferralStatus(
            hospital_id=input.hospital.hospital_id,
            workflow_id=workflow.info().workflow_id,
            channel=input.hospital.channel,
            state=ReferralState.AWAITING_RESPONSE,
            delivered_at=workflow.now(),
        )
        await self._report("awaiting_response")
        while not self._released:
            await workflow.wait_condition(
                lambda: self._released or self._stale_sent < self._forwarded
            )
            if self._stale_sent < self._forwarded:
                await self._report("awaiting_response")  # the status from before the signal
                self._stale_sent += 1
        take_answer(self._status, self._answers[-1], workflow.now())
        await self._report(self._status.state.value)
        return self._status

    async def _report(self, event: str) -> None:
        progress = ReferralProgress(status=self._status.model_copy(deep=True), event=event)
        await self._parent.signal(REPORTS_SIGNAL, ReferralReports(reports=[progress]))

    @workflow.signal
    def hospital_responded(self, response: HospitalResponse) -> None:
        self._answers.append(response)
        self._forwarded += 1

    @workflow.signal
    def hospital_acknowledged(self, event: HospitalAcknowledgement) -> None:
        self._forwarded += 1

    @workflow.signal
    def release(self) -> None:
        self._released = True

    @workflow.signal(dynamic=True)
    def other(self, name: str, args: Sequence[RawValue]) -> None:
        """The case's other news (consent, hold, coordinator): not this test's subject."""


@pytest.fixture
async def slow_worker(env, recorded):
    async with Worker(
        env.client,
        task_queue=QUEUE,
        workflows=[CaseWorkflow, SlowReferral],
        activities=recorded.all(),
    ) as running:
        yield running


async def _awaiting_answers(env) -> WorkflowHandle:
    input = case_input()
    handle = await env.client.start_workflow(
        CaseWorkflow.run, input, id=case_workflow_id(input.case_id), task_queue=QUEUE
    )
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(
        handle,
        lambda s: all(h.state == ReferralState.AWAITING_RESPONSE for h in s.hospitals),
    )
    return handle


async def _stale_reports_taken(handle: WorkflowHandle, count: int) -> None:
    """Until the case has taken `count` stale reports: each is a timeline entry of its own,
    after the one for the referral's first report that it awaits the answer."""

    def taken(current) -> bool:
        notes = [
            e for e in current.timeline
            if e.event == "referral_awaiting_response" and ANSWERED in e.detail
        ]
        return len(notes) >= 1 + count

    await wait_for(handle, taken)


def _referral(current, hospital_id: str = ANSWERED):
    return next(h for h in current.hospitals if h.hospital_id == hospital_id)


async def test_an_answer_shows_at_once_and_a_stale_report_keeps_it(env, slow_worker):
    handle = await _awaiting_answers(env)

    # The referral has not reported the answer (it is held): the update completes all the same.
    await asyncio.wait_for(accept(env, handle, ANSWERED), timeout=10)
    answered = _referral(await status(handle))
    assert answered.state == ReferralState.ACCEPTED and answered.response is not None

    # A report from before the referral took the answer arrives: the answer stays.
    await _stale_reports_taken(handle, 1)
    answered = _referral(await status(handle))
    assert answered.state == ReferralState.ACCEPTED
    assert answered.response is not None and answered.response.decision == "accept"

    # So the coordinator can select it at once, and the case moves on.
    await handle.execute_update(CaseWorkflow.select_hospital, SelectHospital(hospital_id=ANSWERED))
    await wait_for_stage(handle, CaseStage.TRANSLATION)


async def test_an_acknowledgement_shows_at_once_and_a_stale_report_keeps_it(
    env, slow_worker
):
    handle = await _awaiting_answers(env)

    ack = await asyncio.wait_for(
        handle.execute_update(
            CaseWorkflow.record_hospital_acknowledgement,
            HospitalAcknowledgement(hospital_id=ANSWERED, reference="INTL-7"),
        ),
        timeout=10,
    )
    assert "acknowledged" in ack.detail
    await _stale_reports_taken(handle, 1)
    referral = _referral(await status(handle))
    assert referral.acknowledged_at is not None
    assert referral.acknowledgement_reference == "INTL-7"
    # A second acknowledgement is refused against what the case shows.
    with pytest.raises(WorkflowUpdateFailedError) as raised:
        await handle.execute_update(
            CaseWorkflow.record_hospital_acknowledgement,
            HospitalAcknowledgement(hospital_id=ANSWERED, reference=f"x-{uuid.uuid4().hex[:6]}"),
        )
    assert f"hospital {ANSWERED} already acknowledged" in str(raised.value.cause)



async def test_referrals_take_their_answers_before_the_case_cancels_them(env, slow_worker):
    """Every hospital declines: the case shows it at once, but cancels no referral before it
    has taken its answer, so each referral's own record ends with it."""
    handle = await _awaiting_answers(env)
    for hospital_id in HOSPITAL_IDS:
        await asyncio.wait_for(
            handle.execute_update(
                CaseWorkflow.record_hospital_response,
                HospitalResponse(hospital_id=hospital_id, decision="decline"),
            ),
            timeout=10,
        )
    assert all(h.state == ReferralState.DECLINED for h in (await status(handle)).hospitals)
    children = [
        env.client.get_workflow_handle(
            referral_workflow_id(case_id_of(handle), hospital_id),
            result_type=HospitalReferralStatus,
        )
        for hospital_id in HOSPITAL_IDS
    ]
    await asyncio.sleep(1)  # time enough for the case to cancel them, if it would
    for child in children:
        assert (await child.describe()).status == WorkflowExecutionStatus.RUNNING
        await child.signal(SlowReferral.release)
    await wait_for_stage(handle, CaseStage.NEXT_OPTION)
    for child in children:
        own = await child.result()
        assert own.state == ReferralState.DECLINED and own.response is not None
