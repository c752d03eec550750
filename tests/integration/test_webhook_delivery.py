"""Signed webhook delivery against a real HTTP receiver on loopback, run as an activity, and in
a real Temporal worker for retries (Retry-After, timeouts) and a withdrawal between attempts."""

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.consent_gate import ConsentGate
from activities.payloads import (
    CONSENT_LEDGER_QUERY,
    DeliveryConsent,
    PacketLink,
    PacketNotice,
    WebhookDeliveryRequest,
    WebhookReceipt,
)
from activities.payloads import WEBHOOK_NON_RETRYABLE_ERRORS as NON_RETRYABLE_ERRORS
from activities.webhook_delivery import WebhookDelivery
from caseflow.consent import ConsentLedger
from caseflow.fictional_case import CASE_ID, CREATED_AT, documents, intake, links

HOSPITAL = "cn-xiamen-bnct"
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
HTTP_TIMEOUT = 0.5


class Receiver:
    """A hospital's endpoint: verifies Standard Webhooks signatures, processes each webhook-id
    once, and answers from a script (status, headers, delay) before falling back to 200."""

    def __init__(self, secret: str) -> None:
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.script: list[tuple[int, dict[str, str], float]] = []
        self.requests: list[dict] = []
        self.processed: Counter[str] = Counter()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["content-length"]))
                status, headers, delay = receiver.handle(dict(self.headers), body)
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (timeout): the point of the test

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{HOSPITAL}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def verified(self, headers: dict, body: bytes) -> bool:
        webhook_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        mac = hmac.new(self.key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256)
        expected = base64.b64encode(mac.digest()).decode()
        given = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split()
                 if s.startswith("v1,")]
        return any(hmac.compare_digest(expected, s) for s in given)

    def handle(self, headers: dict, body: bytes) -> tuple[int, dict[str, str], float]:
        headers = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.requests.append({"headers": headers, "body": body, "at": time.monotonic()})
            if not self.verified(headers, body):
                return 401, {}, 0.0
            webhook_id = headers["webhook-id"]
            if webhook_id in self.processed:
                return 200, {}, 0.0  # a duplicate: acknowledged, not processed again
            status, extra, delay = self.script.pop(0) if self.script else (200, {}, 0.0)
            if 200 <= status < 300 or delay:  # a slow 2xx: processed, answer lost to a timeout
                self.processed[webhook_id] += 1
            return status, extra, delay

    def ids(self) -> list[str]:
        return [r["headers"]["webhook-id"] for r in self.requests]


@pytest.fixture
def receiver():
    server = Receiver(SECRET)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
async def http():
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as client:
        yield client


def delivery(http, client: Client | None = None, secret: str = SECRET) -> WebhookDelivery:
    return WebhookDelivery(
        http,
        {HOSPITAL: secret},
        ConsentGate(client),
        backoff_base=timedelta(milliseconds=100),
        backoff_cap=timedelta(milliseconds=400),
    )


def request(url: str, packet_id: str | None = None, ledger: ConsentLedger | None = None,
            ledger_workflow_id: str | None = None) -> WebhookDeliveryRequest:
    packet_id = packet_id or f"pk-{uuid.uuid4()}"
    refs = documents(3)
    urls = links(refs)
    return WebhookDeliveryRequest(
        packet_id=packet_id,
        endpoint_id=HOSPITAL,
        url=url,
        notice=PacketNotice(
            packet_id=packet_id,
            case_id=CASE_ID,
            hospital_id=HOSPITAL,
            created_at=CREATED_AT,
            manifest_url="https://s3.example.invalid/manifest.json?sig=1",
            links_expire_at=CREATED_AT + timedelta(days=7),
            documents=[
                PacketLink(document_id=r.document_id, kind=r.kind.value, size=r.size,
                           sha256=r.sha256, content_type=r.content_type, url=urls[r.document_id])
                for r in refs
            ],
        ),
        consent=DeliveryConsent(
            country="CN",
            hospital_id=HOSPITAL,
            ledger=ledger if ledger is not None else ConsentLedger.from_intake(intake()),
            ledger_workflow_id=ledger_workflow_id,
        ),
    )


def attempt_env(attempt: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


async def test_2xx_delivers_a_signed_thin_payload(receiver, http):
    req = request(receiver.url)
    receipt = await attempt_env(1).run(delivery(http).deliver_packet_webhook, req)
    assert receipt.status_code == 200 and receipt.packet_id == req.packet_id
    assert receiver.processed == Counter({req.packet_id: 1})
    sent = receiver.requests[0]
    assert sent["headers"]["webhook-id"] == req.packet_id
    payload = json.loads(sent["body"])
    assert payload["type"] == "referral.packet"
    assert len(payload["data"]["documents"]) == 3
    for phi in ("Asha", "Example", "1961-07-04", "squamous", "record-0.bin"):
        assert phi not in sent["body"].decode()


async def test_retry_after_500_keeps_the_id_and_is_processed_once(receiver, http):
    receiver.script = [(500, {}, 0.0)]
    req, sender = request(receiver.url), delivery(http)
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(1).run(sender.deliver_packet_webhook, req)
    assert caught.value.type == "EndpointUnavailable" and not caught.value.non_retryable
    delay = caught.value.next_retry_delay
    assert delay is not None and timedelta(milliseconds=50) <= delay <= timedelta(milliseconds=100)
    await attempt_env(2).run(sender.deliver_packet_webhook, req)
    assert receiver.ids() == [req.packet_id, req.packet_id]
    assert receiver.processed == Counter({req.packet_id: 1})
    # Each attempt is signed afresh over the same body.
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]


async def test_retry_after_a_timeout_is_deduplicated_by_the_receiver(receiver, http):
    receiver.script = [(200, {}, HTTP_TIMEOUT * 3)]  # processed, but the answer comes too late
    req, sender = request(receiver.url), delivery(http)
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(1).run(sender.deliver_packet_webhook, req)
    assert caught.value.type == "EndpointUnavailable" and "timed out" in caught.value.message
    await attempt_env(2).run(sender.deliver_packet_webhook, req)
    assert receiver.ids() == [req.packet_id, req.packet_id]
    assert receiver.processed == Counter({req.packet_id: 1})


@pytest.mark.parametrize(
    ("status", "headers", "delay"),
    [
        (429, {"retry-after": "7"}, timedelta(seconds=7)),
        (503, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, timedelta(0)),  # in the past
        (503, {"retry-after": "86400000"}, timedelta(hours=6)),  # capped
    ],
)
async def test_429_and_5xx_honour_retry_after(receiver, http, status, headers, delay):
    receiver.script = [(status, headers, 0.0)]
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(3).run(delivery(http).deliver_packet_webhook, request(receiver.url))
    assert not caught.value.non_retryable
    assert caught.value.next_retry_delay == delay


async def test_410_is_endpoint_gone_and_not_retried(receiver, http):
    receiver.script = [(410, {}, 0.0)]
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(1).run(delivery(http).deliver_packet_webhook, request(receiver.url))
    assert caught.value.type == "EndpointGone" and caught.value.non_retryable
    assert caught.value.message == f"endpoint {HOSPITAL} answered 410"


@pytest.mark.parametrize("status", [400, 404, 422, 301])
async def test_other_4xx_and_redirects_are_rejected_without_retry(receiver, http, status):
    receiver.script = [(status, {"location": "http://127.0.0.1:9/"}, 0.0)]
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(1).run(delivery(http).deliver_packet_webhook, request(receiver.url))
    assert caught.value.type == "DeliveryRejected" and caught.value.non_retryable


async def test_a_wrong_secret_fails_the_receivers_check(receiver, http):
    other = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(1).run(
            delivery(http, secret=other).deliver_packet_webhook, request(receiver.url)
        )
    assert caught.value.type == "DeliveryRejected"  # the receiver answered 401
    assert receiver.processed == Counter()


async def test_withdrawn_consent_sends_nothing_on_any_attempt(receiver, http):
    ledger = ConsentLedger.from_intake(intake()).withdrawn("CN", HOSPITAL, "referral", CREATED_AT)
    for attempt in (1, 2):
        with pytest.raises(ApplicationError) as caught:
            await attempt_env(attempt).run(
                delivery(http).deliver_packet_webhook, request(receiver.url, ledger=ledger)
            )
        assert caught.value.type == "ConsentMissing" and caught.value.non_retryable
        assert "Asha" not in caught.value.message
    assert receiver.requests == []


async def test_unknown_endpoint_is_not_configured(receiver, http):
    sender = WebhookDelivery(http, {}, ConsentGate())
    with pytest.raises(ApplicationError) as caught:
        await attempt_env(1).run(sender.deliver_packet_webhook, request(receiver.url))
    assert caught.value.type == "EndpointNotConfigured"
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "23 bytes; at least 24"),
        (base64.b64encode(b"x" * 32).decode(), "must start with 'whsec_'"),
        ("whsec_not base64!", "not valid base64"),
    ],
)
async def test_short_or_malformed_secrets_are_refused_at_startup(http, secret, reason):
    with pytest.raises(ValueError) as caught:
        delivery(http, secret=secret)
    assert str(caught.value).startswith(f"webhook secret for endpoint '{HOSPITAL}'")
    assert reason in str(caught.value)
    assert secret.removeprefix("whsec_") not in str(caught.value)


def test_request_rejects_a_notice_for_another_packet():
    req = request("http://127.0.0.1:9/")
    data = req.model_dump()
    data["packet_id"] = "pk-another-packet"
    with pytest.raises(ValueError, match="notice.packet_id: differs"):
        WebhookDeliveryRequest.model_validate(data)


# A real worker and retry loop: the workflow owns the consent ledger, as the case workflow will.


@workflow.defn(sandboxed=False)
class DeliverWithLedgerWorkflow:
    def __init__(self) -> None:
        self.ledger = ConsentLedger()

    @workflow.run
    async def run(self, req: WebhookDeliveryRequest) -> WebhookReceipt:
        self.ledger = req.consent.ledger
        return await workflow.execute_activity(
            "deliver_packet_webhook",
            req,
            result_type=WebhookReceipt,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                maximum_attempts=4,
                non_retryable_error_types=NON_RETRYABLE_ERRORS,
            ),
        )

    @workflow.query(name=CONSENT_LEDGER_QUERY)
    def consent_ledger(self) -> ConsentLedger:
        return self.ledger

    @workflow.signal
    def withdraw(self, hospital_id: str) -> None:
        self.ledger = self.ledger.withdrawn("CN", hospital_id, "referral", workflow.now())


@pytest.fixture
async def worker_client(temporal_dev_server, http):
    client = await Client.connect(
        temporal_dev_server.address, data_converter=pydantic_data_converter
    )
    queue = f"webhook-test-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[DeliverWithLedgerWorkflow],
        activities=[delivery(http, client).deliver_packet_webhook],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield client, queue


async def test_temporal_retries_honour_retry_after_and_deliver_once(receiver, worker_client):
    client, queue = worker_client
    receiver.script = [(503, {"retry-after": "1"}, 0.0), (500, {}, 0.0)]
    req = request(receiver.url)
    receipt = await client.execute_workflow(
        DeliverWithLedgerWorkflow.run, req, id=f"wh-{req.packet_id}", task_queue=queue
    )
    assert receipt.attempt == 3
    assert receiver.ids() == [req.packet_id] * 3
    assert receiver.processed == Counter({req.packet_id: 1})
    first, second = receiver.requests[0]["at"], receiver.requests[1]["at"]
    assert second - first >= 0.95  # Retry-After: 1 was honoured


async def test_withdrawal_between_attempts_stops_the_retry(receiver, worker_client):
    client, queue = worker_client
    receiver.script = [(503, {"retry-after": "2"}, 0.0)]
    req = request(receiver.url, ledger_workflow_id=f"wh-{uuid.uuid4()}")
    handle = await client.start_workflow(
        DeliverWithLedgerWorkflow.run, req, id=req.consent.ledger_workflow_id, task_queue=queue
    )
    deadline = time.monotonic() + 5
    while not receiver.requests and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await handle.signal(DeliverWithLedgerWorkflow.withdraw, HOSPITAL)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    cause = getattr(caught.value.cause, "cause", None)
    assert isinstance(cause, ApplicationError) and cause.type == "ConsentMissing"
    assert len(receiver.requests) == 1  # the retry sent nothing
    assert receiver.processed == Counter()
