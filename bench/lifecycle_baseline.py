"""The lifecycle bench's baseline: a bare workflow with caseflow's count of activities and updates
and none of its domain logic, driven by bench/lifecycle.py exactly like a case."""

import asyncio
from datetime import timedelta
from functools import partial

from pydantic import BaseModel, ConfigDict
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError

_CONFIG = ConfigDict(extra="forbid")


class BarePhase(BaseModel):
    """One stage's worth of work: activity chains run in parallel (each a number of activities
    in sequence) while the phase's updates arrive; the next phase starts when both are done."""

    model_config = _CONFIG

    name: str
    activity_chains: list[int] = []
    updates: int = 0


class BareInput(BaseModel):
    model_config = _CONFIG

    case_id: str
    phases: list[BarePhase]


class BareEvent(BaseModel):
    model_config = _CONFIG

    phase: int
    label: str = ""


class BareAck(BaseModel):
    model_config = _CONFIG

    phase: int
    received: int


class BareStatus(BaseModel):
    model_config = _CONFIG

    phase: int
    activities_done: bool
    closed: bool


@activity.defn(name="bare_step")
def bare_step(step: str) -> str:
    """Trivial and synchronous, so it takes the same thread-pool path as caseflow's S3 steps."""
    return step


@workflow.defn
class BareLifecycleWorkflow:
    @workflow.init
    def __init__(self, input: BareInput) -> None:
        self._phase = 0
        self._received = 0
        self._activities_done = False
        self._closed = False

    @workflow.run
    async def run(self, input: BareInput) -> int:
        steps = 0
        for index, phase in enumerate(input.phases):
            self._phase, self._received = index, 0
            self._activities_done = not phase.activity_chains
            if phase.activity_chains:
                done = await asyncio.gather(
                    *(self._chain(f"{index}.{c}", n) for c, n in enumerate(phase.activity_chains))
                )
                steps += sum(done)
                self._activities_done = True
            await workflow.wait_condition(partial(self._received_at_least, phase.updates))
        self._closed = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return steps

    def _received_at_least(self, count: int) -> bool:
        return self._received >= count

    async def _chain(self, chain: str, length: int) -> int:
        for step in range(length):
            await workflow.execute_activity(
                bare_step, f"{chain}.{step}", start_to_close_timeout=timedelta(minutes=2)
            )
        return length

    @workflow.update
    def event(self, event: BareEvent) -> BareAck:
        self._received += 1
        return BareAck(phase=self._phase, received=self._received)

    @event.validator
    def _validate_event(self, event: BareEvent) -> None:
        # The one check every caseflow validator makes: the event belongs to the current stage.
        if self._closed or event.phase != self._phase:
            raise ApplicationError(f"phase: event for {event.phase}, workflow in {self._phase}")

    @workflow.query
    def status(self) -> BareStatus:
        return BareStatus(
            phase=self._phase, activities_done=self._activities_done, closed=self._closed
        )


BARE_QUEUE = "bare-lifecycle"
# As many activity slots as worker.build_worker gives caseflow's worker.
ACTIVITY_SLOTS = 16


async def serve() -> None:
    """The bare worker in a process of its own, as caseflow's `python -m worker` runs, so the
    bench counts each side's worker CPU apart from its driver's. It reads the same CASEFLOW_*
    settings, so its payloads go through the same codec as a case's."""
    import logging
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from temporalio.worker import Worker

    from caseflow.settings import get_settings
    from caseflow.temporal_client import connect

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    client = await connect(get_settings())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(ACTIVITY_SLOTS, thread_name_prefix="activity") as executor:
        async with Worker(
            client,
            task_queue=BARE_QUEUE,
            workflows=[BareLifecycleWorkflow],
            activities=[bare_step],
            activity_executor=executor,
            max_concurrent_activities=ACTIVITY_SLOTS,
        ):
            logging.info("worker started on task queue %r", BARE_QUEUE)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve())
