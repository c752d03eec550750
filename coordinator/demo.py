"""`caseflow demo`: drive one fictional case through every stage on the running stack.

Follow-up timers run 14 to 365 days after discharge. So that the demo ends in about a minute
without shortening them, it records a trip that took place a year ago: travel, admission and
discharge carry dates from then, so every follow-up is already due when the case reaches
FOLLOW_UP, and the case closes once they are recorded. A live case waits for its timers.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rich.console import Console
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from caseflow.case_events import (
    CostEstimate,
    DischargeRecorded,
    FollowUpRecorded,
    HospitalDecision,
    HospitalResponse,
    ReviewOutcome,
    SubmitReview,
    TranslationReceived,
    TravelEvent,
    TravelEventKind,
)
from caseflow.case_status import CaseOutcome, CaseResult, CaseStage, CaseStatus
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.intake import CaseIntake
from caseflow.settings import CaseflowSettings, get_settings
from caseflow.temporal_client import connect
from client import cases as case_client
from client import packets

# Fictional directory entries (caseflow/hospitals.json). The tests drive the two `manual`
# hospitals; `caseflow demo` sends real packets to the webhook and the email hospital, which the
# embedded stack's hospital inbox and SMTP sink receive.
SELECTED_HOSPITAL = "cn-beijing-cancer"
OTHER_HOSPITAL = "cn-guangzhou-oncology"
DELIVERY_HOSPITALS = ("cn-xiamen-bnct", "in-chennai-proton")  # webhook, email
DEMO_COORDINATOR = "coord-demo"
TRIP_DAYS_AGO = 400


class DemoError(RuntimeError):
    """The demo could not go on; the message says where it stopped."""


def fictional_intake(today: date) -> CaseIntake:
    """A plainly fictional head-and-neck recurrence, prior RT about two years before today."""
    consent_at = datetime.combine(
        today - timedelta(days=TRIP_DAYS_AGO + 30), datetime.min.time(), UTC
    )
    return CaseIntake.model_validate(
        {
            "patient": {
                "given_name": "Fictional",
                "family_name": "Demo-Patient",
                "date_of_birth": "1961-07-04",
                "sex": "female",
                "country_of_residence": "KE",
                "preferred_language": "en",
                "email": "demo.patient@example.invalid",
            },
            "clinical": {
                "primary_site": "head_and_neck",
                "histology": "squamous cell carcinoma (fictional demo case)",
                "recurrence_pattern": "local",
                "lesion_count": 1,
                "largest_lesion_cm": 3.2,
                "prior_rt_courses": [
                    {
                        "site": "oropharynx",
                        "technique": "IMRT",
                        "total_dose_gy": 70,
                        "fractions": 35,
                        "completed_on": (today - timedelta(days=TRIP_DAYS_AGO + 400)).isoformat(),
                        "oar_max_doses_gy": {"spinal_cord": 44.5},
                    }
                ],
                "ecog": 1,
                "biomarkers": ["PD-L1+"],
            },
            "destinations": {"countries": ["CN", "IN"], "hospital_ids": [SELECTED_HOSPITAL]},
            "consents": [
                {"country": country, "purpose": purpose, "granted_at": consent_at.isoformat()}
                for country in ("CN", "IN")
                for purpose in ("referral", "translation", "travel")
            ],
            "coordinator_id": DEMO_COORDINATOR,
        }
    )


def fictional_pdf(title: str) -> bytes:
    """A small, valid one-page PDF that says it is a fictional demo document."""
    text = f"FICTIONAL DEMO DOCUMENT - {title} - not a medical record".replace("(", "[")
    text = text.replace(")", "]")
    stream = f"BT /F1 12 Tf 40 780 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


async def require_worker(client: Client, settings: CaseflowSettings, wait: float = 10.0) -> None:
    """Fail early, in one line, when no worker polls the task queue."""
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + wait
    while True:
        response = await client.workflow_service.describe_task_queue(request)
        if response.pollers:
            return
        if time.monotonic() > deadline:
            raise DemoError(
                f"no worker polls task queue {settings.task_queue!r}: "
                "start one with 'caseflow dev up --with-worker'"
            )
        await asyncio.sleep(0.5)


class DemoCase:
    """One fictional case, driven stage by stage through coordinator.case_client.

    Each step waits for the stage it acts in, so the integration test can run the steps one at
    a time and look at the case in between.
    """

    def __init__(
        self,
        client: Client,
        settings: CaseflowSettings,
        workdir: Path,
        say: Callable[[str], None] = print,
        today: date | None = None,
        stage_timeout: float = 30.0,
        hospitals: tuple[str, str] = (SELECTED_HOSPITAL, OTHER_HOSPITAL),
    ) -> None:
        self.client = client
        self.settings = settings
        self.workdir = workdir
        self.say = say
        self.today = today or date.today()
        self.trip = self.today - timedelta(days=TRIP_DAYS_AGO)
        self.stage_timeout = stage_timeout
        self.selected, self.other = hospitals
        self.case_id = ""
        self._stage: CaseStage | None = None

    # -- plumbing --------------------------------------------------------------------------------

    async def status(self) -> CaseStatus:
        status = await case_client.case_status(self.client, self.case_id)
        if status.stage != self._stage:
            self._stage = status.stage
            outcome = f" ({status.outcome.value})" if status.outcome else ""
            self.say(f"-> stage {status.stage.value}{outcome}")
        return status

    async def wait_until(self, what: str, done: Callable[[CaseStatus], bool]) -> CaseStatus:
        deadline = time.monotonic() + self.stage_timeout
        while True:
            status = await self.status()
            if done(status):
                return status
            if status.stage == CaseStage.CLOSED or time.monotonic() > deadline:
                failed = ", ".join(f"{f.step_id} ({f.activity})" for f in status.failed_steps)
                raise DemoError(
                    f"case {self.case_id} is in {status.stage.value}, still waiting for {what}"
                    + (f"; failed steps: {failed}" if failed else "")
                    + f"; see {case_client.ui_link(self.settings, self.case_id)}"
                )
            await asyncio.sleep(0.2)

    async def wait_for_stage(self, stage: CaseStage) -> CaseStatus:
        return await self.wait_until(f"stage {stage.value}", lambda s: s.stage == stage)

    def store(self, name: str, kind: DocumentKind) -> DocumentRef:
        """Write a small fictional PDF and store it in S3 the way 'case upload' does."""
        from client.documents import store_file

        path = self.workdir / name
        path.write_bytes(fictional_pdf(name))
        return store_file(self.settings, self.case_id, path, kind)

    # -- the stages ------------------------------------------------------------------------------

    async def start(self, **overrides) -> str:
        intake = fictional_intake(self.today)
        self.case_id = await case_client.start_case(
            self.client, self.settings, intake, self.today, **overrides
        )
        self.say(f"started case {self.case_id}")
        self.say(f"Web UI: {case_client.ui_link(self.settings, self.case_id)}")
        return self.case_id

    async def upload_records(self) -> None:
        status = await self.wait_for_stage(CaseStage.RECORDS)
        for item in status.checklist:
            if not item.missing:
                continue
            kind = item.accepts[0]
            ref = self.store(f"{item.item_id}.pdf", kind)
            ack = await case_client.add_document(self.client, self.case_id, ref)
            self.say(f"   uploaded {kind.value} for {item.item_id}: {ack.detail}")

    async def review(self) -> None:
        await self.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
        review = SubmitReview(
            outcome=ReviewOutcome.PROCEED,
            reviewer_id="specialist-demo",
            modalities=["bnct", "sbrt", "imrt_reirradiation"],
            target_hospital_ids=[self.selected, self.other],
            recommendation="Fictional demo review: ask both centres for a re-irradiation opinion.",
        )
        await case_client.submit_review(self.client, self.case_id, review)
        self.say(f"   review: proceed to {self.selected} and {self.other}")

    async def packets_stored(self) -> CaseStatus:
        await self.wait_for_stage(CaseStage.HOSPITAL_SUBMISSION)
        targets = {self.selected, self.other}
        return await self.wait_until(
            "both referral packets",
            lambda s: {h.hospital_id for h in s.hospitals if h.packet_prefix} >= targets,
        )

    async def packets_delivered(self) -> None:
        """Wait until each webhook or email hospital's channel took its packet, and say so.

        A `manual` hospital's packet waits for the coordinator to fetch it (`case packet`).
        """
        status = await self.status()
        sent = {
            h.hospital_id
            for h in status.hospitals
            if h.hospital_id in (self.selected, self.other) and h.channel != "manual"
        }
        status = await self.wait_until(
            "the packets' delivery",
            lambda s: {h.hospital_id for h in s.hospitals if h.delivered_at} >= sent,
        )
        for hospital in status.hospitals:
            if hospital.hospital_id in sent:
                self.say(
                    f"   delivered to {hospital.hospital_id} by {hospital.channel} "
                    f"({hospital.delivery_receipt}); packet sha256 {hospital.packet_sha256}"
                )

    async def fetch_packet(self, hospital_id: str) -> list[Path]:
        files = await packets.fetch_packet(
            self.client,
            self.settings,
            self.case_id,
            hospital_id,
            self.workdir / f"packet-{hospital_id}",
        )
        self.say(f"   packet for {hospital_id}: {', '.join(p.name for p in files)}")
        return files

    async def hospitals_respond(self) -> None:
        await self.packets_stored()
        documents = [
            self.store("opinion.pdf", DocumentKind.HOSPITAL_OPINION),
            self.store("cost-estimate.pdf", DocumentKind.COST_ESTIMATE),
        ]
        for hospital_id, amount in ((self.selected, 38000), (self.other, 42000)):
            response = HospitalResponse(
                hospital_id=hospital_id,
                decision=HospitalDecision.ACCEPT,
                opinion="Fictional demo opinion: suitable for re-irradiation.",
                cost_estimate=CostEstimate(amount=amount, currency="USD"),
                earliest_admission_date=self.trip + timedelta(days=20),
                visa_invitation_possible=True,
                documents=documents if hospital_id == self.selected else [],
            )
            await case_client.record_hospital_response(self.client, self.case_id, response)
            self.say(f"   {hospital_id} accepted")

    async def select(self) -> None:
        await case_client.select_hospital(self.client, self.case_id, self.selected)
        self.say(f"   selected {self.selected}")

    async def translate(self) -> None:
        await self.wait_for_stage(CaseStage.TRANSLATION)
        event = TranslationReceived(
            documents=[self.store("translated-summary.pdf", DocumentKind.TRANSLATION)],
            language="zh-CN",
        )
        await case_client.record_translation(self.client, self.case_id, event)
        self.say("   translation into zh-CN received")

    async def travel(self) -> None:
        await self.wait_until(
            "travel to start", lambda s: s.stage == CaseStage.TRAVEL and s.travel is not None
        )
        trip = self.trip
        events = [
            TravelEvent(
                kind=TravelEventKind.VISA_LETTER_RECEIVED,
                on=trip,
                document=self.store("visa-invitation.pdf", DocumentKind.VISA_LETTER),
            ),
            TravelEvent(kind=TravelEventKind.VISA_GRANTED, on=trip + timedelta(days=6)),
            TravelEvent(
                kind=TravelEventKind.FLIGHTS_BOOKED,
                on=trip + timedelta(days=8),
                planned_admission_date=trip + timedelta(days=20),
            ),
            TravelEvent(kind=TravelEventKind.ARRIVED, on=trip + timedelta(days=19)),
        ]
        for event in events:
            await case_client.record_travel(self.client, self.case_id, event)
            self.say(f"   travel: {event.kind.value} on {event.on}")

    async def admission(self) -> None:
        await self.wait_for_stage(CaseStage.ADMISSION)
        admitted, discharged = self.trip + timedelta(days=20), self.trip + timedelta(days=34)
        await case_client.record_admission(self.client, self.case_id, admitted)
        self.say(f"   admitted on {admitted}")
        await case_client.record_discharge(
            self.client, self.case_id, DischargeRecorded(discharged_on=discharged)
        )
        self.say(f"   discharged on {discharged}")

    async def follow_ups(self) -> None:
        await self.wait_for_stage(CaseStage.FOLLOW_UP)
        recorded: set[int] = set()
        while True:
            status = await self.wait_until(
                "a due follow-up",
                lambda s: (
                    s.stage == CaseStage.CLOSED
                    or any(f.status == "due" and f.day not in recorded for f in s.follow_ups)
                ),
            )
            if status.stage == CaseStage.CLOSED:
                return
            for follow_up in status.follow_ups:
                if follow_up.status == "due" and follow_up.day not in recorded:
                    await case_client.record_follow_up(
                        self.client,
                        self.case_id,
                        FollowUpRecorded(day=follow_up.day, status="well"),
                    )
                    recorded.add(follow_up.day)
                    self.say(f"   follow-up day {follow_up.day}: well")

    async def result(self) -> CaseResult:
        handle = case_client.case_handle(self.client, self.case_id)
        result = await asyncio.wait_for(handle.result(), self.stage_timeout)
        await self.status()
        return result

    async def run(self) -> CaseResult:
        await self.start()
        await self.upload_records()
        await self.review()
        await self.packets_stored()
        await self.packets_delivered()
        await self.fetch_packet(self.selected)
        await self.hospitals_respond()
        await self.select()
        await self.translate()
        await self.travel()
        await self.admission()
        await self.follow_ups()
        return await self.result()


async def run_demo(settings: CaseflowSettings, say: Callable[[str], None]) -> CaseResult:
    client = await connect(settings)
    await require_worker(client, settings)
    with tempfile.TemporaryDirectory(prefix="caseflow-demo-") as workdir:
        say(
            f"demo: a fictional case; the trip is recorded as {TRIP_DAYS_AGO} days ago so "
            "every follow-up timer has already fired"
        )
        case = DemoCase(client, settings, Path(workdir), say, hospitals=DELIVERY_HOSPITALS)
        result = await case.run()
    say(
        f"packets: the webhook hospital's in {settings.data_dir / 'webhooks'}, "
        f"the email hospital's in {settings.data_dir / 'mail'}"
    )
    return result


def demo_command() -> None:
    """Drive a fictional case through every stage on the running stack (needs the worker)."""
    console = Console()
    settings = get_settings()
    started = time.monotonic()

    def say(text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    result = asyncio.run(run_demo(settings, say))
    if result.outcome != CaseOutcome.COMPLETED:
        raise DemoError(f"case {result.case_id} closed as {result.outcome.value}")
    console.print(
        f"[green]case {result.case_id} CLOSED ({result.outcome.value})[/green] in "
        f"{time.monotonic() - started:.0f} s; its stage history: "
        f"{case_client.ui_link(settings, result.case_id)}",
        highlight=False,
        soft_wrap=True,
    )
