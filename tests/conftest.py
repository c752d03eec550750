"""Fixtures shared by every test layer: a real Temporal dev server on free loopback ports."""

from __future__ import annotations

import pytest

from infra.server_process import free_port
from infra.temporal_server import TemporalDevServer


@pytest.fixture(scope="session")
def temporal_dev_server(tmp_path_factory):
    """The Temporal dev server started through infra/, with caseflow's search attributes."""
    server = TemporalDevServer(
        tmp_path_factory.mktemp("temporal"),
        grpc_port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )
    server.start()
    yield server
    server.stop()
