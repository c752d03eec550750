"""Waiting in a test for what a real stack does in its own time: poll until it shows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def until(
    what: str, check: Callable[[], Awaitable[Any]], timeout: float = 30.0, every: float = 0.2
) -> Any:
    """The first truthy answer of `check`, asked every `every` seconds; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)
