"""The worker process: every workflow and activity on task queue "cases".

The boto3 activities (erasing documents, storing packets) are synchronous, so they run on the
activity thread pool; the mail and webhook activities are async and hand their blocking smtplib
calls to threads themselves. Workflows run in the SDK's sandbox.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect

log = logging.getLogger("caseflow.worker")
# Short of the SDK's 10 s default (see build_worker).
STICKY_QUEUE_TIMEOUT = timedelta(seconds=3)


def build_worker(
    client: Client, settings: CaseflowSettings, executor: ThreadPoolExecutor
) -> Worker:
    """The worker with every workflow and activity registered; shared by main() and the tests."""
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
        # A workflow's tasks and queries go first to the queue of the worker that last ran it. If
        # that worker was killed, a query waits this long before any worker may answer it; a
        # delivery's consent query (activities/consent_gate.py) waited the 10 s default on every
        # retry after a crash. A healthy worker takes its tasks in milliseconds.
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
    )


async def main(settings: CaseflowSettings | None = None) -> None:
    settings = settings or get_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    client = await connect(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="activity") as executor:
        worker = build_worker(client, settings, executor)
        # Leaving the context waits for running activities to finish (graceful shutdown).
        async with worker:
            log.info("worker started on task queue %r", settings.task_queue)
            await stop.wait()
            log.info("worker stopping")
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
