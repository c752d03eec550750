"""A stopped worker stops what it started: the renderer processes of its letters are gone when
`async with build_worker(...)` is left, not whenever the collector reaches them."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from caseflow.temporal_client import connect
from tests.activities.test_letter_pdf import request

pytestmark = pytest.mark.integration


def renderers() -> list[psutil.Process]:
    """This process's spawned renderer processes (not the shared resource tracker)."""
    found = []
    for child in psutil.Process().children():
        try:
            command = child.cmdline()
        except psutil.NoSuchProcess:  # another test's child, gone or a zombie (a subclass)
            continue
        if any("spawn_main" in part for part in command):
            found.append(child)
    return found


async def test_a_stopped_worker_has_stopped_its_renderer_processes(
    temporal_dev_server, seaweed, tmp_path
):
    from activities.letters import ReferralLetters
    from worker import build_worker

    settings = seaweed.settings.model_copy(update={
        "temporal_address": temporal_dev_server.address,
        "task_queue": f"shutdown-{uuid.uuid4().hex[:8]}",
        "key_file": seaweed.settings.data_dir / "keys.json",
        "data_dir": tmp_path,
    })
    client = await connect(settings)
    before = {p.pid for p in renderers()}
    with ThreadPoolExecutor(max_workers=4) as executor:
        worker = build_worker(client, settings, executor, role="letters")
        async with worker:
            render = worker.workers[0].config()["activities"][0]
            letters = getattr(render, "__self__", None)  # the bound method's ReferralLetters
            assert isinstance(letters, ReferralLetters)
            pdf = await asyncio.to_thread(letters.render_pdf, request("en"))
            assert pdf.startswith(b"%PDF-")
            started = [p for p in renderers() if p.pid not in before]
            assert started, "the letter was rendered in no renderer process"
        # `worker` (and so its letters) is still referenced: only leaving the context stopped them.
        _, alive = psutil.wait_procs(started, timeout=10)
        assert not alive, f"renderer processes outlived their worker: {[p.pid for p in alive]}"
