"""No patient data in plaintext places, then erasure: a case whose intake is full of canary
strings runs through records, review and hospital submission (a packet by email, one by signed
webhook) with the encrypted converter on worker and client. A client with NO codec then reads
every history, visibility row, description, metadata query and workflow id; every S3 key and its
metadata; the worker's log records and the CLI's output. No canary may appear in any of them.
Packet and letter BODIES in S3 legitimately hold patient data (that is what hospitals receive),
so only keys and metadata are read there.

Then `caseflow case erase` removes the case: every object version, a notice to both hospitals by
their channel, every workflow run. What remains is the audit trail, which also holds no canary.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import threading
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from activities.audit import AuditAction, AuditTrail
from caseflow.case_events import ReviewOutcome, SubmitReview, Withdraw
from caseflow.case_status import CaseStage, CaseStatus
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id
from caseflow.intake import CaseIntake
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect
from caseflow.webhook_signature import parse_secret
from client import cases as case_client
from client.erasure import CaseStillOpen
from coordinator.case_script import fictional_pdf
from coordinator.cli import cli
from coordinator.demo import DemoCase
from infra.hospital_inbox import make_handler
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.polling import until

pytestmark = pytest.mark.integration

EMAIL_HOSPITAL = "in-chennai-proton"
WEBHOOK_HOSPITAL = "cn-xiamen-bnct"
PASSPORT = "PX9Q71C4A"
CANARIES = [
    "Canaryella",  # given name
    "Zzqx-Phiwatch",  # family name
    "1937-02-19",  # date of birth
    "canaryella.zzqx",  # email
    "711 987654",  # phone
    PASSPORT,  # passport number, in a document's file name and the review's free text
    "Canarycytic",  # histology
    "zzqx-canary",  # prior RT site
]


def intake(today: date) -> CaseIntake:
    consent_at = f"{today - timedelta(days=3)}T09:00:00Z"
    return CaseIntake.model_validate(
        {
            "patient": {
                "given_name": "Canaryella",
                "family_name": "Zzqx-Phiwatch",
                "date_of_birth": "1937-02-19",
                "sex": "female",
                "country_of_residence": "KE",
                "preferred_language": "en",
                "email": "canaryella.zzqx@example.invalid",
                "phone": "+254 711 987654",
            },
            "clinical": {
                "primary_site": "head_and_neck",
                "histology": "Canarycytic adenocarcinoma, poorly differentiated",
                "recurrence_pattern": "local",
                "lesion_count": 1,
                "largest_lesion_cm": 2.1,
                "prior_rt_courses": [
                    {
                        "site": "left zzqx-canary fossa",
                        "technique": "IMRT",
                        "total_dose_gy": 66,
                        "fractions": 33,
                        "completed_on": (today - timedelta(days=700)).isoformat(),
                    }
                ],
                "ecog": 1,
            },
            "destinations": {"countries": ["IN", "CN"], "hospital_ids": [WEBHOOK_HOSPITAL]},
            "consents": [
                {"country": country, "purpose": "referral", "granted_at": consent_at}
                for country in ("IN", "CN")
            ],
            "coordinator_id": "coord-canary",
        }
    )


class LogCapture(logging.Handler):
    """Every record any logger emits at INFO and above, formatted as the worker would."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class PhiStack:
    settings: CaseflowSettings
    client: Client
    mail: MailSink
    inbox_dir: Path
    directory: HospitalDirectory
    logs: LogCapture
    cli_output: list[str] = field(default_factory=list)

    def cli_env(self) -> dict[str, str]:
        s = self.settings
        return {
            "CASEFLOW_TEMPORAL_ADDRESS": s.temporal_address,
            "CASEFLOW_TASK_QUEUE": s.task_queue,
            "CASEFLOW_S3_ENDPOINT_URL": s.s3_endpoint_url or "",
            "CASEFLOW_S3_ACCESS_KEY_ID": s.s3_access_key_id or "",
            "CASEFLOW_S3_SECRET_ACCESS_KEY": (
                s.s3_secret_access_key.get_secret_value() if s.s3_secret_access_key else ""
            ),
            "CASEFLOW_S3_BUCKET": s.s3_bucket,
            "CASEFLOW_AUDIT_BUCKET": s.audit_bucket,
            "CASEFLOW_SMTP_PORT": str(s.smtp_port),
            "CASEFLOW_KEY_FILE": str(s.key_file),
            # The stack's identity store (contacts for letters), not the working directory's.
            "CASEFLOW_DATA_DIR": str(s.data_dir),
            "CASEFLOW_WEBHOOK_SECRETS": json.dumps(
                {k: v.get_secret_value() for k, v in s.webhook_secrets.items()}
            ),
        }

    async def caseflow(self, *args: str) -> tuple[int, str]:
        def invoke():
            get_settings.cache_clear()
            try:
                return CliRunner().invoke(cli, list(args), env=self.cli_env())
            finally:
                get_settings.cache_clear()

        result = await asyncio.to_thread(invoke)
        self.cli_output += [result.stdout, result.stderr or ""]
        if result.exception and not isinstance(result.exception, SystemExit):
            self.cli_output.append(repr(result.exception))
            raise result.exception
        return result.exit_code, result.stdout


@pytest.fixture(scope="module")
async def phi_stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[PhiStack]:
    from worker import build_worker

    logs = LogCapture()
    root = logging.getLogger()
    root.addHandler(logs)
    previous_level = root.level
    root.setLevel(logging.INFO)

    workdir = tmp_path_factory.mktemp("phi")
    mail = MailSink(workdir / "mail-state", port=free_port())
    mail.start()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    inbox_dir = workdir / "webhooks"
    inbox = ThreadingHTTPServer(
        ("127.0.0.1", free_port()),
        make_handler({WEBHOOK_HOSPITAL: parse_secret(secret)}, inbox_dir),
    )
    hook_url = f"http://127.0.0.1:{inbox.server_address[1]}/hooks/{WEBHOOK_HOSPITAL}"
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    defaults = HospitalDirectory.load_default()
    directory = HospitalDirectory(
        hospitals=[
            h.model_copy(update={"webhook_url": hook_url})
            if h.hospital_id == WEBHOOK_HOSPITAL
            else h
            for h in defaults.hospitals
        ]
    )
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "smtp_port": mail.port,
            "task_queue": f"phi-{uuid.uuid4().hex[:8]}",
            "webhook_secrets": {WEBHOOK_HOSPITAL: SecretStr(secret)},
            "key_file": seaweed.settings.data_dir / "keys.json",
        }
    )
    client = await connect(settings)
    try:
        with ThreadPoolExecutor(max_workers=16) as executor:
            async with build_worker(client, settings, executor):
                yield PhiStack(settings, client, mail, inbox_dir, directory, logs)
    finally:
        inbox.shutdown()
        mail.stop()
        root.removeHandler(logs)
        root.setLevel(previous_level)



@pytest.fixture(scope="module")
async def submitted_case(phi_stack: PhiStack, tmp_path_factory) -> str:
    """The canary case through records and review to two delivered packets, then withdrawn."""
    client, settings = phi_stack.client, phi_stack.settings
    workdir = tmp_path_factory.mktemp("phi-case")
    case = DemoCase(client, settings, workdir, say=lambda _: None, stage_timeout=30)
    case.case_id = await case_client.start_case(
        client, settings, intake(case.today), case.today, directory=phi_stack.directory
    )
    case_id = case.case_id
    await case.wait_for_stage(CaseStage.RECORDS)
    # The passport travels in its file name through the real CLI.
    passport = workdir / f"passport-{PASSPORT}.pdf"
    passport.write_bytes(fictional_pdf("passport"))
    code, _ = await phi_stack.caseflow(
        "case", "upload", case_id, str(passport), "--kind", DocumentKind.PASSPORT.value
    )
    assert code == 0, phi_stack.cli_output[-1]
    await case.upload_records()
    await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    await case_client.submit_review(
        client,
        case_id,
        SubmitReview(
            outcome=ReviewOutcome.PROCEED,
            reviewer_id="specialist-canary",
            modalities=["bnct", "sbrt"],
            target_hospital_ids=[EMAIL_HOSPITAL, WEBHOOK_HOSPITAL],
            recommendation=f"Canarycytic recurrence; passport {PASSPORT} seen.",
        ),
    )

    async def delivered() -> CaseStatus | None:
        status = await case_client.case_status(client, case_id)
        done = {h.hospital_id for h in status.hospitals if h.delivered_at}
        return status if done >= {EMAIL_HOSPITAL, WEBHOOK_HOSPITAL} else None

    await until("both packets delivered", delivered, timeout=45)
    for args in (("case", "status", case_id), ("case", "list"), ("case", "audit", case_id)):
        code, _ = await phi_stack.caseflow(*args)
        assert code == 0, phi_stack.cli_output[-1]
    await case_client.withdraw(client, case_id, Withdraw(reason="patient withdrew consent"))
    await case_client.case_handle(client, case_id).result()
    return case_id


def leaks(where: str, text: str | bytes) -> list[str]:
    blob = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    lowered = blob.lower()
    return [f"{canary!r} in {where}" for canary in CANARIES if canary.lower() in lowered]


async def test_no_canary_in_any_plaintext_place(phi_stack: PhiStack, submitted_case, seaweed):
    case_id = submitted_case
    settings = phi_stack.settings
    # A client WITHOUT the codec: what Temporal itself stores and shows.
    bare = await Client.connect(settings.temporal_address)
    found: list[str] = []

    runs = [
        execution
        async for execution in bare.list_workflows(
            f'WorkflowId STARTS_WITH "{case_workflow_id(case_id)}"'
        )
    ]
    workflow_ids = {r.id for r in runs}
    assert case_workflow_id(case_id) in workflow_ids
    assert {f"case-{case_id}-referral-{h}" for h in (EMAIL_HOSPITAL, WEBHOOK_HOSPITAL)} <= (
        workflow_ids
    )
    for execution in runs:
        found += leaks(f"workflow id {execution.id}", execution.id)
        # The visibility row: search attributes, memo, summaries as the server returns them.
        found += leaks(f"visibility {execution.id}", execution.raw_info.SerializeToString())
        found += leaks(f"search attributes {execution.id}", repr(execution.search_attributes))
        handle = bare.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        assert len(history.events) > 3
        found += leaks(f"history {execution.id}", history.to_json())
        for event in history.events:
            found += leaks(f"event {event.event_id} of {execution.id}", event.SerializeToString())
        described = await handle.describe()
        found += leaks(f"describe {execution.id}", described.raw_description.SerializeToString())
        # Current details and summaries as the UI asks for them: the metadata query, raw.
        answer = await bare.workflow_service.query_workflow(
            QueryWorkflowRequest(
                namespace=bare.namespace,
                execution=WorkflowExecution(workflow_id=execution.id, run_id=execution.run_id),
                query=WorkflowQuery(query_type="__temporal_workflow_metadata"),
            )
        )
        found += leaks(f"metadata query {execution.id}", answer.SerializeToString())
        # The history holds payloads, and they are ciphertext under a named key.
        assert b"binary/encrypted" in history.events[0].SerializeToString()

    # S3: every key and every version's metadata, documents bucket and audit bucket.
    s3 = seaweed.client()
    keys_seen = 0
    for bucket in (settings.s3_bucket, settings.audit_bucket):
        listed = s3.list_object_versions(Bucket=bucket, Prefix="")
        for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            keys_seen += 1
            found += leaks(f"s3 key {bucket}/{version['Key']}", version["Key"])
            if version in listed.get("Versions", []):
                head = s3.head_object(
                    Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
                )
                head.pop("ResponseMetadata", None)
                found += leaks(f"s3 metadata {version['Key']}", repr(head))
    assert keys_seen > 5
    packet_keys = [
        v["Key"] for v in s3.list_object_versions(
            Bucket=settings.s3_bucket, Prefix=f"cases/{case_id}/packets/"
        ).get("Versions", [])
    ]
    assert packet_keys, "the packets are stored under the case's prefix"

    # The audit trail's bodies too: opaque ids only.
    for entry in AuditTrail(settings).entries(case_id):
        found += leaks(f"audit entry {entry.action}", entry.model_dump_json())

    # The webhook the hospital received is the thin notice: links and hashes, no patient data.
    for path in phi_stack.inbox_dir.rglob("*"):
        if path.is_file():
            found += leaks(f"webhook {path.name}", path.read_bytes())

    # Logs of the worker (and everything else in this process) and the CLI's output.
    assert phi_stack.logs.lines, "the worker logged while the case ran"
    for line in phi_stack.logs.lines:
        found += leaks("log line", line)
    assert phi_stack.cli_output, "the CLI ran"
    for output in phi_stack.cli_output:
        found += leaks("CLI output", output)

    assert found == []
    # The canaries are really in the case: the encrypted client reads them back.
    status = await case_client.case_status(phi_stack.client, case_id)
    assert any(d.original_filename == f"passport-{PASSPORT}.pdf" for d in status.documents)


async def test_erase_removes_documents_history_and_notifies_hospitals(
    phi_stack: PhiStack, submitted_case, seaweed
):
    case_id = submitted_case
    settings = phi_stack.settings
    s3 = seaweed.client()
    prefix = f"cases/{case_id}/"
    before = s3.list_object_versions(Bucket=settings.s3_bucket, Prefix=prefix)
    assert len(before.get("Versions", [])) > 5

    code, out = await phi_stack.caseflow("case", "erase", case_id, "--yes", "--json")
    assert code == 0, phi_stack.cli_output[-1]
    # (The in-process hospital inbox prints its access log into the captured stdout too.)
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert report["versions_deleted"] == len(before["Versions"])

    # Every version and delete marker under the case's prefix is gone, packets included.
    after = s3.list_object_versions(Bucket=settings.s3_bucket, Prefix=prefix)
    assert after.get("Versions", []) == [] and after.get("DeleteMarkers", []) == []

    # Each hospital that received a packet got a notice by its own channel, with no PHI.
    channels = {n["hospital_id"]: n["channel"] for n in report["notices"]}
    assert channels == {EMAIL_HOSPITAL: "email", WEBHOOK_HOSPITAL: "webhook"}
    notices = [m.read_bytes() for m in phi_stack.mail.messages() if b"Erasure notice" in
               m.read_bytes()]
    assert len(notices) == 1 and b"proton-chennai" in notices[0]
    erasure_hooks = list((phi_stack.inbox_dir / WEBHOOK_HOSPITAL).glob("erasure-*"))
    assert len(erasure_hooks) == 1
    assert b"referral.erasure" in erasure_hooks[0].read_bytes()
    for blob in notices + [p.read_bytes() for p in erasure_hooks]:
        assert leaks("erasure notice", blob) == []
    # Hospitals confirm the deletion to the case's coordinator: with no directory entry for
    # the id, the contact settings give (the team's address).
    coordinator = f"coord-canary@{settings.coordinator_email_domain}".encode()
    assert b"Reply-To: Coordinator coord-canary <" + coordinator + b">" in notices[0]
    assert b'"email":"' + coordinator + b'"' in erasure_hooks[0].read_bytes()

    # The case's executions (case and both referrals) are deleted: history, memo, visibility.
    deleted = {item.split("/")[0] for item in report["executions_deleted"]}
    assert deleted == {
        case_workflow_id(case_id),
        f"case-{case_id}-referral-{EMAIL_HOSPITAL}",
        f"case-{case_id}-referral-{WEBHOOK_HOSPITAL}",
    }
    bare = await Client.connect(settings.temporal_address)

    async def gone() -> bool:
        for workflow_id in deleted:
            try:
                await bare.get_workflow_handle(workflow_id).describe()
                return False
            except RPCError as error:
                assert error.status == RPCStatusCode.NOT_FOUND
        listed = [e async for e in bare.list_workflows(
            f'WorkflowId STARTS_WITH "{case_workflow_id(case_id)}"'
        )]
        return listed == []

    # Temporal deletes asynchronously; on the dev server it takes about 30-35 s.
    await until("the executions to be deleted", gone, timeout=75)
    with pytest.raises(RPCError) as caught:
        await bare.get_workflow_handle(case_workflow_id(case_id)).fetch_history()
    assert caught.value.status == RPCStatusCode.NOT_FOUND

    # What remains: the audit trail, readable through the CLI, with no patient data.
    code, out = await phi_stack.caseflow("case", "audit", case_id, "--json")
    assert code == 0
    # One JSON array (the in-process hospital inbox may log into the captured stdout too).
    entries = json.loads(next(line for line in out.splitlines() if line.startswith("[")))
    actions = [e["action"] for e in entries]
    for action in (
        AuditAction.PACKET_GENERATED,
        AuditAction.PACKET_DELIVERED,
        AuditAction.DOCUMENTS_ERASED,
        AuditAction.ERASURE_NOTICE_SENT,
        AuditAction.HISTORY_DELETED,
    ):
        assert action.value in actions, actions
    assert actions.index(AuditAction.HISTORY_DELETED.value) == len(actions) - 1
    assert leaks("audit after erasure", out) == []



async def test_erase_refuses_an_open_case_unless_told_to_withdraw_it(phi_stack: PhiStack, tmp_path):
    case = DemoCase(phi_stack.client, phi_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.wait_for_stage(CaseStage.RECORDS)
    with pytest.raises(CaseStillOpen, match="still open: add --withdraw --reason"):
        await phi_stack.caseflow("case", "erase", case_id, "--yes")
    code, _ = await phi_stack.caseflow("case", "erase", case_id, "--withdraw", "--yes")
    assert code == 2 and "--reason" in phi_stack.cli_output[-1] + phi_stack.cli_output[-2]

    code, out = await phi_stack.caseflow(
        "case", "erase", case_id, "--withdraw", "--reason", "consent withdrawn", "--yes", "--json"
    )
    assert code == 0
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert report["notices"] == [] and report["manual_hospitals"] == []
    assert [r.split("/")[0] for r in report["executions_deleted"]] == [case_workflow_id(case_id)]
    actions = [e.action for e in AuditTrail(phi_stack.settings).entries(case_id)]
    assert actions.count(AuditAction.DOCUMENTS_ERASED) == 2  # by the workflow, then the CLI
    assert actions[-1] == AuditAction.HISTORY_DELETED


async def test_nothing_typed_through_the_portal_reaches_a_plaintext_place(
    phi_stack: PhiStack, seaweed, tmp_path
):
    """The patient's side: the canary address typed into "send me a new link" (as a person types
    it, with capitals and spaces), the status page opened from the mailed link, and a consent
    withdrawn there. None of it reaches a workflow id, a search attribute, an S3 key or a log
    line of the web service or the worker."""
    import email
    import email.policy
    import re

    import httpx

    from tests.integration.web_service import running_service

    client = phi_stack.client
    settings = phi_stack.settings.model_copy(
        update={
            "session_secret": SecretStr("phi-session-" + uuid.uuid4().hex),
            "portal_link_secret": SecretStr("phi-portal-" + uuid.uuid4().hex),
            "identity_db_url": f"sqlite:///{tmp_path / 'identities.db'}",
        }
    )
    today = date.today()
    case_id = await case_client.start_case(
        client, settings, intake(today), today, directory=phi_stack.directory
    )

    async def in_records() -> bool:
        return (await case_client.case_status(client, case_id)).stage == CaseStage.RECORDS

    await until("the portal case in RECORDS", in_records)
    first_line = len(phi_stack.logs.lines)

    def csrf_of(html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, "the page has a CSRF field"
        return found[1]

    def link_mails() -> list[str]:
        links = []
        for path in phi_stack.mail.messages():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            body = message.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            if message["To"] == "canaryella.zzqx@example.invalid" and "/portal/open/" in text:
                links += [line.strip() for line in text.splitlines() if "/portal/open/" in line]
        return links

    with running_service(settings) as service:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            form = await http.get("/portal/link")
            answer = await http.post(
                "/portal/link",
                data={"csrf_token": csrf_of(form.text),
                      "email": "  Canaryella.ZZQX@Example.invalid "},
            )
            assert answer.status_code == 200, answer.text

            async def mailed() -> list[str]:
                return link_mails()

            [link] = await until("the portal's link mail", mailed)
            opened = await http.get(link.removeprefix(service.url), follow_redirects=True)
            assert opened.status_code == 200 and str(opened.url).endswith("/portal/case")
            withdrawn = await http.post(
                "/portal/case/consents/withdraw",
                data={"csrf_token": csrf_of(opened.text), "country": "CN", "hospital_id": "",
                      "purpose": "referral", "confirm": "yes"},
            )
            assert withdrawn.status_code == 303, withdrawn.text
    ledger = await case_client.consent_ledger(client, case_id)
    assert ledger.events[-1].recorded_by == "patient-portal"

    bare = await Client.connect(settings.temporal_address)
    found: list[str] = []
    async for execution in bare.list_workflows(
        f'WorkflowId STARTS_WITH "{case_workflow_id(case_id)}"'
    ):
        found += leaks(f"workflow id {execution.id}", execution.id)
        found += leaks(f"visibility {execution.id}", execution.raw_info.SerializeToString())
        found += leaks(f"search attributes {execution.id}", repr(execution.search_attributes))
        history = await bare.get_workflow_handle(execution.id).fetch_history()
        found += leaks(f"history {execution.id}", history.to_json())
    s3 = seaweed.client()
    for bucket in (settings.s3_bucket, settings.audit_bucket):
        listed = s3.list_object_versions(Bucket=bucket, Prefix="")
        for version in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
            found += leaks(f"s3 key {bucket}/{version['Key']}", version["Key"])
    portal_lines = phi_stack.logs.lines[first_line:]
    assert any("/portal/" in line for line in portal_lines), "the web service logged the visit"
    for line in portal_lines:
        found += leaks("log line", line)
    assert found == []
    await case_client.withdraw(client, case_id, Withdraw(reason="portal canary done"))
