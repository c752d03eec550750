"""The embedded stack as one unit: Temporal dev server and Web UI, SeaweedFS S3, the SMTP sink
and, optionally, the worker. State under `.data/` survives `down` and `up` again."""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError
from dotenv import dotenv_values

from caseflow.hospitals import HospitalDirectory
from caseflow.keyring import ensure_key_file, key_file_path
from caseflow.settings import ENV_FILE_NAME, OPS_UI_PATH, CaseflowSettings
from infra.binaries import BinaryMissing
from infra.mail_sink import MailSink
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket, ensure_portal_rules
from infra.server_process import ServerProcess, StackError, port_answers
from infra.temporal_server import TemporalDevServer

DEFAULT_INBOX_PORT = 8090
# The embedded store's SSE-S3 key-encryption key (infra/seaweedfs.py: ensure_kek_file).
STORE_KEK_FILE_NAME = "store-kek"
# NAME=value as the env file has it (optionally after `export `); a value starting with a quote
# is already quoted.
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


@dataclass
class StackAddresses:
    temporal: str
    ui: str
    s3: str
    smtp: str
    maildir: Path
    hospital_inbox: str
    codec_server: str | None
    web: str
    # Parts that are not up, by name, with the one-line reason (empty: everything is up).
    problems: dict[str, str] = field(default_factory=dict)


def _whsec() -> str:
    """A Standard Webhooks secret: 32 random bytes, base64, after `whsec_`."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def env_line(name: str, value: str) -> str:
    """One line of the env file, single-quoted, so both `set -a; . caseflow.env` in a shell and
    python-dotenv (pydantic-settings) read the same value; single quotes keep JSON's double
    quotes and spaces literal in both."""
    if "'" in value or "\n" in value:
        raise ValueError(f"{name}: an env file value cannot hold a single quote or a newline")
    return f"{name}='{value}'\n"


def _quote_unquoted(env_file: Path) -> None:
    """Rewrite the unquoted lines older `dev up`s wrote (JSON a shell cannot source) quoted,
    with the value dotenv reads from them now; other lines stay as they are."""
    text = env_file.read_text()
    values = dotenv_values(env_file)
    lines = []
    for line in text.splitlines(keepends=True):
        match = _ENV_LINE.match(line.rstrip("\n"))
        value = values.get(match.group(1)) if match else None
        raw = match.group(2).strip() if match else ""
        if match and value is not None and raw[:1] not in ("'", '"') and "'" not in value:
            line = env_line(match.group(1), value)
        lines.append(line)
    rewritten = "".join(lines)
    if rewritten != text:
        temporary = env_file.with_name(f".{env_file.name}.{secrets.token_hex(4)}")
        temporary.write_text(rewritten)
        temporary.chmod(0o600)
        temporary.replace(env_file)


def ensure_credentials(data_dir: Path) -> Path:
    """Generate the stack's secrets once, in the env file that settings read: the S3 credentials
    and a webhook secret for every hospital whose channel is `webhook`.

    Random per clone, so no secret lives in the repo; the file stays under the ignored .data/.
    Lines already there are kept, so a later version can add secrets without rotating old ones;
    unquoted ones from older versions are quoted, so a shell can source the file.
    """
    env_file = data_dir / ENV_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    if env_file.exists():
        _quote_unquoted(env_file)
    present = env_file.read_text() if env_file.exists() else ""
    wanted = {
        "CASEFLOW_S3_ACCESS_KEY_ID": lambda: f"caseflow-{secrets.token_hex(4)}",
        "CASEFLOW_S3_SECRET_ACCESS_KEY": lambda: secrets.token_urlsafe(30),
        # Codec server tokens by identity, for the temporal CLI's --codec-auth; decodes are
        # audited under that identity. (The Web UI decodes through the web service's login.)
        "CASEFLOW_CODEC_TOKENS": lambda: json.dumps({"ops-cli": secrets.token_urlsafe(32)}),
        "CASEFLOW_WEBHOOK_SECRETS": lambda: json.dumps(
            {
                hospital.hospital_id: _whsec()
                for hospital in HospitalDirectory.load_default().hospitals
                if hospital.channel == "webhook"
            }
        ),
        # The web service: session cookies, reply links, and the secret each hospital signs
        # its callbacks with (given to the hospital out of band).
        "CASEFLOW_SESSION_SECRET": lambda: secrets.token_urlsafe(32),
        "CASEFLOW_REPLY_LINK_SECRET": lambda: secrets.token_urlsafe(32),
        "CASEFLOW_PORTAL_LINK_SECRET": lambda: secrets.token_urlsafe(32),
        "CASEFLOW_HOSPITAL_CALLBACK_SECRETS": lambda: json.dumps(
            {h.hospital_id: _whsec() for h in HospitalDirectory.load_default().hospitals}
        ),
    }
    missing = [env_line(name, make()) for name, make in wanted.items()
               if f"{name}=" not in present]
    if missing:
        with open(env_file, "a") as out:
            out.writelines(missing)
        env_file.chmod(0o600)
    return env_file


def ui_codec_endpoint(settings: CaseflowSettings) -> str | None:
    """The Web UI's codec endpoint: the web service's, under its login, same origin as the UI it
    proxies. It holds no secret: the browser's session cookie is what lets a decode through."""
    if not settings.encrypt_payloads:
        return None
    return settings.ops_codec_endpoint()


# What keeps a part from starting, said in one line; anything else is a defect and propagates.
_PART_FAILURES = (StackError, BinaryMissing, OSError, subprocess.SubprocessError, BotoCoreError,
                  ClientError)


def _attempt(problems: dict[str, str], name: str, start: Callable[[], object]) -> bool:
    """Start one part; on failure note why under its name and carry on with the others."""
    try:
        start()
    except _PART_FAILURES as error:
        lines = str(error).strip().splitlines()
        problems[name] = lines[0] if lines else type(error).__name__
        return False
    return True


def inbox_port() -> int:
    """The loopback port the directory's webhook hospitals point at (the dev hospital inbox)."""
    for hospital in HospitalDirectory.load_default().hospitals:
        url = urlparse(hospital.webhook_url or "")
        if hospital.channel == "webhook" and url.hostname == "127.0.0.1" and url.port:
            return url.port
    return DEFAULT_INBOX_PORT


class EmbeddedStack:
    def __init__(self, settings: CaseflowSettings):
        self.settings = settings
        self.data_dir = settings.data_dir.resolve()

    def temporal(self) -> TemporalDevServer:
        grpc = urlparse(f"//{self.settings.temporal_address}")
        ui = urlparse(self.settings.temporal_ui_url)
        if grpc.hostname not in ("127.0.0.1", "localhost") or grpc.port is None or ui.port is None:
            raise StackError("the embedded Temporal needs CASEFLOW_TEMPORAL_ADDRESS on loopback")
        return TemporalDevServer(
            self.data_dir / "temporal",
            grpc_port=grpc.port,
            ui_port=ui.port,
            # The dev server's own defaults (7243, 7244 beside 7233), kept beside any other
            # gRPC port, so a second stack on other ports does not collide on these two.
            http_port=grpc.port + 10,
            metrics_port=grpc.port + 11,
            # Served by the web service at OPS_UI_PATH behind its login (web/ops_routes.py), and
            # decoding through the service's codec endpoint, so no codec token is in the UI.
            ui_public_path=OPS_UI_PATH,
            ui_codec_endpoint=ui_codec_endpoint(self.settings),
        )

    def codec_server(self) -> ServerProcess:
        port = urlparse(self.settings.codec_server_url).port or 8081
        return ServerProcess(
            name="codec-server",
            command=[sys.executable, "-m", "coordinator.codec_server", "--port", str(port)],
            ports=[port],
            run_dir=self.data_dir,
            env=self._child_env(),
        )

    def _child_env(self) -> dict[str, str]:
        # The stack's processes read this stack's env file, wherever they were started from.
        return {"CASEFLOW_DATA_DIR": str(self.data_dir)}

    def ensure_keys(self) -> None:
        """A development key file when payloads are encrypted and no keys are configured."""
        if self.settings.encrypt_payloads and not self.settings.encryption_keys:
            ensure_key_file(key_file_path(self.settings))

    def s3(self) -> SeaweedFS:
        access_key, secret_key = self.settings.s3_access_key_id, self.settings.s3_secret_access_key
        if not (access_key and secret_key):
            raise StackError(
                f"S3 credentials missing from {self.data_dir / ENV_FILE_NAME}: run "
                "'caseflow dev up' (or set CASEFLOW_DATA_DIR to the stack's data directory)"
            )
        endpoint = urlparse(self.settings.s3_endpoint_url or "")
        if endpoint.hostname not in ("127.0.0.1", "localhost") or endpoint.port is None:
            raise StackError("the embedded S3 store needs CASEFLOW_S3_ENDPOINT_URL on loopback")
        return SeaweedFS(
            data_dir=self.data_dir / "seaweedfs",
            access_key=access_key,
            secret_key=secret_key.get_secret_value(),
            ports=SeaweedPorts.beside(endpoint.port),
            # Beside keys.json, apart from the store; never rotated (docs/data-protection.md).
            kek_file=self.data_dir / STORE_KEK_FILE_NAME,
        )

    def mail(self) -> MailSink:
        return MailSink(self.data_dir, port=self.settings.smtp_port)

    def hospital_inbox(self) -> ServerProcess:
        port = inbox_port()
        return ServerProcess(
            name="hospital-inbox",
            command=[sys.executable, "-m", "infra.hospital_inbox", "--port", str(port),
                     "--dir", str(self.data_dir / "webhooks")],
            ports=[port],
            run_dir=self.data_dir,
            env=self._child_env(),
        )

    def web(self) -> ServerProcess:
        port = self.settings.web_port
        return ServerProcess(
            name="web",
            command=[sys.executable, "-m", "web.server", "--port", str(port)],
            ports=[port],
            run_dir=self.data_dir,
            env=self._child_env(),
        )

    def worker(self) -> ServerProcess:
        return ServerProcess(
            name="worker",
            command=[sys.executable, "-m", "worker", "--role", "cases"],
            ports=[],
            run_dir=self.data_dir,
            env=self._child_env() | {"CASEFLOW_METRICS_ADDRESS": self.metrics_address("cases")},
        )

    # -- the render worker (issue 14): letters on their own queue and processes --
    def render_worker(self) -> ServerProcess:
        return ServerProcess(
            name="render-worker",
            command=[sys.executable, "-m", "worker", "--role", "letters"],
            ports=[],
            run_dir=self.data_dir,
            env=self._child_env() | {"CASEFLOW_METRICS_ADDRESS": self.metrics_address("letters")},
        )

    def metrics_address(self, role: str) -> str:
        """A stack worker's Prometheus endpoint: the case worker on stack_metrics_port, the
        render worker on the next port."""
        port = self.settings.stack_metrics_port + (role == "letters")
        return f"127.0.0.1:{port}"

    # -- up: each part starts or reports on its own (issue 11 item 8) ------------------------

    def up(self, with_worker: bool = False) -> StackAddresses:
        """Start every part that is not running. A part that cannot start (a taken port, a
        missing binary) is named in `problems` with its one-line reason and the others still
        start; only a part that needs it (the worker needs Temporal) is skipped with it."""
        self.ensure_keys()
        problems: dict[str, str] = {}
        temporal, s3, mail = self.temporal(), self.s3(), self.mail()
        inbox = self.hospital_inbox()
        _attempt(problems, "temporal", temporal.start)
        _attempt(problems, "s3", lambda: self._start_s3(s3))
        _attempt(problems, "mail", mail.start)
        _attempt(problems, "hospital-inbox", lambda: self._start_server(inbox, 20))
        codec_url = None
        codec = self.codec_server()
        if (
            self.settings.encrypt_payloads
            and self.settings.codec_tokens
            and _attempt(problems, "codec-server", lambda: self._start_server(codec, 20))
        ):
            codec_url = self.settings.codec_server_url
        _attempt(problems, "web", lambda: self._start_server(self.web(), 30))
        if with_worker:
            if "temporal" in problems:
                problems["worker"] = "not started: Temporal is not up"
            else:
                _attempt(problems, "worker", self.start_worker)
        return StackAddresses(
            temporal=temporal.address,
            # Reached through the web service's login (web/ops_routes.py).
            ui=f"{self.settings.public_url.rstrip('/')}{OPS_UI_PATH}/",
            s3=s3.endpoint_url,
            smtp=f"smtp://127.0.0.1:{mail.port}",
            maildir=mail.maildir,
            hospital_inbox=f"http://127.0.0.1:{inbox_port()}/hooks/<hospital_id>",
            codec_server=codec_url,
            web=f"http://127.0.0.1:{self.settings.web_port}",
            problems=problems,
        )

    def _start_s3(self, s3: SeaweedFS) -> None:
        s3.start()
        s3.wait_ready()
        ensure_bucket(s3.endpoint_url, s3.access_key, s3.secret_key, self.settings.s3_bucket)
        ensure_portal_rules(
            s3.endpoint_url, s3.access_key, s3.secret_key, self.settings.s3_bucket,
            self.settings.public_url, max(1, round(self.settings.portal_upload_expiry_hours / 24)),
        )

    @staticmethod
    def _start_server(server: ServerProcess, timeout: float) -> None:
        server.start()
        server.wait_until(lambda: all(port_answers(port) for port in server.ports), timeout)

    def start_worker(self, timeout: float = 30.0) -> None:
        """The case worker and the render worker (one of each)."""
        for worker in (self.worker(), self.render_worker()):
            if worker.is_running():
                continue
            worker.start()
            # The worker logs this line once it polls the task queue. Only what this start
            # wrote counts: the log is appended to, and a crashed worker's line is still in it.
            worker.wait_for_log_line(b"worker started", timeout)

    def down(self) -> list[str]:
        """Stop what `up` started, worker first so it drains before its servers go."""
        stopped = []
        for name, part in (
            ("worker", self.worker()),
            ("render-worker", self.render_worker()),
            ("web", self.web()),
            ("hospital-inbox", self.hospital_inbox()),
            ("codec-server", self.codec_server()),
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
            "hospital-inbox": self.hospital_inbox().is_running(),
            "codec-server": self.codec_server().is_running(),
            "web": self.web().is_running(),
            "worker": self.worker().is_running(),
            "render-worker": self.render_worker().is_running(),
        }
