"""What a case started with (its intake and hospitals in scope), read back from the current run's
start event and decoded by the client's codec: the console shows it to a person allowed the case."""

from __future__ import annotations

from temporalio.client import Client

from client.cases import CaseNotFound, case_handle, in_caseflow_words
from workflows.case_state import CaseWorkflowInput


async def case_start_input(client: Client, case_id: str) -> CaseWorkflowInput:
    """The run's input: one history page of one event, whatever the history's length. After a
    continue-as-new it is the input the new run got, which carries the same intake."""
    handle = case_handle(client, case_id)
    with in_caseflow_words(case_id):
        async for event in handle.fetch_history_events(page_size=1):
            started = event.workflow_execution_started_event_attributes
            [decoded] = await client.data_converter.decode(
                started.input.payloads, [CaseWorkflowInput]
            )
            return decoded
    raise CaseNotFound(f"CASE_ID: no case {case_id}")
