"""Replay: workflow code must reproduce recorded histories, so a non-deterministic change fails.

The one place histories are replayed. It replays histories recorded just now from cases driven
through several stages, and every history committed under tests/histories/ (recorded end to end
on the real stack by `python -m tests.histories.record`; older ones come from older workflow
code and prove that running cases still replay). A history under tests/histories/nondeterministic/
must fail, which proves the replayer can fail at all.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from caseflow.case_events import (
    AddDocument,
    Hold,
    HospitalAcknowledgement,
    RecordConsent,
    Resume,
    WithdrawConsent,
)
from caseflow.case_status import CaseStage
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import referral_workflow_id
from tests.inquiry_builders import fictional_inquiry
from workflows.case import CaseWorkflow
from workflows.referral import HospitalReferralWorkflow

from .cases import WORKUP_KINDS, case_input, document, start_case, wait_for
from .drive import drive_to, proceed_review

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
COMMITTED = sorted(HISTORIES.glob("*.json"))
NONDETERMINISTIC = sorted((HISTORIES / "nondeterministic").glob("*.json"))
# What the committed histories must cover between them.
RECORDED = {
    "case",
    "referral",
    "delivery-case",
    "delivery-referral-webhook",
    "delivery-referral-email",
    "escalation-case-continued",
    "escalation-case",
}


def _replayer() -> Replayer:
    return Replayer(
        workflows=[CaseWorkflow, HospitalReferralWorkflow],
        data_converter=pydantic_data_converter,
    )


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


async def test_a_fresh_history_replays(env, worker):
    handle = await start_case(env)
    await drive_to(env, handle, CaseStage.TRAVEL)
    await handle.execute_update(CaseWorkflow.hold, Hold(reason="waiting for the family"))
    await handle.execute_update(CaseWorkflow.resume, Resume())
    history = await handle.fetch_history()
    await _replayer().replay_workflow(history)


async def test_a_history_with_the_records_review_consent_withdrawn_replays(env, worker, recorded):
    """The patch marker, the coordinator's mail in the background and the hold in RECORDS."""
    input = case_input(consent_events=fictional_inquiry().consent_events())
    handle = await start_case(env, input)
    await wait_for(handle, lambda s: s.stage == CaseStage.RECORDS)
    await handle.execute_update(
        CaseWorkflow.withdraw_consent, WithdrawConsent(purpose="records_review")
    )
    for kind in WORKUP_KINDS:
        await handle.execute_update(
            CaseWorkflow.add_document, AddDocument(ref=document(input.case_id, kind))
        )
    await wait_for(handle, lambda s: not any(i.missing for i in s.checklist))
    await _replayer().replay_workflow(await handle.fetch_history())


async def test_a_history_with_every_delivery_path_replays(env, worker, recorded):
    """Webhook, email and manual delivery, a consent block and its release, and an
    acknowledgement, in the case and in each referral child."""
    hospitals = HospitalDirectory.load_default().subset(
        ["cn-xiamen-bnct", "in-chennai-proton", "cn-beijing-cancer"]
    )
    input = case_input(hospitals=hospitals.hospitals)
    recorded.delivery_errors[(input.case_id, "cn-xiamen-bnct")] = ["ConsentMissing"]
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(
        CaseWorkflow.submit_review,
        proceed_review(["cn-xiamen-bnct", "in-chennai-proton", "cn-beijing-cancer"]),
    )
    await wait_for(handle, lambda s: all(h.delivered_at for h in s.hospitals))
    await handle.execute_update(
        CaseWorkflow.record_hospital_acknowledgement,
        HospitalAcknowledgement(hospital_id="in-chennai-proton"),
    )
    await handle.execute_update(
        CaseWorkflow.withdraw_consent,
        WithdrawConsent(country="IN", hospital_id="in-chennai-proton", purpose="travel"),
    )
    await handle.execute_update(
        CaseWorkflow.record_consent,
        RecordConsent(country="IN", hospital_id="in-chennai-proton", purpose="travel"),
    )
    status = await wait_for(
        handle, lambda s: any(e.event == "referral_acknowledged" for e in s.timeline)
    )
    assert any(e.event == "referral_delivery_blocked" for e in status.timeline)
    histories = [await handle.fetch_history()]
    for hospital in hospitals.hospitals:
        child = env.client.get_workflow_handle(
            referral_workflow_id(input.case_id, hospital.hospital_id)
        )
        histories.append(await child.fetch_history())
    for history in histories:
        await _replayer().replay_workflow(history)


def test_the_committed_histories_cover_every_recorded_path():
    assert {p.stem for p in COMMITTED} >= RECORDED


@pytest.mark.parametrize("path", COMMITTED, ids=[p.stem for p in COMMITTED])
async def test_committed_history_replays(path: Path):
    await _replayer().replay_workflow(_load(path))


@pytest.mark.parametrize("path", NONDETERMINISTIC, ids=[p.stem for p in NONDETERMINISTIC])
async def test_a_history_the_code_did_not_make_fails_replay(path: Path):
    with pytest.raises(NondeterminismError):
        await _replayer().replay_workflow(_load(path))


def test_there_is_a_history_that_must_fail():
    assert NONDETERMINISTIC
