"""The ops view through the real web service: the Temporal Web UI (a real dev server started with
the stack's UI flags) behind the login, and its codec endpoint decoding a real workflow's
encrypted payload, audited on real SeaweedFS under the identity that asked and its case."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payloads
from typer.testing import CliRunner

from activities.audit import AuditAction, AuditTrail
from caseflow.ids import case_workflow_id, new_case_id
from caseflow.settings import OPS_UI_PATH, CaseflowSettings, get_settings
from caseflow.temporal_client import connect
from client.identities import IdentityStore
from coordinator.cli import cli
from infra.server_process import free_port
from infra.stack import ui_codec_endpoint
from infra.temporal_server import TemporalDevServer
from tests.integration.web_service import ServiceThread, running_service

pytestmark = pytest.mark.integration

CANARY = "Quillon Canarywick, passport X98765432"
CLI_TOKEN = "cli-" + uuid.uuid4().hex


PASSWORD = "ops view test password"
LOGINS = {"ops": "ops-test", "supervisor": "sup-test", "coordinator": "coord-test"}


def session_cookies(url: str, login: str) -> dict[str, str]:
    """Log in through the real login form and return the browser's cookies."""
    with httpx.Client(base_url=url, timeout=10) as browser:
        page = browser.get("/login").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, "the login form carries a CSRF token"
        done = browser.post(
            "/login", data={"login": login, "password": PASSWORD, "csrf_token": found.group(1)}
        )
        assert done.status_code in (200, 303), done.text
        return dict(browser.cookies)


@dataclass
class OpsStack:
    service: ServiceThread
    temporal: TemporalDevServer
    settings: CaseflowSettings
    audit: AuditTrail
    sessions: dict[str, dict[str, str]]  # who -> the cookies of their real login
    token: str  # a supervisor's API token

    def url(self, path: str) -> str:
        return f"{self.service.url}{path}"

    def cookies(self, who: str) -> dict[str, str]:
        return self.sessions[who]

    def browser(self, who: str | None) -> dict[str, str]:
        """What a browser on the service's own page sends with a POST."""
        headers = {"Origin": self.service.url, "Sec-Fetch-Site": "same-origin"}
        if who:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.sessions[who].items())
        return headers


@pytest.fixture(scope="module")
def ops_stack(seaweed, tmp_path_factory) -> Iterator[OpsStack]:
    port = free_port()
    home = tmp_path_factory.mktemp("ops-identities")
    settings = seaweed.settings.model_copy(
        update={
            "audit_bucket": f"audit-{uuid.uuid4().hex[:8]}",
            "public_url": f"http://127.0.0.1:{port}",
            "web_port": port,
            "codec_tokens": {"ops-cli": SecretStr(CLI_TOKEN)},
            "key_file": seaweed.settings.data_dir / "keys.json",
            "identity_db_url": f"sqlite:///{home / 'identities.db'}",
            "session_secret": SecretStr("ops-view-test-" + uuid.uuid4().hex),
        }
    )
    # Started as infra/stack.py starts it: the UI under the service's path, decoding through the
    # service's codec endpoint.
    temporal = TemporalDevServer(
        tmp_path_factory.mktemp("temporal-ops"), grpc_port=free_port(), ui_port=free_port(),
        http_port=free_port(), metrics_port=free_port(), ui_public_path=OPS_UI_PATH,
        ui_codec_endpoint=ui_codec_endpoint(settings),
    )
    temporal.start()
    try:
        settings = settings.model_copy(
            update={"temporal_address": temporal.address, "temporal_ui_url": temporal.ui_url}
        )
        store = IdentityStore.from_settings(settings)
        for who, login in LOGINS.items():
            store.add_user(login, who, name=f"Test {who}", email=f"{login}@example.invalid",
                           password=PASSWORD)
        token = store.create_token(user="sup-test", label="ops view test").secret
        store.close()
        with running_service(settings, port=port) as service:
            sessions = {who: session_cookies(service.url, login) for who, login in LOGINS.items()}
            yield OpsStack(
                service, temporal, service.settings, AuditTrail(service.settings), sessions, token
            )
    finally:
        temporal.stop()


@dataclass
class StartedCase:
    case_id: str
    workflow_id: str
    run_id: str
    sealed: Payloads  # the workflow's input as Temporal stores it


@pytest.fixture(scope="module")
async def started_case(ops_stack) -> AsyncIterator[StartedCase]:
    """A real workflow whose input is encrypted with the settings' key file. No worker polls its
    queue: the started event alone holds the encrypted input."""
    client = await connect(ops_stack.settings)
    case_id = new_case_id()
    handle = await client.start_workflow(
        "CaseWorkflow", {"note": CANARY}, id=case_workflow_id(case_id),
        task_queue=f"none-{uuid.uuid4().hex}",
    )
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
    try:
        yield StartedCase(case_id, handle.id, handle.result_run_id or "", started.input)
    finally:
        await handle.terminate()


async def ui_answer(http: httpx.AsyncClient, url: str) -> httpx.Response:
    """The UI's port may answer a moment before its API does, and the UI server's first dial of
    the frontend, if too early, backs off for a second or more: 503 until then."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            answer = await http.get(url)
            if answer.status_code != 503:
                return answer
        except httpx.HTTPError:
            pass
        assert asyncio.get_running_loop().time() < deadline, "the UI never answered"
        await asyncio.sleep(0.2)


def decode_body(case: StartedCase) -> str:
    return json_format.MessageToJson(case.sealed)


def page_of(stack: OpsStack, case: StartedCase) -> str:
    return stack.url(
        f"{OPS_UI_PATH}/namespaces/default/workflows/{case.workflow_id}/{case.run_id}/history"
    )


async def test_the_ui_settings_reveal_no_codec_token(ops_stack):
    async with httpx.AsyncClient(timeout=10, cookies=ops_stack.cookies("ops")) as http:
        direct = await ui_answer(http, f"{ops_stack.temporal.ui_url}{OPS_UI_PATH}/api/v1/settings")
        proxied = await http.get(ops_stack.url(f"{OPS_UI_PATH}/api/v1/settings"))
    assert proxied.status_code == 200, proxied.text
    for answer in (direct, proxied):
        codec = answer.json()["Codec"]
        assert codec["Endpoint"] == f"{ops_stack.service.url}/ops/codec"
        assert codec["PassAccessToken"] is False
        assert CLI_TOKEN not in answer.text and "/t/" not in answer.text
    assert proxied.headers["cache-control"] == "no-store"


async def test_no_login_is_sent_to_log_in_or_refused(ops_stack, started_case):
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(page_of(ops_stack, started_case), headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == (
            f"/login?next={OPS_UI_PATH}/namespaces/default/workflows/{started_case.workflow_id}"
            f"/{started_case.run_id}/history"
        )
        api = await http.get(ops_stack.url(f"{OPS_UI_PATH}/api/v1/settings"))
        assert api.status_code == 401 and "log in" in api.json()["error"]
        decode = await http.post(
            ops_stack.url("/ops/codec/decode"), content=decode_body(started_case),
            headers={"Content-Type": "application/json", **ops_stack.browser(None),
                     "Referer": page_of(ops_stack, started_case)},
        )
        assert decode.status_code == 401
        assert CANARY not in decode.text
    assert await asyncio.to_thread(ops_stack.audit.entries, started_case.case_id) == []


async def test_a_coordinator_is_refused_the_ops_view(ops_stack, started_case):
    async with httpx.AsyncClient(timeout=10, cookies=ops_stack.cookies("coordinator")) as http:
        page = await http.get(page_of(ops_stack, started_case), headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert page.json()["error"] == (
            "the ops view needs the ops or supervisor role; you are coordinator"
        )
        decode = await http.post(
            ops_stack.url("/ops/codec/decode"), content=decode_body(started_case),
            headers={"Content-Type": "application/json", **ops_stack.browser(None)},
        )
        assert decode.status_code == 403 and CANARY not in decode.text
    assert await asyncio.to_thread(ops_stack.audit.entries, started_case.case_id) == []


async def test_an_ops_login_decodes_and_the_decode_is_in_the_case_audit(
    ops_stack, started_case, seaweed
):
    async with httpx.AsyncClient(timeout=10) as http:
        # The UI's request: its page as Referer, its namespace, our session cookie, same origin.
        answer = await http.post(
            ops_stack.url("/ops/codec/decode?preserveStorageRefs=true"),
            content=decode_body(started_case),
            headers={"Content-Type": "application/json", "X-Namespace": "default",
                     "Referer": page_of(ops_stack, started_case), **ops_stack.browser("ops")},
        )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    [decoded] = json_format.Parse(answer.text, Payloads()).payloads
    assert CANARY.encode() in decoded.data

    entries = await asyncio.to_thread(ops_stack.audit.entries, started_case.case_id)
    assert [(e.action, e.actor, e.workflow_id, e.detail["namespace"]) for e in entries] == [
        (AuditAction.PAYLOADS_DECODED, "user:ops-test", started_case.workflow_id, "default")
    ]
    # `caseflow case audit CASE` shows it.
    env = {
        "CASEFLOW_S3_ENDPOINT_URL": seaweed.endpoint_url,
        "CASEFLOW_S3_ACCESS_KEY_ID": seaweed.access_key,
        "CASEFLOW_S3_SECRET_ACCESS_KEY": seaweed.secret_key,
        "CASEFLOW_AUDIT_BUCKET": ops_stack.audit.bucket,
    }
    get_settings.cache_clear()
    try:
        shown = await asyncio.to_thread(
            CliRunner().invoke, cli, ["case", "audit", started_case.case_id, "--json"], env=env
        )
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert '"actor":"user:ops-test"' in shown.output and "payloads_decoded" in shown.output
    assert CANARY not in shown.output


async def test_a_decode_from_another_origin_is_refused_and_not_audited(ops_stack, started_case):
    referer = page_of(ops_stack, started_case)
    refusals: tuple[dict[str, str], ...] = (
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": ops_stack.service.url, "Sec-Fetch-Site": "same-site"},
        {},  # no Origin at all: no browser POSTs like that
    )
    async with httpx.AsyncClient(timeout=10, cookies=ops_stack.cookies("supervisor")) as http:
        for headers in refusals:
            answer = await http.post(
                ops_stack.url("/ops/codec/decode"), content=decode_body(started_case),
                headers={"Content-Type": "application/json", "Referer": referer, **headers},
            )
            assert answer.status_code == 403, headers
            assert "its own pages only" in answer.json()["error"]
        bad = await http.post(
            ops_stack.url("/ops/codec/decode"), content="not json",
            headers={"Content-Type": "application/json", **ops_stack.browser(None)},
        )
        assert bad.status_code == 400 and bad.json()["error"].startswith("body:")
    entries = await asyncio.to_thread(ops_stack.audit.entries, started_case.case_id)
    assert all(e.actor != "user:sup-test" for e in entries)


async def test_an_api_token_decodes_without_a_browser_origin(ops_stack, started_case):
    """A supervisor's API token (a tool, not a browser) decodes; it names the workflow itself."""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            ops_stack.url("/ops/codec/decode"), content=decode_body(started_case),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {ops_stack.token}",
                "X-Workflow-Id": started_case.workflow_id,
            },
        )
    assert answer.status_code == 200, answer.text
    entries = await asyncio.to_thread(ops_stack.audit.entries, started_case.case_id)
    seen = [(e.actor, e.workflow_id) for e in entries]
    assert ("user:sup-test", started_case.workflow_id) in seen


async def test_the_proxied_ui_is_served_and_read_only(ops_stack, started_case):
    async with httpx.AsyncClient(timeout=10, cookies=ops_stack.cookies("ops")) as http:
        page = await http.get(page_of(ops_stack, started_case), headers={"Accept": "text/html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f"{OPS_UI_PATH}/_app/" in page.text
        assert page.headers["referrer-policy"] == "same-origin"
        # The UI server's CSRF cookie is kept to the UI's pages.
        assert all(f"Path={OPS_UI_PATH}" in c for c in page.headers.get_list("set-cookie"))
        described = await ui_answer(http, ops_stack.url(
            f"{OPS_UI_PATH}/api/v1/namespaces/default/workflows/{started_case.workflow_id}"
        ))
        assert described.status_code == 200, described.text
        assert described.json()["workflowExecutionInfo"]["execution"]["workflowId"] == (
            started_case.workflow_id
        )
        assert CANARY not in described.text  # payloads stay encrypted until the codec decodes
        terminate = await http.post(
            ops_stack.url(f"{OPS_UI_PATH}/api/v1/namespaces/default/workflows/"
                          f"{started_case.workflow_id}/terminate"),
            content="{}", headers={"Content-Type": "application/json", **ops_stack.browser(None)},
        )
        assert terminate.status_code == 403
        assert terminate.json()["error"] == (
            "the ops view is read-only: case actions go through the caseflow API"
        )
