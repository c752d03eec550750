"""Worker versioning on the real dev server: build 2 of the worker deployment starts beside
build 1 and is made current with the CLI from the wheel. A case and a patient inquiry started on
build 1 move to build 2 at their next workflow task (auto-upgraded: build 2 replays what build 1
recorded) and end there; the case the inquiry starts, and a case started now, run on build 2
alone. Which build ran each workflow task is read from the histories."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from importlib import metadata

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import RoutingConfigUpdateState
from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError

from caseflow.case_events import Withdraw
from caseflow.ids import inquiry_workflow_id
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from client import cases, inquiries
from infra.binaries import find_binary
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.inquiry_builders import fictional_inquiry
from tests.polling import until
from tests.workflows.cases import intake as fictional_intake
from worker import build_worker, deployment_config
from workflows.inquiry import InquiryWorkflow

pytestmark = pytest.mark.integration

TODAY = date(2025, 3, 1)
AUTO_UPGRADE = VersioningBehavior.AUTO_UPGRADE


def test_versioning_is_off_unless_configured():
    """`dev up`'s worker is unversioned: no deployment, so no version to make current first."""
    assert deployment_config(CaseflowSettings(data_dir="/nonexistent")) is None
    on = deployment_config(CaseflowSettings(
        data_dir="/nonexistent", worker_versioning=True, worker_build_id="v1.2-3-gabc",
    ))
    assert on is not None and on.use_worker_versioning
    assert on.default_versioning_behavior == VersioningBehavior.AUTO_UPGRADE
    assert on.version == WorkerDeploymentVersion("caseflow", "v1.2-3-gabc")


def test_an_empty_build_id_is_the_package_version():
    settings = CaseflowSettings(data_dir="/nonexistent", worker_build_id="")
    assert settings.worker_build_id == CaseflowSettings(data_dir="/nonexistent").worker_build_id
    assert settings.worker_build_id == metadata.version("caseflow")


@pytest.mark.parametrize("field, value", [
    ("worker_build_id", "two words"), ("worker_build_id", "x" * 256),
    ("worker_deployment_name", "caseflow.prod"),  # "." separates deployment and build
])
def test_malformed_deployment_names_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        CaseflowSettings(data_dir="/nonexistent", **{field: value})


def set_current_version(address: str, deployment: str, build_id: str, timeout: float = 30) -> None:
    """As an operator would, with the CLI; it refuses until the build's workers have polled."""
    command = [
        str(find_binary("temporal")), "worker", "deployment", "set-current-version",
        "--address", address, "--deployment-name", deployment, "--build-id", build_id, "--yes",
    ]
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"set-current-version {build_id}: {done.stderr.strip()}")
        time.sleep(0.3)


async def task_builds(handle: WorkflowHandle) -> list[str]:
    """The build id of every completed workflow task, in order."""
    builds = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_completed_event_attributes"):
            builds.append(event.workflow_task_completed_event_attributes.deployment_version.build_id)
    return builds


async def versioning(handle: WorkflowHandle) -> tuple[VersioningBehavior, str]:
    """The workflow's behaviour and the build it runs on, as the server describes it."""
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return VersioningBehavior(info.behavior), info.deployment_version.build_id



def confirmation_link(mail: MailSink) -> str | None:
    for path in mail.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(("plain",))
        found = part and re.search(r"/portal/confirm/(\S+)", part.get_content())
        if found:
            return found.group(1)
    return None


async def test_running_cases_finish_on_the_build_they_need(
    temporal_dev_server, seaweed, tmp_path
):
    mail = MailSink(tmp_path / "mail", port=free_port())
    mail.start()
    deployment = f"caseflow-test-{uuid.uuid4().hex[:8]}"
    build_1 = seaweed.settings.model_copy(update={
        "temporal_address": temporal_dev_server.address,
        "smtp_port": mail.port,
        "task_queue": f"cases-{uuid.uuid4().hex[:8]}",
        "portal_link_secret": SecretStr("versioning-" + uuid.uuid4().hex),
        "worker_versioning": True,
        "worker_deployment_name": deployment,
        "worker_build_id": "build-1",
    })
    build_2 = build_1.model_copy(update={"worker_build_id": "build-2"})
    client: Client = await connect(build_1)
    address = temporal_dev_server.address
    try:
        with ThreadPoolExecutor(max_workers=16) as executor:
            async with build_worker(client, build_1, executor):
                await asyncio.to_thread(set_current_version, address, deployment, "build-1")
                await until("build-1 current", lambda: _routed_to(client, deployment, "build-1"))
                early = await cases.start_case(client, build_1, fictional_intake(), TODAY)
                early_handle = cases.case_handle(client, early)
                await until("a task of the early case", lambda: _has_tasks(early_handle))
                await cases.hold(client, early, "waiting for the patient to call back")
                inquiry_id = await inquiries.submit(
                    client, build_1, fictional_inquiry(), uuid.uuid4().hex, TODAY
                )
                inquiry = client.get_workflow_handle_for(
                    InquiryWorkflow.run, inquiry_workflow_id(inquiry_id)
                )
                token = await until(
                    "the confirmation mail", lambda: asyncio.to_thread(confirmation_link, mail)
                )

                # Build 2 beside build 1, and made current.
                async with build_worker(client, build_2, executor):
                    await asyncio.to_thread(set_current_version, address, deployment, "build-2")
                    await until(
                        "build-2 current", lambda: _routed_to(client, deployment, "build-2")
                    )

                    # The early case's next task runs on build 2, and it closes there.
                    await cases.resume(client, early)
                    await cases.withdraw(client, early, Withdraw(reason="patient chose local care"))
                    await early_handle.result()
                    early_builds = await task_builds(early_handle)
                    assert early_builds[0] == "build-1", early_builds
                    assert early_builds[-1] == "build-2", early_builds
                    assert early_builds.index("build-2") >= 2, early_builds  # hold: on build 1
                    assert await versioning(early_handle) == (AUTO_UPGRADE, "build-2")

                    # The inquiry, confirmed now, goes on on build 2; so does the case it starts.
                    confirmed = await inquiries.confirm(client, build_1, token)
                    result = await inquiry.result()
                    assert result.outcome == "confirmed"
                    inquiry_builds = await task_builds(inquiry)
                    assert inquiry_builds[0] == "build-1", inquiry_builds
                    assert inquiry_builds[-1] == "build-2", inquiry_builds
                    assert await versioning(inquiry) == (AUTO_UPGRADE, "build-2")
                    from_inquiry = cases.case_handle(client, confirmed.case_id)
                    await until("a task of the inquiry's case", lambda: _has_tasks(from_inquiry))
                    await cases.withdraw(
                        client, confirmed.case_id, Withdraw(reason="patient chose local care")
                    )
                    await from_inquiry.result()
                    assert set(await task_builds(from_inquiry)) == {"build-2"}

                    # A case started now runs on build 2 alone.
                    late = await cases.start_case(client, build_2, fictional_intake(), TODAY)
                    late_handle = cases.case_handle(client, late)
                    await cases.withdraw(client, late, Withdraw(reason="patient chose local care"))
                    await late_handle.result()
                    assert set(await task_builds(late_handle)) == {"build-2"}
    finally:
        mail.stop()


async def _routed_to(client: Client, deployment: str, build_id: str) -> bool:
    """The deployment's current version is `build_id`, and its task queues all know it."""
    described = await client.workflow_service.describe_worker_deployment(
        DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=deployment)
    )
    info = described.worker_deployment_info
    return (
        info.routing_config.current_deployment_version.build_id == build_id
        and info.routing_config_update_state
        == RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_COMPLETED
    )


async def _has_tasks(handle: WorkflowHandle) -> bool:
    try:
        return bool(await task_builds(handle))
    except RPCError:
        return False
