"""Record the replay test's histories: fictional demo cases end to end on a private stack.

Run `.venv/bin/python -m tests.histories.record [SCENARIO ...]` after any change to workflows/
that is meant to change their commands, and commit the new JSON; tests/workflow/test_replay.py
replays every history here, so a change that would break running cases fails there instead of
in production. Keep histories recorded by older workflow code (rename them rather than record
over them): they are what proves that cases started before a `workflow.patched` still replay.

Scenarios (default: all):
- `manual`: the demo case to manual hospitals -> case.json, referral.json
- `delivery`: the demo case to the webhook and the email hospital, with a signed-webhook
  receiver on a free port -> delivery-case.json, delivery-referral-webhook.json,
  delivery-referral-email.json
- `escalation`: the demo case with second-long SLAs, left to escalate records to the
  supervisor, and continued as new after 100 events -> escalation-case-continued.json (the run
  that continued as new), escalation-case.json (the last run)
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

from temporalio.client import Client

from caseflow.case_status import CaseOutcome
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id, referral_workflow_id
from caseflow.settings import CaseflowSettings
from caseflow.sla import DEFAULT_SLAS, WaitKind
from caseflow.temporal_client import connect
from caseflow.webhook_signature import parse_secret
from coordinator.case_script import CaseScript
from coordinator.demo import DELIVERY_HOSPITALS, SELECTED_HOSPITAL, DemoCase
from infra.hospital_inbox import make_handler
from infra.mail_sink import MailSink
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket
from infra.server_process import free_port
from infra.temporal_server import TemporalDevServer

HERE = Path(__file__).resolve().parent
WEBHOOK_HOSPITAL, EMAIL_HOSPITAL = DELIVERY_HOSPITALS


class RecordedCase(DemoCase):
    """The demo case, but the coordinator records every hospital's answer: the demo answers
    webhook and e-mail hospitals through the web service's reply path, which is not started
    here."""

    hospitals_respond = CaseScript.hospitals_respond


async def _steps(case: DemoCase, **start) -> CaseOutcome:
    await case.start(**start)
    await _after_start(case)
    return (await case.result()).outcome


async def _after_start(case: DemoCase, settle: float = 0.0) -> None:
    """The demo's steps after the start. `settle` pauses after each, so a continue-as-new that
    falls due finishes before the next update (which the closing run would refuse)."""
    for step in (
        case.upload_records,
        case.review,
        case.packets_stored,
        case.packets_delivered,
        lambda: case.fetch_packet(case.selected),
        case.hospitals_respond,
        case.select,
        case.translate,
        case.travel,
        case.admission,
        case.follow_ups,
    ):
        await step()
        await asyncio.sleep(settle)


async def _write(client: Client, name: str, workflow_id: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    target = HERE / f"{name}.json"
    target.write_text(history.to_json())
    print(f"wrote {target} ({len(history.events)} events)")


async def manual(case: DemoCase, client: Client, directory: HospitalDirectory) -> None:
    if await _steps(case) != CaseOutcome.COMPLETED:
        raise SystemExit("the manual case did not complete")
    await _write(client, "case", case_workflow_id(case.case_id))
    await _write(client, "referral", referral_workflow_id(case.case_id, SELECTED_HOSPITAL))


async def delivery(case: DemoCase, client: Client, directory: HospitalDirectory) -> None:
    case.selected, case.other = DELIVERY_HOSPITALS
    case.directory = directory
    if await _steps(case) != CaseOutcome.COMPLETED:
        raise SystemExit("the delivery case did not complete")
    await _write(client, "delivery-case", case_workflow_id(case.case_id))
    for suffix, hospital_id in (("webhook", WEBHOOK_HOSPITAL), ("email", EMAIL_HOSPITAL)):
        await _write(
            client, f"delivery-referral-{suffix}", referral_workflow_id(case.case_id, hospital_id)
        )


async def escalation(case: DemoCase, client: Client, directory: HospitalDirectory) -> None:
    second = timedelta(seconds=1)
    slas = DEFAULT_SLAS.with_overrides(
        {
            WaitKind.RECORDS_UPLOAD.value: {
                "remind_after": second,
                "escalate_coordinator_after": 2 * second,
                "escalate_supervisor_after": 3 * second,
            }
        }
    )
    await case.start(slas=slas, continue_as_new_after_events=100)
    workflow_id = case_workflow_id(case.case_id)
    first_run = (await client.get_workflow_handle(workflow_id).describe()).run_id
    await case.wait_until("the supervisor escalation", lambda s: s.escalation_level == 3)
    await _after_start(case, settle=2.0)
    result = await case.result()
    status = await case.status()
    if result.outcome != CaseOutcome.COMPLETED or status.run_count < 2:
        raise SystemExit(
            f"the escalation case closed {result.outcome.value} in run {status.run_count}; "
            "it must complete after continuing as new"
        )
    await _write(client, "escalation-case-continued", workflow_id, first_run)
    await _write(client, "escalation-case", workflow_id)


SCENARIOS: dict[str, Callable[[DemoCase, Client, HospitalDirectory], Awaitable[None]]] = {
    "manual": manual,
    "delivery": delivery,
    "escalation": escalation,
}


@contextmanager
def webhook_receiver(secret: str, inbox: Path):
    """The dev hospital inbox on a free port, checking signatures with `secret`."""
    keys = {WEBHOOK_HOSPITAL: parse_secret(secret)}
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), make_handler(keys, inbox))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/{WEBHOOK_HOSPITAL}"
    finally:
        server.shutdown()
        server.server_close()


async def record(state: Path, scenarios: list[str]) -> None:
    from worker import build_worker

    temporal = TemporalDevServer(
        state / "temporal",
        grpc_port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )
    access_key, secret_key = "cf" + secrets.token_hex(8), secrets.token_urlsafe(30)
    s3 = SeaweedFS(state / "seaweedfs", access_key, secret_key, ports=SeaweedPorts.pick_free())
    mail = MailSink(state, port=free_port())
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    temporal.start()
    s3.start(timeout=60)
    mail.start()
    try:
        with webhook_receiver(webhook_secret, state / "webhooks") as hook_url:
            settings = CaseflowSettings(
                temporal_address=temporal.address,
                temporal_ui_url=temporal.ui_url,
                s3_endpoint_url=s3.endpoint_url,
                s3_access_key_id=access_key,
                s3_secret_access_key=secret_key,
                smtp_port=mail.port,
                webhook_secrets={WEBHOOK_HOSPITAL: webhook_secret},
                task_queue=f"cases-{uuid.uuid4().hex[:8]}",
                data_dir=state,
                # Plain payloads, so the replay test needs no key; determinism does not depend
                # on the codec, and the cases are fictional.
                encrypt_payloads=False,
            )
            default = HospitalDirectory.load_default()
            # The receiver stands in for the webhook hospital's endpoint.
            directory = HospitalDirectory(
                hospitals=[
                    h.model_copy(update={"webhook_url": hook_url})
                    if h.hospital_id == WEBHOOK_HOSPITAL
                    else h
                    for h in default.hospitals
                ]
            )
            ensure_bucket(s3.endpoint_url, access_key, secret_key, settings.s3_bucket)
            client = await connect(settings)
            with ThreadPoolExecutor(max_workers=16) as executor:
                async with build_worker(client, settings, executor):
                    for name in scenarios:
                        work = state / f"work-{name}"
                        work.mkdir()
                        print(f"== {name}")
                        case = RecordedCase(client, settings, work, say=print, stage_timeout=60)
                        await SCENARIOS[name](case, client, directory)
    finally:
        mail.stop()
        s3.stop()
        temporal.stop()


def main() -> None:
    scenarios = sys.argv[1:] or list(SCENARIOS)
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="caseflow-record-") as state:
        asyncio.run(record(Path(state), scenarios))


if __name__ == "__main__":
    main()
