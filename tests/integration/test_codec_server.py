"""The codec server on a real port with the audit trail on real SeaweedFS: bearer tokens, CORS for
a Web UI on its own origin, every decode audited, and the temporal CLI reading a history with and
without it. (The dev stack's Web UI decodes through the web service: test_ops_view.py.)"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client

from activities.audit import AuditAction, AuditTrail
from caseflow.ids import case_workflow_id, new_case_id
from caseflow.keyring import Keyring
from caseflow.payload_codec import EncryptionCodec, encrypted_data_converter
from coordinator.codec_server import build_codec_app, ui_origins
from infra.binaries import find_binary
from infra.server_process import free_port

pytestmark = pytest.mark.integration

CANARY = "Quillon Canarywick, passport X98765432"
TOKEN = "tok-" + uuid.uuid4().hex
UI_TOKEN = "ui-" + uuid.uuid4().hex


@dataclass
class CodecServer:
    url: str
    codec: EncryptionCodec
    audit: AuditTrail


@pytest.fixture(scope="module")
async def codec_server(seaweed) -> AsyncIterator[CodecServer]:
    settings = seaweed.settings.model_copy(update={"audit_bucket": f"audit-{uuid.uuid4().hex[:8]}"})
    codec = EncryptionCodec(Keyring.generate())
    audit = AuditTrail(settings)
    app = build_codec_app(codec, {"ops-cli": TOKEN, "ops-web-ui": UI_TOKEN}, audit,
                          ui_origins("http://127.0.0.1:8233"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield CodecServer(f"http://127.0.0.1:{port}", codec, audit)
    finally:
        await runner.cleanup()


def body(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


def payload_bytes(node) -> list[bytes]:
    """Every payload's data in a history as JSON, base64-decoded."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("data"), str) and "metadata" in node:
            found.append(base64.b64decode(node["data"]))
        for value in node.values():
            found += payload_bytes(value)
    elif isinstance(node, list):
        for value in node:
            found += payload_bytes(value)
    return found


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_preflight_allows_only_the_web_ui_origins(codec_server):
    async with httpx.AsyncClient() as http:
        for origin in ("http://127.0.0.1:8233", "http://localhost:8233"):
            answer = await http.options(
                f"{codec_server.url}/decode",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert answer.headers["access-control-allow-origin"] == origin
            allowed = {h.strip().lower() for h in
                       answer.headers["access-control-allow-headers"].split(",")}
            assert allowed == {"x-namespace", "content-type", "authorization"}
        answer = await http.options(
            f"{codec_server.url}/decode", headers={"Origin": "http://evil.example"}
        )
        assert "access-control-allow-origin" not in answer.headers


async def test_decode_needs_a_token_and_is_audited_without_plaintext(codec_server, seaweed):
    [sealed] = await codec_server.codec.encode([plain(CANARY)])
    case_id = new_case_id()
    workflow_id = case_workflow_id(case_id)
    referer = f"http://127.0.0.1:8233/namespaces/default/workflows/{workflow_id}/run-1/history"
    async with httpx.AsyncClient() as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = await http.post(
                f"{codec_server.url}/decode", content=body([sealed]),
                headers={"Content-Type": "application/json", **headers},
            )
            assert answer.status_code == 401
        # No token-in-the-path mode: a UI's endpoint is public in its settings.
        answer = await http.post(
            f"{codec_server.url}/t/{UI_TOKEN}/decode", content=body([sealed]),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 404
        assert await asyncio.to_thread(codec_server.audit.entries, case_id) == []

        # The CLI's way: a bearer header and the workflow named. A UI's: the page in Referer.
        cli = await http.post(
            f"{codec_server.url}/decode", content=body([sealed]),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}",
                     "X-Namespace": "default", "X-Workflow-Id": workflow_id},
        )
        ui = await http.post(
            f"{codec_server.url}/decode", content=body([sealed]),
            headers={"Content-Type": "application/json", "X-Namespace": "default",
                     "Authorization": f"Bearer {UI_TOKEN}",
                     "Origin": "http://localhost:8233", "Referer": referer},
        )
    for answer in (cli, ui):
        assert answer.status_code == 200, answer.text
        decoded = json_format.Parse(answer.text, Payloads()).payloads
        assert decoded == [plain(CANARY)]
    assert ui.headers["access-control-allow-origin"] == "http://localhost:8233"

    entries = await asyncio.to_thread(codec_server.audit.entries, case_id)
    assert [(e.action, e.actor, e.workflow_id) for e in entries] == [
        (AuditAction.PAYLOADS_DECODED, "ops-cli", workflow_id),
        (AuditAction.PAYLOADS_DECODED, "ops-web-ui", workflow_id),
    ]
    assert entries[0].detail["key_ids"] == codec_server.codec.keyring.current_key_id
    assert entries[0].detail["namespace"] == "default"
    s3 = seaweed.client()
    for item in s3.list_objects_v2(Bucket=codec_server.audit.bucket)["Contents"]:
        stored = s3.get_object(Bucket=codec_server.audit.bucket, Key=item["Key"])["Body"].read()
        assert b"Canarywick" not in stored and TOKEN.encode() not in stored
        assert UI_TOKEN.encode() not in stored


async def test_bad_requests_are_refused_in_one_line(codec_server):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{codec_server.url}/decode", content="{}",
                                 headers={**headers, "Content-Type": "text/plain"})
        assert answer.status_code == 415
        answer = await http.post(f"{codec_server.url}/decode", content="not json",
                                 headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code == 400
        foreign = await EncryptionCodec(Keyring.generate()).encode([plain(CANARY)])
        answer = await http.post(f"{codec_server.url}/decode", content=body(foreign),
                                 headers={**headers, "Content-Type": "application/json"})
        assert answer.status_code == 422 and "unknown key id" in answer.json()["error"]
        assert "Canarywick" not in answer.text


async def test_encode_round_trips(codec_server):
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{codec_server.url}/encode", content=body([plain("x")]),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        )
    [sealed] = json_format.Parse(answer.text, Payloads()).payloads
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert await codec_server.codec.decode([sealed]) == [plain("x")]


async def test_temporal_cli_shows_ciphertext_without_the_codec_and_plaintext_with_it(
    codec_server, temporal_dev_server
):
    client = await Client.connect(
        temporal_dev_server.address,
        data_converter=encrypted_data_converter(codec_server.codec),
    )
    workflow_id = case_workflow_id(new_case_id())
    # No worker polls this queue: the started event alone holds the encrypted input.
    handle = await client.start_workflow(
        "CaseWorkflow", {"note": CANARY}, id=workflow_id, task_queue=f"none-{uuid.uuid4().hex}",
        static_summary=f"summary {CANARY}",
    )
    try:
        show = [str(find_binary("temporal")), "workflow", "show", "-w", workflow_id,
                "--address", temporal_dev_server.address, "-o", "json"]
        bare = await asyncio.to_thread(subprocess.run, show, capture_output=True, text=True)
        assert bare.returncode == 0, bare.stderr
        assert not any(b"Canarywick" in data for data in payload_bytes(json.loads(bare.stdout)))
        assert base64.b64encode(b"binary/encrypted").decode() in bare.stdout
        with_codec = await asyncio.to_thread(
            subprocess.run,
            show + ["--codec-endpoint", codec_server.url, "--codec-auth", f"Bearer {TOKEN}"],
            capture_output=True, text=True,
        )
        assert with_codec.returncode == 0, with_codec.stderr
        assert any(b"Canarywick" in data for data in payload_bytes(json.loads(with_codec.stdout)))
    finally:
        await handle.terminate()
