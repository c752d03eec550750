"""Infrastructure going away mid-case, on the real stack: the store stopped while referral
packets render, the Temporal server restarted between two stages, the worker killed with
SIGKILL while it renders. Each time the case goes on by itself (no `case retry`), its documents
keep their SHA-256, and each packet is written once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal

import pytest

from caseflow.case_status import CaseStage, CaseStatus
from caseflow.settings import CaseflowSettings
from coordinator.case_script import CaseScript
from infra.seaweedfs import s3_client
from tests.faults.conftest import FaultStack

pytestmark = pytest.mark.integration

# The store is down for this long: long enough for the renders to fail and back off several
# times (retries at most 2 s apart here), short so the suite stays quick.
OUTAGE_SECONDS = 12


def store(settings: CaseflowSettings):
    secret = settings.s3_secret_access_key
    return s3_client(
        settings.s3_endpoint_url or "", settings.s3_access_key_id or "",
        secret.get_secret_value() if secret else "",
    )


def assert_documents_intact(settings: CaseflowSettings, status: CaseStatus) -> None:
    s3 = store(settings)
    assert status.documents
    for ref in status.documents:
        body = s3.get_object(Bucket=settings.s3_bucket, Key=ref.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == ref.sha256, ref.document_id


def assert_each_packet_written_once(settings: CaseflowSettings, status: CaseStatus) -> None:
    s3 = store(settings)
    prefixes = [h.packet_prefix for h in status.hospitals if h.packet_prefix]
    assert len(prefixes) == 2
    for prefix in prefixes:
        versions = s3.list_object_versions(Bucket=settings.s3_bucket, Prefix=prefix)
        manifests = [v for v in versions.get("Versions", []) if v["Key"].endswith("manifest.json")]
        assert len(manifests) == 1, prefix  # written once, never overwritten by a retry
    assert len(set(prefixes)) == len(prefixes)


async def case_in_review(faults: FaultStack, tmp_path) -> CaseScript:
    script = CaseScript(faults.client, faults.stack.settings, tmp_path, stage_timeout=120)
    await script.start()
    await script.upload_records()
    await script.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    return script


async def test_a_storage_outage_while_packets_render_does_not_park_the_case(faults, tmp_path):
    script = await case_in_review(faults, tmp_path)
    seaweed = faults.stack.seaweed
    seaweed.stop()
    try:
        await script.review()
        await asyncio.sleep(OUTAGE_SECONDS)
        during = await script.status()
        assert not any(h.packet_prefix for h in during.hospitals)  # nothing could be stored
        assert during.failed_steps == []  # retrying, not parked for a person
    finally:
        seaweed.start()
    await script.packets_stored()
    status = await script.status()
    assert status.failed_steps == []
    assert_documents_intact(faults.stack.settings, status)
    assert_each_packet_written_once(faults.stack.settings, status)


async def test_a_temporal_restart_between_stages_loses_nothing(faults, tmp_path):
    script = await case_in_review(faults, tmp_path)
    before = await script.status()
    temporal = faults.stack.temporal
    temporal.stop()
    temporal.start()  # the same --db-filename: the case's history survives
    after = await script.status()
    assert after.stage == CaseStage.SPECIALIST_REVIEW
    assert [d.document_id for d in after.documents] == [d.document_id for d in before.documents]
    # The worker reconnects by itself and the case goes on.
    await script.review()
    await script.packets_stored()
    status = await script.status()
    assert status.failed_steps == []
    assert_documents_intact(faults.stack.settings, status)


async def test_a_worker_killed_while_rendering_is_replaced_and_each_packet_is_written_once(
    faults, tmp_path
):
    script = await case_in_review(faults, tmp_path)
    worker = faults.stack.worker
    await script.review()
    pid = worker.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # mid-render: the review's packets were just scheduled
    for _ in range(50):
        if worker.pid() is None:
            break
        await asyncio.sleep(0.1)
    worker.start()
    worker.wait_for_log_line(b"worker started", 60)
    await script.packets_stored()
    status = await script.status()
    assert status.failed_steps == []
    assert_documents_intact(faults.stack.settings, status)
    assert_each_packet_written_once(faults.stack.settings, status)
