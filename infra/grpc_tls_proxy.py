"""A TLS-terminating gRPC proxy that requires client certificates: Debian's nginx (`grpc_pass`,
`ssl_verify_client on`) in front of the Temporal dev server, as a production cluster's front door
is. Tests use it to check caseflow's mTLS settings; everything it writes (config, pid, logs, temp
files) is under its own directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from infra.server_process import ServerProcess, StackError, port_answers

HOST = "127.0.0.1"


def find_nginx() -> Path:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if Path(p).is_file()), None
    )
    if found is None:
        raise StackError("nginx not found: install Debian's nginx-light ('make' does)")
    return Path(found)


@dataclass
class GrpcTlsProxy:
    state_dir: Path
    port: int
    upstream: str  # host:port of the plaintext gRPC server
    cert_file: Path
    key_file: Path
    client_ca_file: Path  # client certificates must chain to this CA

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "nginx.conf"

    def config(self) -> str:
        d = self.state_dir
        # nginx's workers drop to an unprivileged user when started as root; keep them as the
        # user who owns this (private) directory so they can write its temp paths.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"    {kind}_temp_path {d / 'temp' / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""{user}
worker_processes 1;
pid {d / 'nginx.pid'};
error_log {d / 'error.log'} info;
events {{ worker_connections 128; }}
http {{
    access_log {d / 'access.log'};
{temp}
    server {{
        listen {HOST}:{self.port} ssl http2;
        ssl_certificate {self.cert_file};
        ssl_certificate_key {self.key_file};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate {self.client_ca_file};
        ssl_verify_client on;
        # Workers long-poll Temporal for about a minute.
        grpc_read_timeout 300s;
        grpc_send_timeout 300s;
        location / {{ grpc_pass grpc://{self.upstream}; }}
    }}
}}
"""

    def process(self) -> ServerProcess:
        return ServerProcess(
            name="grpc-tls-proxy",
            command=[
                str(find_nginx()), "-p", str(self.state_dir),
                # Its error log from the first line on, before the config names one.
                "-e", str(self.state_dir / "error.log"),
                "-c", str(self.config_file), "-g", "daemon off;",
            ],
            ports=[self.port],
            run_dir=self.state_dir,
        )

    def start(self, timeout: float = 20.0) -> None:
        (self.state_dir / "temp").mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(self.config(), encoding="utf-8")
        proxy = self.process()
        proxy.start()
        proxy.wait_until(lambda: port_answers(self.port), timeout)

    def stop(self) -> bool:
        return self.process().stop()
