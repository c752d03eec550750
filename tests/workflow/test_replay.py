"""Replay: workflow code must reproduce recorded histories, so a non-deterministic change fails.

Replays a history recorded just now from a case driven through several stages, and every
history JSON committed under tests/histories/ (from an end-to-end run on the real stack).
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from caseflow.case_events import Hold, Resume
from caseflow.case_status import CaseStage
from workflows.case import CaseWorkflow
from workflows.referral import HospitalReferralWorkflow

from .cases import start_case
from .drive import drive_to

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


def _replayer() -> Replayer:
    return Replayer(
        workflows=[CaseWorkflow, HospitalReferralWorkflow],
        data_converter=pydantic_data_converter,
    )


async def test_a_fresh_history_replays(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.TRAVEL)
    await handle.execute_update(CaseWorkflow.hold, Hold(reason="waiting for the family"))
    await handle.execute_update(CaseWorkflow.resume, Resume())
    history = await handle.fetch_history()
    result = await _replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


@pytest.mark.parametrize(
    "path", sorted(HISTORIES.glob("*.json")) or [None], ids=lambda p: p.name if p else "none"
)
async def test_committed_histories_replay(path):
    if path is None:
        pytest.skip("no histories committed under tests/histories/ yet")
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await _replayer().replay_workflow(history)
