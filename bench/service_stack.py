"""The stack a web benchmark runs against: a Temporal dev server and SeaweedFS on free loopback
ports, then a worker and a `caseflow serve` process configured to use them, each in its own process
so the bench's client measures the service from outside. Everything stops when the block ends."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from caseflow.keyring import ensure_key_file
from caseflow.settings import CaseflowSettings
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket
from infra.server_process import ServerProcess, free_port, port_answers
from infra.temporal_server import TemporalDevServer

BUCKET = "caseflow-documents"


def settings_env(settings: CaseflowSettings) -> dict[str, str]:
    """The settings as the CASEFLOW_* variables the worker and the service read."""
    secret = settings.s3_secret_access_key
    return {
        "CASEFLOW_TEMPORAL_ADDRESS": settings.temporal_address,
        "CASEFLOW_TASK_QUEUE": settings.task_queue,
        "CASEFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "CASEFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
        "CASEFLOW_S3_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
        "CASEFLOW_KEY_FILE": str(settings.key_file),
        "CASEFLOW_DATA_DIR": str(settings.data_dir),
        "CASEFLOW_IDENTITY_DB_URL": settings.identity_database(),
        "CASEFLOW_SESSION_SECRET": secrets.token_urlsafe(32),
        "CASEFLOW_WEB_PORT": str(settings.web_port),
        "CASEFLOW_SMTP_PORT": str(free_port()),
    }


@dataclass
class ServiceStack:
    settings: CaseflowSettings
    temporal: TemporalDevServer
    seaweed: SeaweedFS
    worker: ServerProcess
    web: ServerProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def pids(self) -> dict[str, int]:
        """The processes whose CPU a bench may count, by name."""
        found = {
            "temporal": self.temporal.process().pid(),
            "worker": self.worker.pid(),
            "web": self.web.pid(),
        }
        return {name: pid for name, pid in found.items() if pid is not None}


@asynccontextmanager
async def service_stack(
    workdir: Path, task_queue: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[ServiceStack]:
    temporal = TemporalDevServer(
        workdir / "temporal",
        grpc_port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )
    access_key, secret_key = "bench" + secrets.token_hex(4), secrets.token_urlsafe(24)
    processes: list[ServerProcess] = []
    temporal.start()
    # Ports picked once Temporal holds its own, so the two never collide.
    seaweed = SeaweedFS(workdir / "seaweedfs", access_key, secret_key, SeaweedPorts.pick_free())
    seaweed.start(timeout=60)
    try:
        ensure_bucket(seaweed.endpoint_url, access_key, secret_key, BUCKET)
        ensure_key_file(workdir / "keys.json")
        settings = CaseflowSettings(
            temporal_address=temporal.address,
            s3_endpoint_url=seaweed.endpoint_url,
            s3_access_key_id=access_key,
            s3_secret_access_key=secret_key,
            s3_bucket=BUCKET,
            key_file=workdir / "keys.json",
            data_dir=workdir,
            web_port=free_port(),
            task_queue=task_queue,
        )
        env = settings_env(settings) | (extra_env or {})
        worker = ServerProcess("worker", [sys.executable, "-m", "worker"], [], workdir, env=env)
        web = ServerProcess(
            "web",
            [sys.executable, "-m", "web.server", "--port", str(settings.web_port)],
            [settings.web_port],
            workdir,
            env=env,
        )
        for process in (worker, web):
            process.start()
            processes.append(process)
        worker.wait_for_log_line(b"worker started", 60)
        web.wait_until(lambda: port_answers(settings.web_port), 60)
        yield ServiceStack(settings, temporal, seaweed, worker, web)
    finally:
        for process in reversed(processes):
            process.stop()
        seaweed.stop()
        temporal.stop()
