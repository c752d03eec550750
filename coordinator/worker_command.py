"""`caseflow worker`: run the worker in the foreground."""

from __future__ import annotations

import asyncio


def worker_command() -> None:
    """Run the worker on task queue 'cases' until SIGTERM or Ctrl-C."""
    import worker

    asyncio.run(worker.main())
