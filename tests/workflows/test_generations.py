"""Code generations: a case started by this code takes its patches without markers, an older one
asks `workflow.patched`, and every patch belongs to exactly one generation."""

import importlib
import pkgutil
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

import workflows
from caseflow.case_status import CaseStage
from caseflow.sla import DEFAULT_SLAS, WaitKind
from workflows.case import CaseWorkflow
from workflows.generations import GENERATIONS
from workflows.referral import HospitalReferralWorkflow

from .cases import case_input, start_case, wait_for
from .drive import drive_to


def _patch_ids() -> dict[str, str]:
    """Every `*_PATCH` constant the workflow modules define, by value, with its module."""
    found = {}
    for module_info in pkgutil.iter_modules(workflows.__path__):
        module = importlib.import_module(f"workflows.{module_info.name}")
        for name, value in vars(module).items():
            if name.endswith("_PATCH") and isinstance(value, str):
                found[value] = f"{module.__name__}.{name}"
    return found


def test_every_patch_is_in_exactly_one_generation():
    defined = _patch_ids()
    listed = [patch for generation in GENERATIONS for patch in generation]
    assert len(listed) == len(set(listed)), "a patch is listed in two generations"
    assert set(listed) == set(defined), (
        f"not in a generation: {sorted(set(defined) - set(listed))}; "
        f"listed but not defined: {sorted(set(listed) - set(defined))}"
    )


def _count(history, event_type) -> int:
    return sum(1 for e in history.events if e.event_type == event_type)


async def test_a_current_case_records_no_patch_markers_and_one_clock(env, worker):
    handle = await start_case(env, case_input())
    await drive_to(env, handle, CaseStage.FOLLOW_UP)
    history = await handle.fetch_history()
    assert _count(history, EventType.EVENT_TYPE_MARKER_RECORDED) == 0
    # Every wait from RECORDS to discharge ended before it fell due. With a timer of its own
    # each would have cancelled it (7 cancels, 12 timers on this path); the shared clock is
    # cancelled only when an earlier due time appears.
    assert _count(history, EventType.EVENT_TYPE_TIMER_CANCELED) <= 3
    assert _count(history, EventType.EVENT_TYPE_TIMER_STARTED) <= 8


async def test_a_case_without_a_generation_asks_workflow_patched(env, worker):
    handle = await start_case(env, case_input(generation=None))
    await drive_to(env, handle, CaseStage.TRAVEL)
    history = await handle.fetch_history()
    assert _count(history, EventType.EVENT_TYPE_MARKER_RECORDED) >= 5
    # And the markers it recorded replay (the current case's history replays in test_replay).
    replayer = Replayer(workflows=[CaseWorkflow, HospitalReferralWorkflow],
                        data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)


async def test_the_shared_clock_still_escalates_a_wait_when_it_falls_due(env, worker, recorded):
    handle = await start_case(env, case_input())
    await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    policy = DEFAULT_SLAS.for_wait(WaitKind.RECORDS_UPLOAD)
    await env.fast_forward(handle, policy.remind_after - timedelta(minutes=1))
    status = await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    assert not status.escalations
    await env.fast_forward(handle, timedelta(minutes=2))
    status = await wait_for(handle, lambda s: len(s.escalations) == 1)
    assert status.escalations[0].wait == WaitKind.RECORDS_UPLOAD
