"""Temporal over mTLS: the dev server behind nginx (infra/grpc_tls_proxy.py), which terminates TLS
and requires a client certificate from its CA. caseflow's one connect() (worker, CLI, web service)
gets through with the configured certificate, key and CA; without a certificate, or with one from
another CA, it is refused."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from caseflow.keyring import ensure_key_file
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect, tls_config
from coordinator.cli import run
from infra.grpc_tls_proxy import GrpcTlsProxy
from infra.server_process import free_port


@workflow.defn(name="MtlsEcho")
class MtlsEcho:
    @workflow.run
    async def run(self, text: str) -> str:
        return f"echo: {text}"


@dataclass(frozen=True)
class Certs:
    server_ca: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # from a CA the proxy does not trust
    stranger_key: Path


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    folder = tmp_path_factory.mktemp("mtls-pki")
    server_ca, client_ca, stranger_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    client = client_ca.issue_cert("caseflow-worker@example.invalid")
    stranger = stranger_ca.issue_cert("caseflow-worker@example.invalid")
    files = {
        "server-ca.pem": server_ca.cert_pem, "client-ca.pem": client_ca.cert_pem,
        "server.pem": server.cert_chain_pems[0], "server.key": server.private_key_pem,
        "client.pem": client.cert_chain_pems[0], "client.key": client.private_key_pem,
        "stranger.pem": stranger.cert_chain_pems[0], "stranger.key": stranger.private_key_pem,
    }
    for name, blob in files.items():
        blob.write_to_path(str(folder / name))
    return Certs(folder / "server-ca.pem", folder / "client.pem", folder / "client.key",
                 folder / "stranger.pem", folder / "stranger.key")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, temporal_dev_server, certs):
    folder = tmp_path_factory.mktemp("grpc-proxy")
    proxy = GrpcTlsProxy(
        folder, port=free_port(), upstream=temporal_dev_server.address,
        cert_file=certs.server_ca.parent / "server.pem",
        key_file=certs.server_ca.parent / "server.key",
        client_ca_file=certs.server_ca.parent / "client-ca.pem",
    )
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mtls-data")
    ensure_key_file(folder / "keys.json")
    return folder


def settings_through(proxy: GrpcTlsProxy, data_dir: Path, **tls) -> CaseflowSettings:
    return CaseflowSettings(temporal_address=proxy.address, data_dir=data_dir, **tls)


def mtls(certs: Certs) -> dict:
    return dict(
        temporal_tls_client_cert=certs.client_cert, temporal_tls_client_key=certs.client_key,
        temporal_tls_server_ca=certs.server_ca,
    )


async def test_a_client_with_the_certificate_starts_a_workflow_through_the_proxy(
    proxy, certs, data_dir, temporal_dev_server
):
    client = await connect(settings_through(proxy, data_dir, **mtls(certs)))
    workflow_id = f"mtls-probe-{uuid.uuid4().hex}"
    handle = await client.start_workflow(
        "MtlsProbe", id=workflow_id, task_queue=f"mtls-{uuid.uuid4().hex}"
    )
    try:
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await handle.terminate("probe done")
    # It went through nginx: the proxy logged the gRPC calls.
    log = (proxy.state_dir / "access.log").read_text()
    assert "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution" in log


async def test_a_worker_polls_through_the_proxy(proxy, certs, data_dir):
    client = await connect(settings_through(proxy, data_dir, **mtls(certs)))
    queue = f"mtls-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[MtlsEcho],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        result = await client.execute_workflow(
            MtlsEcho.run, "over mTLS", id=f"mtls-echo-{uuid.uuid4().hex}", task_queue=queue
        )
    assert result == "echo: over mTLS"


async def test_the_server_name_can_differ_from_the_address(proxy, certs, data_dir):
    # The certificate names "localhost"; the address is an IP.
    settings = settings_through(
        proxy, data_dir, **mtls(certs), temporal_tls_server_name="localhost"
    )
    client = await connect(settings)
    assert (await client.count_workflows("WorkflowId = 'none'")).count == 0


@pytest.mark.parametrize("who", ["no certificate", "a stranger's certificate"])
async def test_a_client_without_a_trusted_certificate_is_refused(who, proxy, certs, data_dir):
    tls: dict = {"temporal_tls_server_ca": certs.server_ca}
    if who != "no certificate":
        tls |= {"temporal_tls_client_cert": certs.stranger_cert,
                "temporal_tls_client_key": certs.stranger_key}
    settings = settings_through(proxy, data_dir, **tls)
    log = proxy.state_dir / "error.log"
    seen = log.read_text().count("\n")
    with pytest.raises(RuntimeError):
        client = await connect(settings)
        await client.count_workflows()  # in case the handshake was lazy
    # nginx refused it for the certificate, not for anything else.
    said = "".join(log.read_text().splitlines(keepends=True)[seen:])
    expected = ("client sent no required SSL certificate" if who == "no certificate"
                else "client SSL certificate verify error")
    assert expected in said


async def test_a_server_not_signed_by_the_configured_ca_is_refused(proxy, certs, data_dir):
    settings = settings_through(
        proxy, data_dir, temporal_tls_client_cert=certs.client_cert,
        temporal_tls_client_key=certs.client_key,
        temporal_tls_server_ca=certs.server_ca.parent / "client-ca.pem",  # the wrong CA
    )
    with pytest.raises(RuntimeError):
        client = await connect(settings)
        await client.count_workflows()


def test_the_cli_through_the_proxy(proxy, certs, data_dir, monkeypatch, capsys):
    """`caseflow case status` reaches Temporal through the proxy with the certificate (and says
    the case is unknown), and without it says in one line that TLS is the problem."""
    for name, value in mtls(certs).items():
        monkeypatch.setenv(f"CASEFLOW_{name.upper()}", str(value))
    monkeypatch.setenv("CASEFLOW_TEMPORAL_ADDRESS", proxy.address)
    monkeypatch.setenv("CASEFLOW_DATA_DIR", str(data_dir))
    unknown = "z" * 26
    get_settings.cache_clear()
    try:
        assert run(["case", "status", unknown]) == 1
        reached = capsys.readouterr().err
        monkeypatch.delenv("CASEFLOW_TEMPORAL_TLS_CLIENT_CERT")
        monkeypatch.delenv("CASEFLOW_TEMPORAL_TLS_CLIENT_KEY")
        get_settings.cache_clear()
        assert run(["case", "status", unknown]) == 1
        refused = capsys.readouterr().err
    finally:
        get_settings.cache_clear()
    assert "cannot reach Temporal" not in reached and unknown in reached
    assert refused == (
        f"error: cannot reach Temporal at {proxy.address} over TLS (check "
        "temporal_tls_client_cert, temporal_tls_client_key and temporal_tls_server_ca)\n"
    )


def test_a_certificate_without_its_key_is_one_line(certs, tmp_path):
    with pytest.raises(ValueError, match="^temporal_tls_client_cert and temporal_tls_client_key: "
                                         "set both or neither$"):
        tls_config(CaseflowSettings(temporal_tls_client_cert=certs.client_cert, data_dir=tmp_path))


def test_a_missing_pem_file_names_the_setting(tmp_path):
    missing = tmp_path / "ca.pem"
    with pytest.raises(ValueError) as caught:
        tls_config(CaseflowSettings(temporal_tls_server_ca=missing, data_dir=tmp_path))
    assert str(caught.value) == (
        f"temporal_tls_server_ca: cannot read {missing} (No such file or directory)"
    )


def test_without_tls_settings_the_dev_server_is_plain(tmp_path):
    assert tls_config(CaseflowSettings(data_dir=tmp_path)) is False
    assert tls_config(CaseflowSettings(data_dir=tmp_path, temporal_api_key="k")) is True
