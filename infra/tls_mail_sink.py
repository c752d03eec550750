"""The SMTP sink as a production relay looks: STARTTLS or implicit TLS with a given certificate,
and a login every message needs. aiosmtpd, keeping mail in a Maildir like infra/mail_sink.py;
tests start it to check caseflow's side of the relay (smtp_security, smtp_username/password).

Run: python -m infra.tls_mail_sink --listen HOST:PORT --mode starttls|tls --cert PEM --key PEM
--login-file FILE MAILDIR, where FILE holds one `username:password` line.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import signal
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from infra.mail_sink import HOST, MailSink
from infra.server_process import ServerProcess

SinkMode = Literal["starttls", "tls"]


@dataclass
class TlsMailSink(MailSink):
    """A MailSink whose process speaks TLS (STARTTLS or implicit) and requires a login."""

    cert_file: Path = Path()
    key_file: Path = Path()
    login_file: Path = Path()
    mode: SinkMode = "starttls"

    def process(self) -> ServerProcess:
        return ServerProcess(
            name=f"mail-{self.mode}",
            command=[
                sys.executable, "-m", "infra.tls_mail_sink",
                "--listen", f"{HOST}:{self.port}", "--mode", self.mode,
                "--cert", str(self.cert_file), "--key", str(self.key_file),
                "--login-file", str(self.login_file), str(self.maildir),
            ],
            ports=[self.port],
            run_dir=self.state_dir,
        )


def checker(username: str, password: str):
    """An aiosmtpd authenticator accepting one login (compared in constant time)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        ok = isinstance(data, LoginPassword) and hmac.compare_digest(
            data.login, username.encode()
        ) and hmac.compare_digest(data.password, password.encode())
        return AuthResult(success=ok, handled=False)

    return authenticate


async def serve(args: argparse.Namespace) -> None:
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP

    username, _, password = Path(args.login_file).read_text(encoding="utf-8").strip().partition(":")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    handler = Mailbox(args.maildir)
    implicit = args.mode == "tls"

    def protocol() -> SMTP:
        return SMTP(
            handler,
            enable_SMTPUTF8=True,
            tls_context=None if implicit else context,
            require_starttls=not implicit,
            authenticator=checker(username, password),
            auth_required=True,
            # Under implicit TLS the whole connection is encrypted before the first command.
            auth_require_tls=not implicit,
        )

    host, _, port = args.listen.rpartition(":")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        protocol, host=host, port=int(port), ssl=context if implicit else None
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.tls_mail_sink")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--mode", choices=["starttls", "tls"], required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--login-file", required=True)
    parser.add_argument("maildir")
    asyncio.run(serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
