"""`caseflow dev up` part by part (issue 11 items 5 and 8): a worker is ready only when the process
just started says so, not because an earlier, crashed run's line is still in the log; and a part
that cannot start (a taken port) is reported while every other part still starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from infra.server_process import StackError
from infra.stack import inbox_port
from tests.faults.stacks import free_block, stack_in

pytestmark = pytest.mark.integration

STALE = b"2026-01-01 00:00:00 INFO __main__ worker started on task queue 'cases'\n"


def test_a_stale_ready_line_does_not_make_a_dead_worker_ready(tmp_path):
    # Nothing listens at the stack's Temporal address, so the new worker cannot start; the log
    # still holds the line a worker that crashed earlier wrote.
    stack = stack_in(tmp_path, free_block())
    stack.ensure_keys()
    worker = stack.worker()
    worker.run_dir.mkdir(parents=True, exist_ok=True)
    worker.log_file.write_bytes(STALE)
    with pytest.raises(StackError, match="worker"):
        stack.start_worker(timeout=30)
    assert not stack.worker().is_running()


def test_a_restarted_worker_is_ready_once_it_says_so_itself(tmp_path, temporal_dev_server):
    stack = stack_in(tmp_path, free_block(),
                     CASEFLOW_TEMPORAL_ADDRESS=temporal_dev_server.address)
    stack.ensure_keys()
    worker = stack.worker()
    worker.run_dir.mkdir(parents=True, exist_ok=True)
    worker.log_file.write_bytes(STALE)
    try:
        stack.start_worker(timeout=60)
        log = worker.log_file.read_bytes()
        # Ready by its own line, written after the stale one.
        assert log.startswith(STALE) and b"worker started" in log[len(STALE):]
        assert stack.worker().is_running()
    finally:
        # start_worker starts the render worker too: stop both, or it outlives the test.
        for worker in (stack.worker(), stack.render_worker()):
            worker.stop()
        assert not stack.render_worker().is_running()


def caseflow(*args: str, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "CASEFLOW_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "caseflow"), *args],
        capture_output=True, text=True, env=env, cwd=data_dir, timeout=240, check=False,
    )


def test_dev_up_starts_the_rest_when_the_inbox_port_is_taken(tmp_path):
    data_dir = tmp_path / "stack"
    stack = stack_in(data_dir, free_block())
    port = inbox_port()
    with ExitStack() as held:
        holder = held.enter_context(socket.socket())
        try:
            holder.bind(("127.0.0.1", port))
            holder.listen()
        except OSError:
            pass  # already taken by something else: the same fault
        try:
            started = caseflow("dev", "up", "--with-worker", "--json", data_dir=data_dir)
            assert started.returncode == 1, started.stderr
            assert json.loads(started.stderr) == {"error": "not up: hospital-inbox"}
            answer = json.loads(started.stdout)
            assert list(answer["not_up"]) == ["hospital-inbox"]
            assert f"port {port}" in answer["not_up"]["hospital-inbox"]

            status = json.loads(caseflow("dev", "status", "--json", data_dir=data_dir).stdout)
            assert {part for part, up in status.items() if not up} == {"hospital-inbox"}

            # Again, as a person reads it: what is up, and what is not and why.
            again = caseflow("dev", "up", "--with-worker", data_dir=data_dir)
            assert again.returncode == 1
            assert again.stderr == "error: not up: hospital-inbox\n"
            assert "partly up" in again.stdout
            assert "Worker         running on task queue 'cases'" in again.stdout
            assert f"not up hospital-inbox: hospital-inbox: port {port}" in again.stdout
            assert "Hospital inbox" not in again.stdout
        finally:
            stopped = json.loads(caseflow("dev", "down", "--json", data_dir=data_dir).stdout)
    assert "worker" in stopped["stopped"] and "hospital-inbox" not in stopped["stopped"]
    assert not any(stack.status().values())
