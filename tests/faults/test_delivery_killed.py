"""The worker killed with SIGKILL while a webhook delivery is in flight, on the real stack: the
hospital's endpoint is slow, so the attempt is still waiting for its answer when the worker dies.
A new worker retries it within seconds (the 5 s heartbeat timeout, not the start-to-close), under
the same webhook-id, so the hospital processes the packet once and the case records one
delivery."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from caseflow.hospitals import HospitalDirectory
from coordinator.case_script import OTHER_HOSPITAL, CaseScript
from tests.faults.conftest import WEBHOOK_HOSPITAL, WEBHOOK_SECRET, FaultStack

pytestmark = pytest.mark.integration

# The endpoint answers this long after a request arrives: the attempt is in flight meanwhile.
SLOW_SECONDS = 4.0
# Heartbeat timeout (5 s) + a retry interval (1-2 s) + slack for a loaded machine: about 7 s
# here. Waiting for the start-to-close (30 s), the old 60 s, or the dead worker's sticky queue
# (the consent query took 10 s more with the SDK's default: worker.py) would miss it.
RESUME_WITHIN_SECONDS = 12.0


@dataclass
class Request:
    webhook_id: str
    signed: bool
    at: float  # time.monotonic()


@dataclass
class SlowHospital:
    """A hospital's webhook endpoint on loopback: checks each request's Standard Webhooks
    signature, processes each webhook-id once, and answers 200 only after SLOW_SECONDS."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def signed(self, headers, body: bytes) -> bool:
        key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
        webhook_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        mac = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
        expected = base64.b64encode(mac.digest()).decode()
        given = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split()
                 if s.startswith("v1,")]
        return any(hmac.compare_digest(expected, s) for s in given)

    def receive(self, headers, body: bytes) -> None:
        request = Request(headers.get("webhook-id", ""), self.signed(headers, body),
                          time.monotonic())
        with self.lock:
            self.requests.append(request)
            if request.signed and request.webhook_id not in self.processed:
                self.processed.append(request.webhook_id)  # a repeat is acknowledged only
        self.arrived.set()


@pytest.fixture
def slow_hospital() -> Iterator[SlowHospital]:
    hospital = SlowHospital()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            hospital.receive(self.headers, self.rfile.read(int(self.headers["content-length"])))
            time.sleep(SLOW_SECONDS)
            try:
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender died while we were slow: the point of the test

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hospital.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/{WEBHOOK_HOSPITAL}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hospital
    finally:
        server.shutdown()
        server.server_close()


def directory_with(url: str) -> HospitalDirectory:
    """The default directory, with the webhook hospital's endpoint at `url`."""
    default = HospitalDirectory.load_default()
    return HospitalDirectory(hospitals=[
        h.model_copy(update={"webhook_url": url}) if h.hospital_id == WEBHOOK_HOSPITAL else h
        for h in default.hospitals
    ])


async def kill_worker(faults: FaultStack) -> None:
    worker = faults.stack.worker
    pid = worker.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        if worker.pid() is None:
            return
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_delivery_is_replaced_and_the_hospital_gets_the_packet_once(
    faults: FaultStack, slow_hospital: SlowHospital, tmp_path
):
    script = CaseScript(
        faults.client, faults.stack.settings, tmp_path, stage_timeout=90,
        hospitals=(WEBHOOK_HOSPITAL, OTHER_HOSPITAL), directory=directory_with(slow_hospital.url),
    )
    await script.start()
    await script.upload_records()
    await script.review()
    assert await asyncio.to_thread(slow_hospital.arrived.wait, 60), "no delivery was attempted"
    await kill_worker(faults)  # while the endpoint is still answering the first attempt
    killed_at = time.monotonic()
    faults.stack.worker.start()
    faults.stack.worker.wait_for_log_line(b"worker started", 60)

    await script.packets_delivered()
    status = await script.status()
    hook = next(h for h in status.hospitals if h.hospital_id == WEBHOOK_HOSPITAL)
    requests = list(slow_hospital.requests)
    assert all(r.signed for r in requests)
    # The first attempt died with its worker; the retry came from the new one.
    assert len(requests) >= 2, requests
    resumed = requests[1].at - killed_at
    print(f"delivery resumed {resumed:.1f} s after the worker was killed")
    assert resumed < RESUME_WITHIN_SECONDS, f"resumed after {resumed:.1f} s"
    # Once as the hospital sees it: one webhook-id, the packet's, on every attempt.
    assert {r.webhook_id for r in requests} == {hook.packet_id}
    assert slow_hospital.processed == [hook.packet_id]
    # Once as the case sees it: one delivery, by a later attempt than the one that was lost.
    assert hook.channel == "webhook" and hook.delivered_at is not None
    receipt = re.fullmatch(r"HTTP 200, attempt (\d+)", hook.delivery_receipt or "")
    assert receipt is not None and int(receipt[1]) >= 2, hook.delivery_receipt
    delivered = [e for e in status.timeline if e.event == "referral_packet_delivered"
                 and WEBHOOK_HOSPITAL in e.detail]
    assert len(delivered) == 1, delivered
    assert status.failed_steps == []
