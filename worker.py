"""The worker process: every workflow and activity on task queue "cases"."""

from __future__ import annotations


async def main() -> None:
    raise NotImplementedError
