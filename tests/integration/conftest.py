"""Integration fixtures: a real SeaweedFS on free loopback ports with generated credentials."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from caseflow.keyring import ensure_key_file
from caseflow.settings import CaseflowSettings
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket, s3_client


@dataclass(frozen=True)
class SeaweedStore:
    server: SeaweedFS
    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str
    settings: CaseflowSettings

    def client(self):
        """A plain signed client, for looking at the bucket behind DocumentStore's back."""
        return s3_client(self.endpoint_url, self.access_key, self.secret_key)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory) -> Iterator[SeaweedStore]:
    data_dir = tmp_path_factory.mktemp("seaweedfs")
    access_key = "cf" + secrets.token_hex(8)
    secret_key = secrets.token_urlsafe(30)
    server = SeaweedFS(data_dir, access_key, secret_key, ports=SeaweedPorts.pick_free())
    server.start(timeout=60)
    try:
        bucket = "caseflow-documents"
        ensure_bucket(server.endpoint_url, access_key, secret_key, bucket)
        # Payloads are encrypted: the worker and every client here share this test key file.
        ensure_key_file(data_dir / "keys.json")
        settings = CaseflowSettings(
            s3_endpoint_url=server.endpoint_url,
            s3_access_key_id=access_key,
            s3_secret_access_key=secret_key,
            s3_bucket=bucket,
            data_dir=data_dir,
        )
        yield SeaweedStore(server, server.endpoint_url, access_key, secret_key, bucket, settings)
    finally:
        server.stop()
