"""The development hospital inbox: a webhook receiver on loopback standing in for the hospitals
whose channel is `webhook`. It checks Standard Webhooks signatures with the same per-hospital
secrets the worker signs with, keeps one file per webhook-id (a retry is not a second packet)
under `.data/webhooks/<hospital_id>/`, and answers 401 to anything unsigned.

Run as `python -m infra.hospital_inbox --port 8090 --dir .data/webhooks`; the stack does that.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from caseflow.settings import CaseflowSettings
from caseflow.webhook_signature import SignatureInvalid, parse_secret, verify

_PATH = re.compile(r"^/hooks/([a-z0-9-]{1,60})$")
_WEBHOOK_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_BODY_BYTES = 1024 * 1024  # the payload is thin JSON: links and hashes, never documents


def make_handler(keys: dict[str, bytes], inbox: Path) -> type[BaseHTTPRequestHandler]:
    class HospitalInboxHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
            match = _PATH.match(self.path)
            length = int(self.headers.get("content-length") or 0)
            if not match or match.group(1) not in keys:
                return self._answer(404, "no such hospital endpoint")
            if length > MAX_BODY_BYTES:
                return self._answer(413, "payload too large")
            body = self.rfile.read(length)
            hospital_id, webhook_id = match.group(1), self.headers.get("webhook-id", "")
            if not _WEBHOOK_ID.match(webhook_id):
                return self._answer(400, "missing or malformed webhook-id")
            try:
                verify(keys[hospital_id], webhook_id, self.headers.get("webhook-timestamp", ""),
                       self.headers.get("webhook-signature", ""), body, now=time.time())
            except SignatureInvalid as invalid:
                return self._answer(401, str(invalid))
            received = inbox / hospital_id / f"{webhook_id}.json"
            received.parent.mkdir(parents=True, exist_ok=True)
            if not received.exists():  # the same webhook-id again is a retry, not a new packet
                received.write_bytes(body)
            return self._answer(200, "received")

        def _answer(self, status: int, message: str) -> None:
            payload = json.dumps({"status": message}).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            # One line per request, no payloads: paths hold only hospital ids.
            print(f"hospital-inbox {self.address_string()} {format % args}", flush=True)

    return HospitalInboxHandler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--dir", type=Path, default=Path(".data/webhooks"))
    args = parser.parse_args()
    settings = CaseflowSettings()
    keys = {hid: parse_secret(s.get_secret_value()) for hid, s in settings.webhook_secrets.items()}
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(keys, args.dir))
    server.serve_forever()


if __name__ == "__main__":
    main()
