"""One case through every stage on the real dev server, real SeaweedFS, a real worker and the real
SMTP sink: real uploads, rendered letters, visibility, the CLI itself, and the closed case."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from caseflow.case_status import CaseOutcome, CaseStage
from caseflow.hospitals import HospitalDirectory
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect
from client import cases as case_client
from coordinator.case_script import OTHER_HOSPITAL, SELECTED_HOSPITAL, fictional_pdf
from coordinator.cli import run
from coordinator.demo import DemoCase
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.polling import until
from workflows.case import CaseWorkflow

pytestmark = pytest.mark.integration

# The stages a case passes when its first option works (not the next option's, issue 15).
ALL_STAGES = [
    stage.value for stage in CaseStage
    if stage not in (CaseStage.INTAKE, CaseStage.NEXT_OPTION, CaseStage.TRIAL_SCREENING)
]


@dataclass
class CaseStack:
    settings: CaseflowSettings
    client: Client
    mail: MailSink

    def env(self) -> dict[str, str]:
        """The same settings as CASEFLOW_* variables, for the CLI."""
        s = self.settings
        return {
            "CASEFLOW_TEMPORAL_ADDRESS": s.temporal_address,
            "CASEFLOW_TEMPORAL_UI_URL": s.temporal_ui_url,
            "CASEFLOW_TASK_QUEUE": s.task_queue,
            "CASEFLOW_S3_ENDPOINT_URL": s.s3_endpoint_url or "",
            "CASEFLOW_S3_ACCESS_KEY_ID": s.s3_access_key_id or "",
            "CASEFLOW_S3_SECRET_ACCESS_KEY": (
                s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else ""
            ),
            "CASEFLOW_S3_BUCKET": s.s3_bucket,
            "CASEFLOW_SMTP_PORT": str(s.smtp_port),
            "CASEFLOW_KEY_FILE": str(s.data_dir / "keys.json"),
            # The stack's identity store (contacts for letters), not the working directory's.
            "CASEFLOW_DATA_DIR": str(s.data_dir),
        }

    async def caseflow(
        self, *args: str, columns: int | None = None, input: str | None = None
    ) -> tuple[int, str, str]:
        """Run the real CLI in a thread (it runs its own event loop), as a coordinator would;
        `columns` widens its tables past the default 80 so a cell prints on one line; `input`
        is what is typed at its prompts."""
        env = self.env() | ({"COLUMNS": str(columns)} if columns else {})

        def invoke() -> tuple[int, str, str]:
            # The real entry point (coordinator.cli.run), so its error lines are what is seen.
            get_settings.cache_clear()
            try:
                with CliRunner().isolation(input=input, env=env) as (out, err, _):
                    code = run(list(args))
                    sys.stdout.flush()
                    sys.stderr.flush()
                    return code, out.getvalue().decode(), err.getvalue().decode()
            finally:
                get_settings.cache_clear()

        return await asyncio.to_thread(invoke)


@pytest.fixture(scope="module")
async def case_stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[CaseStack]:
    from worker import build_worker

    mail = MailSink(tmp_path_factory.mktemp("mail"), port=free_port())
    mail.start()
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "temporal_ui_url": temporal_dev_server.ui_url,
            "smtp_port": mail.port,
            # Each module gets its own queue, so no other test's worker picks up its tasks.
            "task_queue": f"cases-{uuid.uuid4().hex[:8]}",
        }
    )
    client = await connect(settings)
    try:
        with ThreadPoolExecutor(max_workers=16) as executor:
            worker = build_worker(client, settings, executor)
            assert CaseWorkflow in worker.config()["workflows"], (
                "worker.build_worker does not register CaseWorkflow yet"
            )
            async with worker:
                yield CaseStack(settings, client, mail)
    finally:
        mail.stop()


def letter_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith(b"%PDF"):
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return data.decode("utf-8")



async def test_a_case_goes_through_every_stage(case_stack: CaseStack, seaweed, tmp_path):
    client, settings = case_stack.client, case_stack.settings
    said: list[str] = []
    case = DemoCase(client, settings, tmp_path, say=said.append, stage_timeout=20)
    case_id = await case.start()
    await case.wait_for_stage(CaseStage.RECORDS)

    # While in RECORDS, visibility finds the case by its stage (eventually consistent: poll).
    async def listed_in_records():
        rows = await case_client.list_cases(client, stage=CaseStage.RECORDS)
        return [r for r in rows if r.case_id == case_id]

    [row] = await until("the case in CaseStage = RECORDS", listed_in_records, timeout=10)
    assert row.coordinator_id == "coord-demo"
    assert row.destination_countries == ["CN", "IN"]
    code, out, err = await case_stack.caseflow("case", "list", "--stage", "RECORDS", "--json")
    assert code == 0, err
    assert case_id in {r["case_id"] for r in json.loads(out)}

    # A coordinator uploads one record and waives another through the CLI itself.
    biopsy = tmp_path / "biopsy.pdf"
    biopsy.write_bytes(fictional_pdf("biopsy"))
    code, out, err = await case_stack.caseflow(
        "case", "upload", case_id, str(biopsy), "--kind", "biopsy_report", "--json"
    )
    assert code == 0, err
    uploaded = json.loads(out)
    assert uploaded["stage"] == "RECORDS" and "biopsy" in uploaded["detail"]
    key = uploaded["document"]["key"]
    assert key == f"cases/{case_id}/{uploaded['document']['document_id']}"
    stored = seaweed.client().head_object(Bucket=settings.s3_bucket, Key=key)
    assert stored["ContentLength"] == biopsy.stat().st_size

    code, out, err = await case_stack.caseflow(
        "case", "waive", case_id, "performance_status", "--reason", "assessed at the clinic visit"
    )
    assert code == 0, err
    # Events for the wrong stage or a satisfied item come back as one line, exit 1.
    code, _, err = await case_stack.caseflow("case", "select", case_id, SELECTED_HOSPITAL)
    assert code == 1 and err.count("\n") == 1
    assert "case is in RECORDS" in err
    code, _, err = await case_stack.caseflow(
        "case", "waive", case_id, "biopsy", "--reason", "not needed"
    )
    assert code == 1 and "already satisfied" in err

    status = await case_client.case_status(client, case_id)
    assert "biopsy" not in status.missing_items
    assert "performance_status" not in status.missing_items

    await case.upload_records()
    records = (await case_client.case_status(client, case_id)).documents
    await case.review()
    await case.hospitals_respond()

    # The packet in S3 holds the letter naming the hospital and a manifest with every hash.
    packet_dir = tmp_path / "packet"
    code, out, err = await case_stack.caseflow(
        "case", "packet", case_id, SELECTED_HOSPITAL, "--out", str(packet_dir), "--json"
    )
    assert code == 0, err
    files = {Path(p).name: Path(p) for p in json.loads(out)["files"]}
    manifest = json.loads(files.pop("manifest.json").read_text())
    assert manifest["hospital_id"] == SELECTED_HOSPITAL
    letter_name = manifest["letter_key"].rsplit("/", 1)[-1]
    hospital = HospitalDirectory.load_default().get(SELECTED_HOSPITAL)
    assert hospital.name in letter_text(files[letter_name])
    assert {d.sha256 for d in records} == {d["sha256"] for d in manifest["documents"]}

    code, _, err = await case_stack.caseflow("case", "select", case_id, SELECTED_HOSPITAL)
    assert code == 0, err
    await case.translate()
    await case.travel()
    await case.admission()
    await case.follow_ups()
    result = await case.result()

    assert result.outcome == CaseOutcome.COMPLETED
    status = await case_client.case_status(client, case_id)
    assert status.stage == CaseStage.CLOSED
    assert {h.hospital_id: h.state.value for h in status.hospitals} == {
        SELECTED_HOSPITAL: "selected",
        OTHER_HOSPITAL: "not_selected",
    }
    entered = [e.detail.split()[0] for e in status.timeline if e.event == "stage_entered"]
    assert entered == ALL_STAGES
    assert all(f.status == "recorded" for f in status.follow_ups)
    assert [f.day for f in status.follow_ups] == [14, 30, 90, 180, 365]

    # Mail went through the real SMTP sink: at least the translation job and the notices.
    messages = [m.read_bytes() for m in case_stack.mail.messages()]
    assert any(case_id.encode() in m for m in messages)
    code, out, _ = await case_stack.caseflow("case", "status", case_id, "--json")
    assert code == 0 and json.loads(out)["outcome"] == "completed"

