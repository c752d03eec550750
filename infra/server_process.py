"""One server process of the embedded stack: started in its own process group, logged to a file,
remembered in a pid file so that a later `caseflow dev down` stops exactly what `up` started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A stack server could not start or stop; the message says why in one line."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (tests use it to avoid fixed ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class ServerProcess:
    """A named server: its command, the ports it must own, and where its pid and log go."""

    name: str
    command: Sequence[str]
    ports: Sequence[int]
    run_dir: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    # Where this start's output begins in the (appended) log: readiness is read after it only,
    # so a line an earlier, crashed run left there never counts (see wait_for_log_line).
    log_offset: int = 0

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid from our pid file if that process is still the one we started."""
        try:
            pid_text, started_text = self.pid_file.read_text().split()
            pid, started = int(pid_text), float(started_text)
        except (FileNotFoundError, ValueError):
            return None
        try:
            process = psutil.Process(pid)
            # A recycled pid belongs to a process created later than ours: never trust it.
            if process.status() == psutil.STATUS_ZOMBIE or process.create_time() != started:
                return None
        except psutil.Error:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> int:
        if (pid := self.pid()) is not None:
            return pid
        for port in self.ports:
            if not port_is_free(port):
                raise StackError(f"{self.name}: port {port} on 127.0.0.1 is already in use")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.log_offset = log.tell()
            process = subprocess.Popen(
                list(self.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it stops its children
                env={**os.environ, **(self.env or {})},
                cwd=self.cwd,
            )
        # The pid and its creation time together name this process, even after a settings change
        # alters the command line, and never a later process that reuses the pid.
        self.pid_file.write_text(f"{process.pid} {psutil.Process(process.pid).create_time()}")
        return process.pid

    def _recorded_pid(self) -> int | None:
        """The pid our pid file names, whatever has become of that process since."""
        try:
            return int(self.pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def _reap_exited(self) -> None:
        """Collect the exit status of our process if it died on its own or was killed from
        outside (a test's kill -9): else it stays a zombie until this process ends."""
        if (pid := self._recorded_pid()) is None:
            return
        # Only a child of this process can be reaped here; WNOHANG leaves a live one alone.
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)

    def logged_since_start(self) -> bytes:
        """What this start of the process has written to its log so far."""
        try:
            with open(self.log_file, "rb") as log:
                log.seek(self.log_offset)
                return log.read()
        except FileNotFoundError:
            return b""

    def wait_for_log_line(self, text: bytes, timeout: float) -> None:
        """Wait until the process this object started logs `text` (an earlier run's lines,
        before `log_offset`, do not count), or fail as `wait_until` does."""
        self.wait_until(lambda: text in self.logged_since_start(), timeout)

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid = int(self.pid_file.read_text().split()[0])
        while time.monotonic() < deadline:
            if ready():
                return
            # Liveness by pid alone: just after fork the child still shows our own command line.
            if not _alive(pid):
                self._reap_exited()
                self.pid_file.unlink(missing_ok=True)
                raise StackError(f"{self.name} exited during start-up; see {self.log_file}")
            time.sleep(0.2)
        # A server that never became ready is stopped, so a failed start leaves nothing running.
        self.stop()
        raise StackError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_file}")

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop the process we started, if any. Returns whether something was stopped."""
        pid = self.pid()
        if pid is None:
            self._reap_exited()  # before the pid file that names it goes
            self.pid_file.unlink(missing_ok=True)
            return False
        self.pid_file.unlink(missing_ok=True)
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        try:
            psutil.Process(pid).wait(timeout=timeout)
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
            # Gone before we return, so a restart finds its files unlocked and ports free.
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).wait(timeout=5)
        except psutil.NoSuchProcess:
            pass
        return True
