"""The real stack the fault tests break: a Temporal dev server and SeaweedFS on free loopback
ports, a worker and the web service each in its own process (bench/service_stack.py, the one
stack builder), with step patience short enough to see within a test."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from bench.service_stack import ServiceStack, service_stack, settings_env
from caseflow.temporal_client import connect

pytestmark = pytest.mark.integration

CASEFLOW = str(Path(sys.executable).parent / "caseflow")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The webhook hospital's Standard Webhooks secret, so a test can stand up its endpoint
# (the case's directory snapshot gives the endpoint's URL; the worker keeps the secret).
WEBHOOK_HOSPITAL = "cn-xiamen-bnct"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
# Long enough to outlast each fault here, short of the defaults' hours.
FAULT_ENV = {
    "CASEFLOW_STEP_PATIENCE_MINUTES": json.dumps({"packet": 10, "storage": 10, "webhook": 10,
                                                  "email": 10, "mail": 10}),
    "CASEFLOW_STEP_RETRY_MAXIMUM_SECONDS": "2",
    "CASEFLOW_WEBHOOK_SECRETS": json.dumps({WEBHOOK_HOSPITAL: WEBHOOK_SECRET}),
}


@dataclass
class FaultStack:
    stack: ServiceStack
    client: Client
    env: dict[str, str]

    def caseflow(self, *args: str, timeout: float = 60) -> tuple[int, str, str]:
        """The real CLI in its own process, as a coordinator runs it."""
        done = subprocess.run(
            [CASEFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            cwd=self.stack.settings.data_dir,
        )
        return done.returncode, done.stdout, done.stderr

    def spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [CASEFLOW, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.stack.settings.data_dir,
        )


@pytest.fixture(scope="module")
async def faults(tmp_path_factory) -> AsyncIterator[FaultStack]:
    workdir = tmp_path_factory.mktemp("faults")
    async with service_stack(workdir, f"faults-{uuid.uuid4().hex[:8]}", FAULT_ENV) as stack:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)}
        env |= settings_env(stack.settings) | FAULT_ENV
        client = await connect(stack.settings)
        yield FaultStack(stack, client, env)

