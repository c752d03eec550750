"""The development SMTP sink: aiosmtpd on loopback keeping every message in a Maildir under
`.data/mail/`, so notifications are real mail that a developer can open."""

from __future__ import annotations

import mailbox
import sys
from dataclasses import dataclass
from pathlib import Path

from infra.server_process import ServerProcess, port_answers

HOST = "127.0.0.1"


@dataclass
class MailSink:
    state_dir: Path
    port: int = 8025

    @property
    def maildir(self) -> Path:
        return self.state_dir / "mail"

    def process(self) -> ServerProcess:
        return ServerProcess(
            name="mail",
            command=[
                sys.executable,
                "-m",
                "aiosmtpd",
                "--nosetuid",
                "--smtputf8",
                "--listen",
                f"{HOST}:{self.port}",
                "--class",
                "aiosmtpd.handlers.Mailbox",
                str(self.maildir),
            ],
            ports=[self.port],
            run_dir=self.state_dir,
        )

    def start(self, timeout: float = 20.0) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.maildir, create=True)  # aiosmtpd's Mailbox expects cur/new/tmp
        sink = self.process()
        sink.start()
        sink.wait_until(lambda: port_answers(self.port), timeout)

    def stop(self) -> bool:
        return self.process().stop()

    def is_running(self) -> bool:
        return self.process().is_running()

    def messages(self) -> list[Path]:
        """Every delivered message file, oldest first."""
        new = self.maildir / "new"
        return sorted(new.iterdir(), key=lambda p: p.stat().st_mtime) if new.exists() else []
