"""A ServerProcess stops only what it started, and leaves no zombie of it behind, even when the
process was killed from outside (as the failover test kills a worker with kill -9)."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil

from infra.server_process import ServerProcess


def test_stopping_a_process_killed_from_outside_reaps_it(tmp_path):
    sleeper = ServerProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                            [], tmp_path)
    pid = sleeper.start()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the killed process never exited"
        time.sleep(0.05)
    assert sleeper.stop() is False  # it was no longer running: nothing to stop
    assert not psutil.pid_exists(pid)  # reaped, not left a zombie
    assert not sleeper.pid_file.exists()


def test_stopping_a_running_process_stops_it(tmp_path):
    sleeper = ServerProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                            [], tmp_path)
    pid = sleeper.start()
    assert sleeper.is_running()
    assert sleeper.stop() is True
    assert not psutil.pid_exists(pid)
