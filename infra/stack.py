"""The embedded stack as one unit: Temporal dev server and Web UI, SeaweedFS S3, the SMTP sink
and, optionally, the worker. State under `.data/` survives `down` and `up` again."""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from caseflow.settings import CaseflowSettings
from infra.mail_sink import MailSink
from infra.seaweedfs import SeaweedFS, ensure_bucket
from infra.server_process import ServerProcess, StackError
from infra.temporal_server import TemporalDevServer

ENV_FILE_NAME = "caseflow.env"


@dataclass
class StackAddresses:
    temporal: str
    ui: str
    s3: str
    smtp: str
    maildir: Path


def ensure_credentials(data_dir: Path) -> Path:
    """Generate the stack's S3 credentials once, in the env file that settings read.

    Random per clone, so no secret lives in the repo; the file stays under the ignored .data/.
    """
    env_file = data_dir / ENV_FILE_NAME
    if not env_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        env_file.write_text(
            f"CASEFLOW_S3_ACCESS_KEY_ID=caseflow-{secrets.token_hex(4)}\n"
            f"CASEFLOW_S3_SECRET_ACCESS_KEY={secrets.token_urlsafe(30)}\n"
        )
        env_file.chmod(0o600)
    return env_file


class EmbeddedStack:
    def __init__(self, settings: CaseflowSettings):
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()

    def temporal(self) -> TemporalDevServer:
        grpc = urlparse(f"//{self.settings.temporal_address}")
        ui = urlparse(self.settings.temporal_ui_url)
        if grpc.hostname not in ("127.0.0.1", "localhost") or grpc.port is None or ui.port is None:
            raise StackError("the embedded Temporal needs CASEFLOW_TEMPORAL_ADDRESS on loopback")
        return TemporalDevServer(self.data_dir / "temporal", grpc_port=grpc.port, ui_port=ui.port)

    def s3(self) -> SeaweedFS:
        creds_ready = self.settings.s3_access_key_id and self.settings.s3_secret_access_key
        if not creds_ready:
            raise StackError("S3 credentials missing: run 'caseflow dev up' from the repo root")
        endpoint = urlparse(self.settings.s3_endpoint_url or "")
        if endpoint.hostname not in ("127.0.0.1", "localhost") or endpoint.port is None:
            raise StackError("the embedded S3 store needs CASEFLOW_S3_ENDPOINT_URL on loopback")
        return SeaweedFS(
            data_dir=self.data_dir / "seaweedfs",
            access_key=self.settings.s3_access_key_id,
            secret_key=self.settings.s3_secret_access_key.get_secret_value(),
            s3_port=endpoint.port,
        )

    def mail(self) -> MailSink:
        return MailSink(self.data_dir, port=self.settings.smtp_port)

    def worker(self) -> ServerProcess:
        return ServerProcess(
            name="worker",
            command=[sys.executable, "-m", "worker"],
            ports=[],
            run_dir=self.data_dir,
        )

    def up(self, with_worker: bool = False) -> StackAddresses:
        temporal, s3, mail = self.temporal(), self.s3(), self.mail()
        temporal.start()
        s3.start()
        s3.wait_ready()
        ensure_bucket(s3.endpoint_url, s3.access_key, s3.secret_key, self.settings.s3_bucket)
        mail.start()
        if with_worker:
            self.start_worker()
        return StackAddresses(
            temporal=temporal.address,
            ui=temporal.ui_url,
            s3=s3.endpoint_url,
            smtp=f"smtp://127.0.0.1:{mail.port}",
            maildir=mail.maildir,
        )

    def start_worker(self, timeout: float = 30.0) -> None:
        worker = self.worker()
        if worker.is_running():
            return
        worker.start()
        # The worker logs this line once it polls the task queue.
        worker.wait_until(lambda: b"worker started" in worker.log_file.read_bytes(), timeout)

    def down(self) -> list[str]:
        """Stop what `up` started, worker first so it drains before its servers go."""
        stopped = []
        for name, part in (
            ("worker", self.worker()),
            ("mail", self.mail()),
            ("s3", self.s3()),
            ("temporal", self.temporal()),
        ):
            if part.stop():
                stopped.append(name)
        return stopped

    def status(self) -> dict[str, bool]:
        return {
            "temporal": self.temporal().is_running(),
            "s3": self.s3().is_running(),
            "mail": self.mail().is_running(),
            "worker": self.worker().is_running(),
        }
