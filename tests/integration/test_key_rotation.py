"""Key rotation on the real dev server: a case started under key A finishes after `keys rotate`
made key B current and the worker restarted; its history holds payloads under both keys, and
the rotated keyring decodes all of them."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from typer.testing import CliRunner

from caseflow.case_events import Withdraw
from caseflow.case_status import CaseOutcome, CaseStage
from caseflow.keyring import Keyring, ensure_key_file
from caseflow.payload_codec import EncryptionCodec, PayloadDecryptionError
from caseflow.settings import get_settings
from caseflow.temporal_client import connect
from client import cases as case_client
from coordinator.cli import cli
from coordinator.demo import DemoCase

pytestmark = pytest.mark.integration


def payloads_in(message) -> list[Payload]:
    """Every Payload inside a protobuf message (inputs, results, memo, headers, summaries...),
    except search attributes, which Temporal never passes through a codec (so they hold no PHI),
    and `workflow.patched` markers, which the SDK's core writes itself (the patch id only)."""
    if isinstance(message, Payload):
        return [message]
    if getattr(message, "marker_name", None) == "core_patch":
        return []
    found = []
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None or descriptor.name == "search_attributes":
            continue
        if hasattr(value, "ListFields"):
            items = [value]
        elif descriptor.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = list(value)
        for item in items:
            if hasattr(item, "ListFields"):
                found += payloads_in(item)
    return found


def rotate_with_the_cli(key_file) -> dict:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli, ["keys", "rotate", "--json"], env={"CASEFLOW_KEY_FILE": str(key_file)}
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_a_case_started_under_key_a_finishes_under_key_b(
    temporal_dev_server, seaweed, tmp_path
):
    from worker import build_worker

    key_file = tmp_path / "keys.json"
    ensure_key_file(key_file)
    key_a = Keyring.from_file(key_file).current_key_id
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "task_queue": f"rotation-{uuid.uuid4().hex[:8]}",
            "key_file": key_file,
        }
    )

    client_a = await connect(settings)
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with build_worker(client_a, settings, executor):
            case = DemoCase(client_a, settings, tmp_path, say=lambda _: None, stage_timeout=20)
            case_id = await case.start()
            await case.upload_records()
            await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)

    rotated = rotate_with_the_cli(key_file)
    key_b = rotated["current"]
    assert key_b != key_a and set(rotated["keys"]) == {key_a, key_b}

    # A new worker (empty cache: it replays the history written under key A) and a new client.
    client_b = await connect(settings)
    with ThreadPoolExecutor(max_workers=16) as executor:
        async with build_worker(client_b, settings, executor):
            await case_client.withdraw(
                client_b, case_id, Withdraw(reason="rotation test", erase=True)
            )
            result = await case_client.case_handle(client_b, case_id).result()
    assert result.outcome == CaseOutcome.WITHDRAWN and result.documents_erased

    bare = await Client.connect(settings.temporal_address)
    history = await bare.get_workflow_handle(f"case-{case_id}").fetch_history()
    payloads = [p for event in history.events for p in payloads_in(event)]
    named = {p.metadata.get("encryption-key-id", b"").decode() for p in payloads}
    assert named == {key_a, key_b}, "every payload is encrypted, under A before and B after"

    # The rotated keyring decodes both; key A alone cannot read what B wrote.
    decoded = await EncryptionCodec(Keyring.from_file(key_file)).decode(payloads)
    assert all(p.metadata.get("encoding") != b"binary/encrypted" for p in decoded)
    only_a = EncryptionCodec(Keyring({key_a: Keyring.from_file(key_file).keys[key_a]}, key_a))
    under_b = [p for p in payloads if p.metadata["encryption-key-id"].decode() == key_b]
    with pytest.raises(PayloadDecryptionError, match=key_b):
        await only_a.decode(under_b)
