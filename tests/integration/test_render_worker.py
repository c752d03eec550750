"""The render worker on its own task queue and processes, and the workers' metrics: a case
worker (`--role cases`) and a render worker (`--role letters`) run as separate processes
against the dev server; a case reaches its stored packets, the letters are rendered by the
render worker, and each worker's Prometheus endpoint shows the SDK's metrics and caseflow's."""

from __future__ import annotations

import re
import sys
import uuid
from functools import partial

import httpx
import pytest

from bench.service_stack import settings_env
from caseflow.temporal_client import connect
from coordinator.case_script import CaseScript
from infra.mail_sink import MailSink
from infra.server_process import ServerProcess, free_port

pytestmark = pytest.mark.integration


def started(worker: ServerProcess) -> bool:
    return b"worker started" in worker.log_file.read_bytes()


def scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    response.raise_for_status()
    return response.text


def samples(metrics: str, name: str) -> dict[str, float]:
    """`name`'s samples (labels -> value) in Prometheus text format."""
    found = {}
    for line in metrics.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+(\S+)$", line)
        if match:
            found[match.group(1) or ""] = float(match.group(2))
    return found


async def test_letters_render_on_the_render_worker_and_both_serve_metrics(
    temporal_dev_server, seaweed, tmp_path
):
    mail = MailSink(tmp_path / "mail", port=free_port())
    mail.start()
    settings = seaweed.settings.model_copy(update={
        "temporal_address": temporal_dev_server.address,
        "smtp_port": mail.port,
        "task_queue": f"render-{uuid.uuid4().hex[:8]}",
        # The suite's key file, so this test's client and workers share its payload key.
        "key_file": seaweed.settings.data_dir / "keys.json",
        "data_dir": tmp_path,
    })
    env = settings_env(settings) | {"CASEFLOW_SMTP_PORT": str(mail.port)}
    ports = {"cases": free_port(), "letters": free_port()}
    workers = {
        role: ServerProcess(
            f"worker-{role}", [sys.executable, "-m", "worker", "--role", role], [],
            tmp_path / role, env=env | {"CASEFLOW_METRICS_ADDRESS": f"127.0.0.1:{port}"},
        )
        for role, port in ports.items()
    }
    try:
        for worker in workers.values():
            worker.run_dir.mkdir()
            worker.start()
        for worker in workers.values():
            worker.wait_until(partial(started, worker), 60)
        assert f"'{settings.task_queue}-letters'" in workers["letters"].log_file.read_text()

        client = await connect(settings)
        script = CaseScript(client, settings, tmp_path, stage_timeout=90)
        await script.start()
        await script.upload_records()
        await script.review()
        stored = await script.packets_stored()
        status = await script.status()
        assert {h.hospital_id for h in status.hospitals if h.packet_prefix} == set(
            stored.packets_stored
        )
        assert all(h.packet_prefix for h in status.hospitals)

        letters, cases = scrape(ports["letters"]), scrape(ports["cases"])
        # The letters were set by the render worker, not the case worker.
        rendered = samples(letters, "caseflow_letter_render_count")
        assert sum(rendered.values()) >= 2, rendered
        assert samples(cases, "caseflow_letter_render_count") == {}
        # The SDK's own metrics on the same endpoints.
        assert samples(letters, "temporal_activity_execution_latency_count")
        assert samples(cases, "temporal_workflow_task_execution_latency_count")
        # caseflow's counters from the case workflow: every stage it entered.
        stages = samples(cases, "caseflow_case_stage_entered")
        for stage in ("RECORDS", "SPECIALIST_REVIEW", "HOSPITAL_SUBMISSION"):
            assert any(f'stage="{stage}"' in labels for labels in stages), stages
    finally:
        for worker in workers.values():
            worker.stop()
        mail.stop()
