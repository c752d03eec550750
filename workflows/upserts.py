"""One search-attribute upsert per workflow task: the owner that collects what a task changes
(issue 14, lean histories). Workflow-side; used by CaseView and HospitalReferralWorkflow."""

import asyncio

from temporalio import workflow
from temporalio.common import SearchAttributeKey


async def when_task_idle(rounds: int = 2) -> None:
    """Return once every other coroutine of this workflow task is waiting: the SDK checks
    wait conditions only when nothing else is ready to run. Two rounds, so a coroutine that a
    condition woke in the same task (a deadline report after a wait began) has acted too. No
    command: nothing in history."""
    for _ in range(rounds):
        await workflow.wait_condition(lambda: True)


class CoalescedUpserts:
    """Collects the search attributes a workflow task changes and upserts them once, when the
    task's other coroutines have run (its flusher wakes when they all wait) or at an explicit
    flush() before the run returns or continues as new. Owned by a workflow, one per run."""

    def __init__(self) -> None:
        self._published: dict[str, object] = {}
        self._pending: dict[str, tuple[SearchAttributeKey, object]] = {}
        self._flusher: asyncio.Task | None = None

    def set(self, wanted: dict[str, tuple[SearchAttributeKey, object]]) -> None:
        """Ask for these values (name -> (key, value)); only those that differ from what the
        workflow last upserted are sent."""
        for name, (key, value) in wanted.items():
            if name in self._published and self._published[name] == value:
                self._pending.pop(name, None)
            else:
                self._pending[name] = (key, value)
        if self._pending and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_when_idle())

    async def _flush_when_idle(self) -> None:
        await when_task_idle()
        self._flusher = None
        self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        updates = []
        for name, (key, value) in self._pending.items():
            empty = value is None or value == []
            updates.append(key.value_unset() if empty else key.value_set(value))
            self._published[name] = value
        self._pending = {}
        workflow.upsert_search_attributes(updates)
