"""Several workers on one task queue, and one dies (issue 14, item 5).

Three `python -m worker` processes share the case queue of one dev server: two case workers and
one more standing in for the render worker (until the `letters` task queue lands it is one more
process on the same queue). 100 cases start; each has its checklist waived and a review that
proceeds to the webhook hospital, so a packet is rendered, stored in SeaweedFS and delivered to
the hospital inbox. Halfway through, one case worker is killed with SIGKILL: its workflow tasks
and activities time out and the survivors take them over. Every case must still reach its
packet's delivery, the inbox must hold exactly one packet per case, and every acknowledged
update must show in the case's status (none lost with the dead worker's cache).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import secrets
import signal
import sys
import threading
import uuid
from datetime import date
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from caseflow.case_events import ReviewOutcome, SubmitReview, WaiveRequirement
from caseflow.hospitals import HospitalDirectory
from caseflow.intake import CaseIntake
from caseflow.temporal_client import connect
from client import cases
from client.coordinator_contacts import lookup_contact
from infra.hospital_inbox import make_handler
from infra.mail_sink import MailSink
from infra.server_process import ServerProcess, free_port

pytestmark = pytest.mark.integration

CASES = 100
IN_FLIGHT = 20
HOSPITAL = "cn-xiamen-bnct"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _intake() -> CaseIntake:
    data = json.loads((EXAMPLES / "intake.json").read_text())
    data["destinations"] = {"countries": ["CN"], "hospital_ids": [HOSPITAL]}
    return CaseIntake.model_validate(data)


def _worker_env(settings, webhook_secret: str, smtp_port: int) -> dict[str, str]:
    secret = settings.s3_secret_access_key
    return {
        "CASEFLOW_TEMPORAL_ADDRESS": settings.temporal_address,
        "CASEFLOW_TASK_QUEUE": settings.task_queue,
        "CASEFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url,
        "CASEFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id,
        "CASEFLOW_S3_SECRET_ACCESS_KEY": secret.get_secret_value() if secret else "",
        "CASEFLOW_S3_BUCKET": settings.s3_bucket,
        "CASEFLOW_KEY_FILE": str(settings.key_file or settings.data_dir / "keys.json"),
        "CASEFLOW_DATA_DIR": str(settings.data_dir),
        "CASEFLOW_SMTP_PORT": str(smtp_port),
        "CASEFLOW_WEBHOOK_SECRETS": json.dumps({HOSPITAL: webhook_secret}),
    }


def _started(log: Path) -> bool:
    return b"worker started" in log.read_bytes()


async def test_two_case_workers_and_a_render_worker_survive_a_kill_9(
    temporal_dev_server, seaweed, tmp_path
):
    webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    inbox_dir = tmp_path / "webhooks"
    inbox = ThreadingHTTPServer(
        ("127.0.0.1", free_port()),
        make_handler({HOSPITAL: base64.b64decode(webhook_secret[6:])}, inbox_dir),
    )
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{inbox.server_address[1]}/hooks/{HOSPITAL}"
    mail = MailSink(tmp_path / "mail", port=free_port())
    mail.start()
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "task_queue": f"failover-{uuid.uuid4().hex[:8]}",
            "smtp_port": mail.port,
        }
    )
    env = _worker_env(settings, webhook_secret, mail.port)
    workers = [
        ServerProcess(name, [sys.executable, "-m", "worker"], [], tmp_path / name, env=env)
        for name in ("case-worker-1", "case-worker-2", "render-worker")
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_until(functools.partial(_started, worker.log_file), 90)
        client = await connect(settings)
        default = HospitalDirectory.load_default()
        directory = HospitalDirectory(
            hospitals=[
                h.model_copy(update={"webhook_url": hook_url}) if h.hospital_id == HOSPITAL else h
                for h in default.hospitals
            ]
        )
        intake, today = _intake(), date.today()
        # Looked up once: a hundred first lookups at once would race to create the identity db.
        contact = await lookup_contact(settings, intake.coordinator_id)
        acknowledged: dict[str, list[str]] = {}  # case id -> the items its waivers named
        reviewed = 0
        killed = asyncio.Event()

        async def drive_one() -> str:
            nonlocal reviewed
            case_id = await cases.start_case(
                client, settings, intake, today, directory, coordinator_contact=contact
            )
            status = await cases.case_status(client, case_id)
            acknowledged[case_id] = []
            for item in status.missing_items:
                await cases.waive_requirement(
                    client,
                    case_id,
                    WaiveRequirement(item_id=item, reason="fictional failover test"),
                )
                acknowledged[case_id].append(item)
            await cases.submit_review(
                client,
                case_id,
                SubmitReview(
                    outcome=ReviewOutcome.PROCEED,
                    reviewer_id="specialist-demo",
                    modalities=["bnct"],
                    target_hospital_ids=[HOSPITAL],
                    recommendation="Fictional failover test: refer for a BNCT opinion.",
                ),
            )
            reviewed += 1
            if reviewed == CASES // 2 and not killed.is_set():
                killed.set()
                victim = workers[0].pid()
                assert victim is not None
                os.kill(victim, signal.SIGKILL)  # no graceful shutdown: its tasks just stop
            return case_id

        lanes = asyncio.Semaphore(IN_FLIGHT)

        async def lane() -> str:
            async with lanes:
                return await drive_one()

        case_ids = await asyncio.gather(*(lane() for _ in range(CASES)))
        assert killed.is_set()
        assert not workers[0].is_running()

        async def delivered(case_id: str):
            while True:
                status = await cases.case_status(client, case_id)
                hospital = next(h for h in status.hospitals if h.hospital_id == HOSPITAL)
                if hospital.delivered_at is not None:
                    return status
                await asyncio.sleep(0.5)

        finals = await asyncio.wait_for(asyncio.gather(*map(delivered, case_ids)), 120)

        # No lost update: every acknowledged waiver and the review are in each case's record.
        for status in finals:
            waived = {e.item_id for e in status.checklist if e.waived_reason}
            assert waived == set(acknowledged[status.case_id])
            assert status.review_outcome == ReviewOutcome.PROCEED
            assert status.stage.value == "HOSPITAL_SUBMISSION"
        # Each packet delivered once: one webhook per case at the hospital's inbox.
        received = [json.loads(p.read_text()) for p in (inbox_dir / HOSPITAL).glob("*.json")]
        per_case: dict[str, int] = {}
        for body in received:
            case_id = body["data"]["case_id"]
            per_case[case_id] = per_case.get(case_id, 0) + 1
        assert per_case == {case_id: 1 for case_id in case_ids}
    finally:
        for worker in workers:
            worker.stop()
        mail.stop()
        inbox.shutdown()
