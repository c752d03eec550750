"""An update's ack names the stage after the case's run acted on it (issue 14), and the light
`progress` query reads what `status` reads, so a client needs no query after an update and a
poller never the whole status."""

from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from caseflow.case_events import (
    AddDocument,
    AdmissionRecorded,
    DischargeRecorded,
    SubmitReview,
)
from caseflow.case_status import CaseStage
from caseflow.ids import case_workflow_id
from client import cases as case_client
from workflows.case import SETTLED_ACKS_PATCH, CaseWorkflow
from workflows.generations import GENERATIONS
from workflows.referral import HospitalReferralWorkflow

from .cases import (
    WORKUP_KINDS,
    case_id_of,
    case_input,
    document,
    new_case_id,
    start_case,
    status,
    virtual_today,
    wait_for,
)
from .drive import drive_to, proceed_review
from .older_case import CaseBeforeSettledAcks

# The generation that takes settled acks without a marker; the one before asks workflow.patched.
SETTLED_ACKS_GENERATION = next(
    n for n, patches in enumerate(GENERATIONS, start=1) if SETTLED_ACKS_PATCH in patches
)


async def test_each_ack_names_the_stage_the_run_moved_to_on_that_event(env, worker):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    acks = [
        await handle.execute_update(
            CaseWorkflow.add_document, AddDocument(ref=document(case_id, kind))
        )
        for kind in WORKUP_KINDS
    ]
    # The last document completes the checklist; the run enters review in the same task.
    assert [a.stage for a in acks] == [CaseStage.RECORDS] * 5 + [CaseStage.SPECIALIST_REVIEW]
    assert all(a.settled for a in acks)

    ack = await handle.execute_update(CaseWorkflow.submit_review, proceed_review())
    assert (ack.stage, ack.settled) == (CaseStage.HOSPITAL_SUBMISSION, True)
    # A query after the update reads the same stage: the ack is not ahead of the case.
    assert (await status(handle)).stage == CaseStage.HOSPITAL_SUBMISSION


async def test_a_case_of_the_generation_before_takes_settled_acks_through_a_marker(env, worker):
    handle = await start_case(env, case_input(generation=SETTLED_ACKS_GENERATION - 1))
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    ack = await handle.execute_update(CaseWorkflow.submit_review, proceed_review())
    assert (ack.stage, ack.settled) == (CaseStage.HOSPITAL_SUBMISSION, True)
    history = await handle.fetch_history()
    patches = [
        e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert [p for p in patches if SETTLED_ACKS_PATCH.encode() in p]  # a live case takes it
    await Replayer(
        workflows=[CaseWorkflow, HospitalReferralWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history)


async def test_a_review_that_closes_the_first_option_answers_next_option(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    review = SubmitReview(
        outcome="not_a_candidate", reviewer_id="dr-review", recommendation="no further RT"
    )
    ack = await handle.execute_update(CaseWorkflow.submit_review, review)
    assert ack.stage == CaseStage.NEXT_OPTION
    assert (await handle.query(CaseWorkflow.progress)).stage == CaseStage.NEXT_OPTION


async def test_discharge_answers_follow_up_and_progress_agrees_with_status(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.ADMISSION)
    today = await virtual_today(env, handle)
    admitted = await handle.execute_update(
        CaseWorkflow.record_admission, AdmissionRecorded(admitted_on=today)
    )
    assert admitted.stage == CaseStage.ADMISSION
    ack = await handle.execute_update(
        CaseWorkflow.record_discharge, DischargeRecorded(discharged_on=today)
    )
    assert ack.stage == CaseStage.FOLLOW_UP

    full = await status(handle)
    progress = await handle.query(CaseWorkflow.progress)
    assert progress.stage == full.stage == CaseStage.FOLLOW_UP
    assert progress.packets_stored == [h.hospital_id for h in full.hospitals if h.packet_prefix]
    assert progress.packets_stored  # both hospitals got a packet on the way here
    assert progress.delivered == [h.hospital_id for h in full.hospitals if h.delivered_at]
    assert progress.answered == [h.hospital_id for h in full.hospitals if h.response]
    assert progress.travel_started == (full.travel is not None) is True
    assert progress.follow_ups_open == [f.day for f in full.follow_ups] == [14, 30, 90, 180, 365]
    assert progress.follow_ups_due == []
    assert progress.missing_items == full.missing_items == []
    assert progress.failed_steps == []
    # What a poll moves is a small fraction of the whole status.
    assert len(progress.model_dump_json()) * 10 < len(full.model_dump_json())


class _CountQueries(Interceptor):
    """Counts the queries a client makes (by name), so a test sees what an update costs."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Counting(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput):
                counter.queries.append(input.query)
                return await super().query_workflow(input)

        return Counting(next)


def _counting(env) -> tuple[Client, _CountQueries]:
    counter = _CountQueries()
    config = env.client.config()
    config["interceptors"] = [counter]
    return Client(**config), counter


async def test_the_client_queries_nothing_after_a_settled_ack(env, worker):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    client, counter = _counting(env)
    acks = [
        await case_client.add_document(client, case_id, document(case_id, kind))
        for kind in WORKUP_KINDS
    ]
    assert acks[-1].stage == CaseStage.SPECIALIST_REVIEW
    assert counter.queries == []


async def test_an_unsettled_ack_from_an_older_case_takes_its_stage_from_progress(env):
    case_id = new_case_id()
    client, counter = _counting(env)
    async with Worker(env.client, task_queue="older-cases", workflows=[CaseBeforeSettledAcks]):
        handle = await env.client.start_workflow(
            "CaseWorkflow", case_id, id=case_workflow_id(case_id), task_queue="older-cases"
        )
        ack = await case_client.add_document(
            client, case_id, document(case_id, WORKUP_KINDS[0])
        )
        await handle.signal("close")
        await handle.result()
    assert (ack.stage, ack.settled) == (CaseStage.SPECIALIST_REVIEW, False)
    assert counter.queries == ["progress"]
