"""The worker process: every workflow and activity on task queue "cases", and the render worker
on the letters queue (settings.letters_queue()), by role: `cases`, `letters` or `all`.

The boto3 activities (erasing documents, storing packets) are synchronous, so they run on the
activity thread pool; the mail and webhook activities are async and hand their blocking smtplib
calls to threads themselves. Workflows run in the SDK's sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import gc
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Literal

import httpx
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker, WorkerDeploymentConfig

from activities.activity_metrics import CaseflowActivityMetrics
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect

log = logging.getLogger("caseflow.worker")
# Short of the SDK's 10 s default (see build_worker).
STICKY_QUEUE_TIMEOUT = timedelta(seconds=3)
# Workflow-task polls in flight at once, half of them on the shared queue (build_case_worker).
WORKFLOW_TASK_POLLS = 8

Role = Literal["cases", "letters", "all"]
ROLES: tuple[Role, ...] = ("cases", "letters", "all")


class CaseflowWorker:
    """The workers one process runs for its role, started and stopped together: the case worker
    (role cases), the render worker (role letters), or both (role all, the default). What their
    builders opened for them (renderer processes, thread pools, S3 clients) is closed once they
    have stopped."""

    def __init__(
        self, workers: Sequence[Worker], closers: Sequence[Callable[[], None]] = ()
    ) -> None:
        self.workers = list(workers)
        self._closers = list(closers)

    def config(self) -> dict:
        """The first worker's config (the case worker's, unless the role is letters)."""
        return dict(self.workers[0].config())

    async def __aenter__(self) -> CaseflowWorker:
        for index, worker in enumerate(self.workers):
            try:
                await worker.__aenter__()
            except BaseException:
                for started in reversed(self.workers[:index]):
                    await started.__aexit__(None, None, None)
                await self._close()
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        # Leaving waits for running activities to finish (graceful shutdown), renders first.
        try:
            for worker in reversed(self.workers):
                await worker.__aexit__(None, None, None)
        finally:
            await self._close()

    async def _close(self) -> None:
        # Here, not when the collector gets to them: a renderer pool's locks finalised on a
        # thread that is running a sandboxed workflow task cannot unregister themselves there
        # (the sandbox refuses multiprocessing), and a test's renderers outlived its worker.
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            await asyncio.to_thread(close)
        if closers:
            # And what they leave in reference cycles is finalised here too, on a plain thread.
            await asyncio.to_thread(gc.collect)


# --- Worker versioning (issue 14, README "Worker versioning") ---
def deployment_config(settings: CaseflowSettings) -> WorkerDeploymentConfig | None:
    """This build's place in the worker deployment, when versioning is on; every worker of one
    build (case and render workers alike) passes the same one.

    Every workflow is auto-upgraded: a case runs for a year, too long to keep the build it began
    on, so it moves to each new current build, whose changes go behind workflow.patched
    (tests/workflows/test_replay.py proves old histories replay). The behaviour is the worker's
    default rather than @workflow.defn(versioning_behavior=...), because the server refuses a
    declared behaviour from an unversioned worker, which `dev up` and the workflow tests run."""
    if not settings.worker_versioning:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.worker_deployment_name, build_id=settings.worker_build_id
        ),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )
# --- end of worker versioning ---


def build_worker(
    client: Client, settings: CaseflowSettings, executor: ThreadPoolExecutor, role: Role = "all"
) -> CaseflowWorker:
    """The workers for `role`; shared by main() and the tests (which run role all)."""
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}")
    workers = []
    closers: list[Callable[[], None]] = []
    if role in ("cases", "all"):
        workers.append(build_case_worker(client, settings, executor, closers))
    if role in ("letters", "all"):
        workers.append(build_render_worker(client, settings, executor, closers))
    return CaseflowWorker(workers, closers)


def build_render_worker(
    client: Client,
    settings: CaseflowSettings,
    executor: ThreadPoolExecutor,
    closers: list[Callable[[], None]],
) -> Worker:
    """The render worker: referral letters and packets, on the letters queue, with its own
    Typst renderer processes (settings.render_processes). What it opens goes in `closers`."""
    from activities.audit import AuditTrail
    from activities.letters import ReferralLetters

    letters = ReferralLetters(
        settings, audit=AuditTrail(settings), pdf_workers=settings.render_processes
    )
    closers.append(letters.close)
    return Worker(
        client,
        task_queue=settings.letters_queue(),
        activities=[letters.render_referral_packet],
        activity_executor=executor,
        interceptors=[CaseflowActivityMetrics()],
        # A render waits for a free renderer process; more slots than processes only queue.
        max_concurrent_activities=max(2, 2 * (settings.render_processes or 1)),
        # One build is one version for all its task queues: the render worker registers too.
        deployment_config=deployment_config(settings),
    )


def build_case_worker(
    client: Client,
    settings: CaseflowSettings,
    executor: ThreadPoolExecutor,
    closers: list[Callable[[], None]],
) -> Worker:
    """The case worker with every workflow and activity registered. It keeps
    render_referral_packet too, for cases started before the render workers (their letters
    render on the case queue); its renderer processes start only if such a letter comes. What
    it opens goes in `closers`."""
    from activities.audit import AuditTrail
    from activities.consent_gate import ConsentGate
    from activities.documents import DocumentStore
    from activities.email_delivery import EmailDelivery
    from activities.inquiry_mail import InquiryMailer, PatientMailSettings
    from activities.letters import ReferralLetters
    from activities.notifications import CaseMailer, NoticeRouting
    from activities.patient_mail import PatientMailer, PatientMailRouting
    from activities.s3_client import build_s3_client
    from activities.smtp_relay import SmtpTransport
    from activities.webhook_delivery import WebhookDelivery
    from workflows.case import CaseWorkflow
    from workflows.inquiry import InquiryWorkflow
    from workflows.referral import HospitalReferralWorkflow

    # Packets, deliveries, presigned links and erasures are recorded as they happen.
    audit = AuditTrail(settings)
    documents = DocumentStore(settings, audit=audit)
    # Every mail goes through one relay, over TLS with a login when settings say so.
    smtp = SmtpTransport.from_settings(settings)
    letters = ReferralLetters(settings, audit=audit)
    closers.extend([documents.close, letters.close])
    mailer = CaseMailer(
        NoticeRouting(
            smtp=smtp,
            sender=settings.smtp_sender,
            coordinator_domain=settings.coordinator_email_domain,
            supervisor_email=settings.supervisor_email,
            translation_vendor_email=settings.translation_vendor_email,
            public_url=settings.public_url,
        )
    )
    # Patients' mail: notices of their case's progress, and about their inquiry: the one-time
    # confirmation link (signed with the portal's secret) and its decline.
    patient_mail = PatientMailer(PatientMailRouting.from_settings(settings))
    secret = settings.portal_link_secret
    inquiry_mail = InquiryMailer(
        PatientMailSettings(
            smtp=smtp,
            sender=settings.smtp_sender,
            public_url=settings.public_url,
            link_secret=secret.get_secret_value() if secret is not None else None,
        )
    )
    # Deliveries re-read consent from the case on every attempt, through this client.
    consent_gate = ConsentGate(client)
    webhooks = WebhookDelivery(
        httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False),
        settings.webhook_secrets,
        consent_gate,
        audit=audit,
    )
    email = EmailDelivery(
        smtp=smtp,
        sender=settings.smtp_sender,
        s3_client=build_s3_client(settings),
        bucket=settings.s3_bucket,
        consent_gate=consent_gate,
        audit=audit,
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[CaseWorkflow, HospitalReferralWorkflow, InquiryWorkflow],
        activities=[
            documents.erase_case_documents,
            letters.render_referral_packet,
            letters.store_translation_packet,
            mailer.send_notice,
            mailer.send_translation_job,
            patient_mail.send_patient_notice,
            inquiry_mail.send_inquiry_confirmation,
            inquiry_mail.send_inquiry_declined,
            webhooks.deliver_packet_webhook,
            email.deliver_packet_email,
        ],
        activity_executor=executor,
        max_concurrent_activities=16,
        interceptors=[CaseflowActivityMetrics()],
        deployment_config=deployment_config(settings),
        # A workflow's tasks and queries go first to the queue of the worker that last ran it. If
        # that worker was killed, a query waits this long before any worker may answer it; a
        # delivery's consent query (activities/consent_gate.py) waited the 10 s default on every
        # retry after a crash. A healthy worker takes its tasks in milliseconds.
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        # A new workflow's first task (each referral's, at every review) and a task after an
        # eviction come on the shared queue; the SDK's defaults give it one poller of five, and a
        # review's referrals queued behind each other there (issue 14, bench.lifecycle).
        workflow_task_poller_behavior=PollerBehaviorSimpleMaximum(WORKFLOW_TASK_POLLS),
        nonsticky_to_sticky_poll_ratio=0.5,
    )


def serve_metrics(address: str) -> None:
    """Serve the SDK's metrics and caseflow's own (activities/activity_metrics.py,
    workflows/case_metrics.py) for Prometheus at http://<address>/metrics: the runtime every
    client in this process then uses."""
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=True)


def compile_workflow_bytecode() -> None:
    """The sandbox imports the workflow modules afresh for every workflow run it starts: from
    their bytecode when it is current, else by compiling the source again each time (with
    PYTHONDONTWRITEBYTECODE set, or after an edit, about 50 ms of CPU a case). Compile them
    once here; a tree that cannot be written (an image built with compileall) is left as it
    is."""
    import workflows

    compileall.compile_dir(Path(workflows.__file__).parent, quiet=2)


async def main(settings: CaseflowSettings | None = None, role: Role = "all") -> None:
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if settings.metrics_address:
        # A worker without its metrics still does its work: a taken port is logged, not fatal.
        try:
            serve_metrics(settings.metrics_address)
            log.info("metrics at http://%s/metrics", settings.metrics_address)
        except Exception as error:  # the SDK raises ValueError for a port it cannot bind
            log.error("metrics not served at %s: %s", settings.metrics_address, error)
    if role != "letters":
        compile_workflow_bytecode()
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor, role)
        # What is loaded by now lives as long as the process: keep it out of the collector's
        # full passes, each of which walked all of it (~40-80 ms of a render worker's CPU).
        gc.freeze()
        # Leaving the context waits for running activities to finish (graceful shutdown).
        async with worker:
            queues = ", ".join(repr(w.task_queue) for w in worker.workers)
            log.info("worker started (role %s) on task queue %s", role, queues)
            if settings.worker_versioning:
                log.info("worker deployment %r, build %r (worker versioning on)",
                         settings.worker_deployment_name, settings.worker_build_id)
            await stop.wait()
            log.info("worker stopping")
    log.info("worker stopped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="caseflow worker")
    parser.add_argument("--role", choices=ROLES, default="all")
    asyncio.run(main(role=parser.parse_args().role))
