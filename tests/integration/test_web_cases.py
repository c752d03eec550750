"""The coordinators' API on the real service (uvicorn on a free port) over the real dev server,
SeaweedFS and a worker: who may do what, the same words as the CLI, uploads, limits, audit."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from activities.audit import AuditAction, AuditTrail
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect
from client import cases
from client.identities import IdentityStore
from coordinator.case_script import fictional_pdf
from coordinator.cli import cli
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.integration.web_service import running_service

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class WebStack:
    settings: CaseflowSettings
    client: Client
    url: str
    tokens: dict[str, str]  # login -> bearer secret

    def api(self, login: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[login]}"} if login else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)

    def cli(self, *args: str) -> tuple[int, str]:
        """The real CLI against the same stack; returns (exit code, its one error line)."""
        from coordinator.errors import one_line_error

        s = self.settings
        env = {
            "CASEFLOW_TEMPORAL_ADDRESS": s.temporal_address,
            "CASEFLOW_TASK_QUEUE": s.task_queue,
            "CASEFLOW_S3_ENDPOINT_URL": s.s3_endpoint_url or "",
            "CASEFLOW_S3_ACCESS_KEY_ID": s.s3_access_key_id or "",
            "CASEFLOW_S3_SECRET_ACCESS_KEY": (
                s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else ""
            ),
            "CASEFLOW_KEY_FILE": str(s.data_dir / "keys.json"),
            # The stack's identity store (contacts for letters), not the working directory's.
            "CASEFLOW_DATA_DIR": str(s.data_dir),
        }
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, list(args), env=env)
        finally:
            get_settings.cache_clear()
        if result.exception and not isinstance(result.exception, SystemExit):
            message, code = one_line_error(result.exception)
            return code, message
        return result.exit_code, ""


def intake_for(coordinator_id: str) -> dict:
    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["coordinator_id"] = coordinator_id
    return intake


@pytest.fixture(scope="module")
async def web_stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[WebStack]:
    from worker import build_worker

    home = tmp_path_factory.mktemp("web-cases")
    mail = MailSink(home, port=free_port())
    mail.start()
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "smtp_port": mail.port,
            "task_queue": f"cases-{uuid.uuid4().hex[:8]}",
            "identity_db_url": f"sqlite:///{home / 'identities.db'}",
            "session_secret": "test-session-secret-" + uuid.uuid4().hex,
        }
    )
    store = IdentityStore.from_settings(settings)
    tokens = {}
    for login, role in (
        ("coord-a", "coordinator"),
        ("coord-b", "coordinator"),
        ("sup", "supervisor"),
        ("ops", "ops"),
    ):
        store.add_user(login, role, name=f"Test {login}", email=f"{login}@example.invalid")
        tokens[login] = store.create_token(user=login, label="test").secret
    client = await connect(settings)
    try:
        with ThreadPoolExecutor(max_workers=16) as executor:
            async with build_worker(client, settings, executor):
                with running_service(settings) as service:
                    yield WebStack(service.settings, client, service.url, tokens)
    finally:
        mail.stop()


async def start(stack: WebStack, login: str, coordinator_id: str) -> str:
    async with stack.api(login) as api:
        response = await api.post("/api/v1/cases", json=intake_for(coordinator_id))
    assert response.status_code == 201, response.text
    return response.json()["case_id"]


async def test_no_login_reaches_no_case(web_stack: WebStack):
    case_id = await start(web_stack, "coord-a", "coord-a")
    async with web_stack.api(None) as anonymous:
        for method, path in (
            ("GET", "/api/v1/cases"),
            ("GET", f"/api/v1/cases/{case_id}"),
            ("POST", f"/api/v1/cases/{case_id}/hold"),
        ):
            response = await anonymous.request(method, path, json={"reason": "x"})
            assert response.status_code == 401, (method, path)
            assert set(response.json()) == {"error"}
    async with httpx.AsyncClient(
        base_url=web_stack.url, headers={"Authorization": "Bearer cf_forged_token"}
    ) as forged:
        assert (await forged.get(f"/api/v1/cases/{case_id}")).status_code == 401


async def test_a_coordinator_acts_on_their_own_cases_only(web_stack: WebStack):
    case_id = await start(web_stack, "coord-a", "coord-a")
    before = await cases.case_status(web_stack.client, case_id)
    async with web_stack.api("coord-b") as other:
        assert (await other.get(f"/api/v1/cases/{case_id}")).status_code == 403
        refused = await other.post(
            f"/api/v1/cases/{case_id}/waivers",
            json={"item_id": "performance_status", "reason": "not theirs"},
        )
        assert refused.status_code == 403
        assert refused.json() == {"error": f"case {case_id} is not assigned to you"}
        listed = await other.get("/api/v1/cases")
        assert case_id not in {row["case_id"] for row in listed.json()}
        # Nor may they look at another coordinator's queue, or start a case in their name.
        theirs = await other.get("/api/v1/cases", params={"coordinator": "coord-a"})
        assert theirs.status_code == 403
        started = await other.post("/api/v1/cases", json=intake_for("coord-a"))
        assert started.status_code == 403
    after = await cases.case_status(web_stack.client, case_id)
    assert after.timeline == before.timeline and after.missing_items == before.missing_items

    async with web_stack.api("ops") as ops:
        assert (await ops.get(f"/api/v1/cases/{case_id}")).status_code == 403
    async with web_stack.api("sup") as supervisor:
        status = await supervisor.get(f"/api/v1/cases/{case_id}")
        assert status.status_code == 200 and status.json()["case_id"] == case_id
    async with web_stack.api("coord-a") as owner:
        waived = await owner.post(
            f"/api/v1/cases/{case_id}/waivers",
            json={"item_id": "performance_status", "reason": "assessed at the clinic"},
        )
        assert waived.status_code == 200, waived.text
        assert waived.json()["stage"] == "RECORDS"
    after_waiver = await cases.case_status(web_stack.client, case_id)
    assert "performance_status" not in after_waiver.missing_items


async def test_upload_streams_to_the_case_once(web_stack: WebStack, seaweed):
    case_id = await start(web_stack, "coord-a", "coord-a")
    body = fictional_pdf("biopsy via the API")
    async with web_stack.api("coord-a") as api:
        first = await api.post(
            f"/api/v1/cases/{case_id}/documents",
            params={"kind": "biopsy_report"},
            content=body,
            headers={"X-File-Name": "biopsy%20report.pdf"},
        )
        assert first.status_code == 201, first.text
        again = await api.post(
            f"/api/v1/cases/{case_id}/documents", params={"kind": "biopsy_report"}, content=body
        )
        assert again.status_code == 201
    ref = first.json()["document"]
    assert again.json()["document"]["document_id"] == ref["document_id"]
    assert ref["original_filename"] == "biopsy report.pdf" and ref["size"] == len(body)
    versions = seaweed.client().list_object_versions(Bucket=seaweed.bucket, Prefix=ref["key"])
    assert len(versions.get("Versions", [])) == 1
    status = await cases.case_status(web_stack.client, case_id)
    assert "biopsy" not in status.missing_items


async def test_bad_input_is_one_line_and_changes_nothing(web_stack: WebStack, seaweed):
    case_id = await start(web_stack, "coord-a", "coord-a")
    before = await cases.case_status(web_stack.client, case_id)
    async with web_stack.api("coord-a") as api:
        # A shell script named like a PDF is refused by the same checks as `case upload`.
        script = await api.post(
            f"/api/v1/cases/{case_id}/documents",
            params={"kind": "imaging"},
            content=b"\x00\x01 not an image at all",
        )
        assert script.status_code == 400 and set(script.json()) == {"error"}
        empty = await api.post(
            f"/api/v1/cases/{case_id}/documents", params={"kind": "biopsy_report"}, content=b""
        )
        assert empty.status_code == 400
        wrong_kind = await api.post(
            f"/api/v1/cases/{case_id}/documents", params={"kind": "x-ray-of-soul"}, content=b"x"
        )
        assert wrong_kind.status_code == 400 and "kind" in wrong_kind.json()["error"]
        not_json = await api.post(
            f"/api/v1/cases/{case_id}/hold",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert not_json.status_code == 400
        huge = await api.post(
            f"/api/v1/cases/{case_id}/hold",
            content=b'{"reason": "' + b"x" * (2 * 1024**2) + b'"}',
            headers={"Content-Type": "application/json"},
        )
        assert huge.status_code == 413 and set(huge.json()) == {"error"}
        # Control characters in free text: refused with one line naming the field (issue 11).
        hostile = await api.post(
            f"/api/v1/cases/{case_id}/waivers",
            json={"item_id": "performance_status", "reason": "ok\x1b[2J\x1b[31mwiped"},
        )
        assert hostile.status_code in (400, 422) and set(hostile.json()) == {"error"}
        assert "reason" in hostile.json()["error"] and "control" in hostile.json()["error"]
        assert "\n" not in hostile.json()["error"]
        missing = await api.get(f"/api/v1/cases/{'a' * 26}")
        assert missing.status_code == 404
        assert missing.json() == {"error": f"CASE_ID: no case {'a' * 26}"}
    after = await cases.case_status(web_stack.client, case_id)
    assert after.documents == before.documents and after.timeline == before.timeline
    listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=f"cases/{case_id}/")
    assert listed.get("KeyCount", 0) == 0


async def test_the_cli_and_the_api_say_the_same(web_stack: WebStack):
    case_id = await start(web_stack, "coord-a", "coord-a")
    async with web_stack.api("coord-a") as api:
        # A validator's refusal: selecting a hospital while the case is in RECORDS.
        api_select = await api.post(
            f"/api/v1/cases/{case_id}/selection", json={"hospital_id": "cn-beijing-cancer"}
        )
        # An unknown checklist item, refused by the workflow's validator.
        api_waive = await api.post(
            f"/api/v1/cases/{case_id}/waivers", json={"item_id": "no_such_item", "reason": "r"}
        )
        api_missing = await api.get(f"/api/v1/cases/{'b' * 26}")
    cli_select = await asyncio.to_thread(
        web_stack.cli, "case", "select", case_id, "cn-beijing-cancer"
    )
    cli_waive = await asyncio.to_thread(
        web_stack.cli, "case", "waive", case_id, "no_such_item", "--reason", "r"
    )
    cli_missing = await asyncio.to_thread(web_stack.cli, "case", "status", "b" * 26)
    assert api_select.status_code == 409 and cli_select[0] == 1
    assert api_select.json()["error"] == cli_select[1]
    assert api_waive.status_code == 409 and api_waive.json()["error"] == cli_waive[1]
    assert api_missing.status_code == 404 and api_missing.json()["error"] == cli_missing[1]
    # And a success gives the same case state either way: both see RECORDS.
    async with web_stack.api("coord-a") as api:
        api_status = (await api.get(f"/api/v1/cases/{case_id}")).json()
    direct = await cases.case_status(web_stack.client, case_id)
    assert api_status == json.loads(direct.model_dump_json())


async def test_every_case_access_is_audited_under_its_identity(web_stack: WebStack, seaweed):
    case_id = await start(web_stack, "coord-a", "coord-a")
    async with web_stack.api("sup") as supervisor:
        for _ in range(3):
            assert (await supervisor.get(f"/api/v1/cases/{case_id}")).status_code == 200
    trail = AuditTrail(web_stack.settings)

    async def accessed():
        return [
            e
            for e in await asyncio.to_thread(trail.entries, case_id)
            if e.action == AuditAction.CASE_ACCESSED
        ]

    for _ in range(100):
        entries = await accessed()
        reads = [e for e in entries if e.subject == "status" and e.actor.endswith("sup")]
        if sum(int(e.detail["count"] or 0) for e in reads) >= 3:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail(f"status reads not audited: {[e.model_dump() for e in entries]}")
    assert any(e.subject == "start" and "coord-a" in e.actor for e in entries)
    assert all(e.detail["via"] == "token" for e in reads)
