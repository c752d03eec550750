"""Continue-as-new carries the case's state and its running SLA clock into the next run."""

from datetime import timedelta

from caseflow.case_events import AddDocument
from caseflow.case_status import CaseStage
from caseflow.documents import DocumentKind
from workflows.case import CaseWorkflow

from .cases import case_id_of, case_input, document, start_case, wait_for, wait_for_stage


async def test_continue_as_new_keeps_state_and_the_sla_clock(env, worker):
    handle = await start_case(env, case_input(continue_as_new_after_events=100))
    case_id = case_id_of(handle)
    first = await wait_for_stage(handle, CaseStage.RECORDS)
    started = first.open_deadlines[0].started_at
    # Each added document is a few history events; enough of them pass the limit.
    for index in range(30):
        await handle.execute_update(
            CaseWorkflow.add_document,
            AddDocument(ref=document(case_id, DocumentKind.OTHER, salt=str(index))),
        )
    status = await wait_for(handle, lambda s: s.run_count >= 2)
    assert len(status.documents) == 30
    assert status.stage == CaseStage.RECORDS
    assert status.open_deadlines[0].started_at == started
    assert any(e.event == "continued_as_new" for e in status.timeline)
    assert any(e.event == "case_opened" for e in status.timeline)
    # The reminder still fires 3 days after the records wait began, not after the new run.
    now = await env.get_current_time(handle)
    await env.fast_forward(handle, started + timedelta(days=3) + timedelta(minutes=1) - now)
    status = await wait_for(handle, lambda s: len(s.escalations) == 1)
    assert abs(status.escalations[0].at - (started + timedelta(days=3))) < timedelta(minutes=1)
