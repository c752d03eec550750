"""Record the replay test's histories: one demo case end to end on a private stack.

Run `.venv/bin/python -m tests.histories.record` after any change to workflows/ that is meant to
change their commands (and commit the new JSON); tests/integration/test_replay.py replays these
files, so a change that would break running cases fails there instead of in production.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from caseflow.case_status import CaseOutcome
from caseflow.ids import case_workflow_id, referral_workflow_id
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from coordinator.demo import SELECTED_HOSPITAL, DemoCase
from infra.mail_sink import MailSink
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket
from infra.server_process import free_port
from infra.temporal_server import TemporalDevServer

HERE = Path(__file__).resolve().parent


async def record(state: Path) -> None:
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
    temporal.start()
    s3.start(timeout=60)
    mail.start()
    try:
        settings = CaseflowSettings(
            temporal_address=temporal.address,
            temporal_ui_url=temporal.ui_url,
            s3_endpoint_url=s3.endpoint_url,
            s3_access_key_id=access_key,
            s3_secret_access_key=secret_key,
            smtp_port=mail.port,
            task_queue=f"cases-{uuid.uuid4().hex[:8]}",
            data_dir=state,
            # Plain payloads, so the replay test needs no key; determinism does not depend on
            # the codec, and the case is fictional.
            encrypt_payloads=False,
        )
        ensure_bucket(s3.endpoint_url, access_key, secret_key, settings.s3_bucket)
        client = await connect(settings)
        with ThreadPoolExecutor(max_workers=16) as executor:
            async with build_worker(client, settings, executor):
                work = state / "work"
                work.mkdir()
                case = DemoCase(client, settings, work, say=print)
                result = await case.run()
        if result.outcome != CaseOutcome.COMPLETED:
            raise SystemExit(f"the case closed as {result.outcome.value}, not completed")
        for name, workflow_id in (
            ("case", case_workflow_id(case.case_id)),
            ("referral", referral_workflow_id(case.case_id, SELECTED_HOSPITAL)),
        ):
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            target = HERE / f"{name}.json"
            target.write_text(history.to_json())
            print(f"wrote {target} ({len(history.events)} events)")
    finally:
        mail.stop()
        s3.stop()
        temporal.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="caseflow-record-") as state:
        asyncio.run(record(Path(state)))


if __name__ == "__main__":
    sys.exit(main())
