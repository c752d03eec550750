"""Whole embedded stacks for the fault tests: each in its own data directory, configured (as a
second clone would be) through its own caseflow.env on a block of free loopback ports."""

from __future__ import annotations

import os
import random
import socket
from contextlib import ExitStack, suppress
from pathlib import Path

import psutil

from caseflow.settings import CaseflowSettings
from infra.stack import EmbeddedStack, ensure_credentials, env_line

# Ports per stack: S3 and the seven SeaweedFS ports after it, then Temporal (gRPC, with the dev
# server's HTTP and metrics ports at +10 and +11), its UI, SMTP, the web service, the codec server.
BLOCK = 20


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_block(size: int = BLOCK, attempts: int = 500) -> int:
    """The first of `size` consecutive loopback ports that are all free right now, below the
    kernel's ephemeral range: there, any process's outgoing connection (the stack's own servers
    talking to each other) could take one of them before its server binds it."""
    low, _ = _ephemeral_range()
    floor = 10000 if low > 10000 + 10 * size else 1024
    for _ in range(attempts):
        base = random.randrange(floor, low - size)
        with ExitStack() as held:
            try:
                for port in range(base, base + size):
                    sock = held.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {size} consecutive free ports on 127.0.0.1")


def stack_in(data_dir: Path, base: int, **overrides: str) -> EmbeddedStack:
    """A stack in `data_dir` on the ports from `base` (and any CASEFLOW_* `overrides`), written
    to its env file so every process it starts (web, worker, inbox) reads the same settings."""
    env_file = ensure_credentials(data_dir)
    ports = {
        "CASEFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{base}",
        "CASEFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{base + 8}",
        "CASEFLOW_TEMPORAL_UI_URL": f"http://127.0.0.1:{base + 9}",
        "CASEFLOW_SMTP_PORT": str(base + 10),
        "CASEFLOW_WEB_PORT": str(base + 11),
        "CASEFLOW_PUBLIC_URL": f"http://127.0.0.1:{base + 11}",
        "CASEFLOW_CODEC_SERVER_URL": f"http://127.0.0.1:{base + 12}",
        # The workers' metrics endpoints (the render worker's at +14).
        "CASEFLOW_STACK_METRICS_PORT": str(base + 13),
        **overrides,
    }
    with open(env_file, "a") as out:
        out.writelines(env_line(name, value) for name, value in ports.items())
    return EmbeddedStack(CaseflowSettings(data_dir=data_dir))


def stack_pids(stack: EmbeddedStack) -> set[int]:
    """Every process of the stack: the recorded servers and anything they started."""
    recorded = [stack.temporal().process(), stack.mail().process(), stack.hospital_inbox(),
                stack.codec_server(), stack.web(), stack.worker()]
    s3 = stack.s3()
    recorded += [s3.process(name) for name in s3.COMPONENTS]
    pids = set()
    for server in recorded:
        pid = server.pid()
        if pid is None:
            continue
        pids.add(pid)
        with suppress(psutil.Error):
            pids.update(child.pid for child in psutil.Process(pid).children(recursive=True))
    return pids


def paths_in_use(pid: int) -> set[str]:
    """The files and unix sockets a process has open."""
    try:
        process = psutil.Process(pid)
        files = {opened.path for opened in process.open_files()}
        sockets = {str(c.laddr) for c in process.net_connections(kind="unix") if c.laddr}
    except psutil.Error:
        return set()
    return files | sockets


def tmp_entries() -> set[str]:
    return set(os.listdir("/tmp"))
