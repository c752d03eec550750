"""Withdrawal at any stage: it cancels the referrals and, when asked, erases the documents."""

import pytest
from temporalio.service import RPCError

from caseflow.case_events import Withdraw
from caseflow.case_status import CaseOutcome, CaseStage, ReferralState
from caseflow.ids import referral_workflow_id
from workflows.case import CaseWorkflow

from .cases import case_id_of, start_case, wait_for
from .drive import drive_to


async def test_withdrawal_mid_submission_cancels_children_and_erases(env, worker, recorded):
    handle = await start_case(env)
    case_id = case_id_of(handle)
    await drive_to(env, handle, CaseStage.HOSPITAL_SUBMISSION)
    await wait_for(handle, lambda s: all(h.state == "awaiting_response" for h in s.hospitals))
    ack = await handle.execute_update(
        CaseWorkflow.withdraw, Withdraw(reason="patient chose local care", erase=True)
    )
    assert ack.stage == CaseStage.CLOSED
    result = await handle.result()
    assert result.outcome == CaseOutcome.WITHDRAWN
    assert result.documents_erased
    assert recorded.of(case_id, "erase_case_documents") == [{"case_id": case_id}]
    status = await handle.query(CaseWorkflow.status)
    assert {h.state for h in status.hospitals} == {ReferralState.CANCELLED}
    assert status.open_deadlines == []
    for hospital_id in ("cn-beijing-cancer", "in-chennai-proton"):
        child = env.client.get_workflow_handle(referral_workflow_id(case_id, hospital_id))
        assert (await child.describe()).status.name == "CANCELED"
    with pytest.raises(RPCError, match="already completed"):
        await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="again"))


async def test_withdrawal_in_records_without_erasure(env, worker, recorded):
    handle = await start_case(env)
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="duplicate case"))
    result = await handle.result()
    assert result.outcome == CaseOutcome.WITHDRAWN and not result.documents_erased
    assert recorded.of(case_id_of(handle), "erase_case_documents") == []
