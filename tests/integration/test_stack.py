"""The embedded stack's own parts, started for real: Temporal dev server, SMTP sink, processes."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage

import psutil
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from infra.mail_sink import MailSink
from infra.server_process import ServerProcess, StackError, free_port

pytestmark = pytest.mark.integration

EXPECTED_ATTRIBUTES = {
    "CaseStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Pathway": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "DestinationCountries": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "Hospitals": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
    "Escalated": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "EscalationLevel": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "SlaDueAt": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaWaitsFor": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "CoordinatorId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


async def test_dev_server_registers_case_search_attributes(temporal_dev_server):
    client = await Client.connect(temporal_dev_server.address)
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    registered = dict(response.custom_attributes)
    for name, kind in EXPECTED_ATTRIBUTES.items():
        assert registered.get(name) == kind, name


async def test_state_from_before_an_attribute_existed_gets_it_on_start(tmp_path, monkeypatch):
    """`start-dev --search-attribute` registers only when it creates its database; a dev stack
    kept from before SlaWaitsFor existed must still have it after `caseflow dev up`."""
    import infra.temporal_server as temporal_server

    grpc, ui, http, metrics = free_port(), free_port(), free_port(), free_port()

    def dev_server() -> temporal_server.TemporalDevServer:
        return temporal_server.TemporalDevServer(
            tmp_path, grpc_port=grpc, ui_port=ui, http_port=http, metrics_port=metrics
        )

    everything = temporal_server.cli_registrations()
    monkeypatch.setattr(
        temporal_server,
        "cli_registrations",
        lambda: [r for r in everything if not r.startswith("SlaWaitsFor=")],
    )
    older = dev_server()
    older.start()
    older.stop()
    monkeypatch.undo()
    server = dev_server()
    server.start()
    try:
        client = await Client.connect(server.address)
        response = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert dict(response.custom_attributes).get("SlaWaitsFor") == (
            IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        )
    finally:
        server.stop()


async def test_dev_server_keeps_state_in_its_sqlite_file(temporal_dev_server):
    assert (temporal_dev_server.state_dir / "temporal.db").stat().st_size > 0
    assert "--db-filename" in temporal_dev_server.command()


def test_mail_sink_keeps_every_message(tmp_path):
    sink = MailSink(tmp_path, port=free_port())
    sink.start()
    try:
        message = EmailMessage()
        message["From"] = "caseflow@example.invalid"
        message["To"] = "coordinator@example.invalid"
        message["Subject"] = "case needs attention"
        message.set_content("reminder")
        with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
            smtp.send_message(message)
        stored = sink.messages()
        assert len(stored) == 1
        assert b"case needs attention" in stored[0].read_bytes()
    finally:
        assert sink.stop()
    assert not sink.is_running()


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} on 127.0.0.1 is already in use"):
            MailSink(tmp_path, port=port).start()


def test_stop_only_stops_what_was_started(tmp_path):
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    unrelated = subprocess.Popen(command)
    try:
        sleeper = ServerProcess("sleeper", command, [], tmp_path)
        assert not sleeper.stop(), "nothing was started, so nothing may be stopped"
        sleeper.start()
        assert sleeper.is_running()
        assert sleeper.stop()
        assert not sleeper.is_running()
        assert unrelated.poll() is None, "an unrelated process was stopped"
    finally:
        unrelated.kill()
        unrelated.wait()


def test_a_recycled_pid_is_not_trusted(tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        server = ServerProcess("server", [sys.executable, "-m", "worker"], [], tmp_path)
        server.run_dir.mkdir(exist_ok=True)
        # The pid file names the stranger's pid but an earlier start: a recycled pid.
        started = psutil.Process(stranger.pid).create_time()
        server.pid_file.write_text(f"{stranger.pid} {started - 100}")
        assert server.pid() is None
        assert not server.stop()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_server_that_never_gets_ready_is_stopped(tmp_path):
    sleeper = ServerProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                            [], tmp_path)
    pid = sleeper.start()
    with pytest.raises(StackError, match="sleeper not ready after 1s"):
        sleeper.wait_until(lambda: False, timeout=1)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not sleeper.pid_file.exists()
