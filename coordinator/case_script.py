"""The scripted coordinator: one fictional case driven through every stage with client/cases.py.

`caseflow demo` narrates it, `bench/lifecycle.py` times it, and the integration tests and
`tests/histories/record.py` run it step by step. Each step waits for the state it acts in, so a
caller can run the steps one at a time and look at the case in between. What a run reports goes
to a `ScriptListener`: the demo prints stages and steps, the bench records update round trips and
how long each awaited state took to show.

Follow-up timers run 14 to 365 days after discharge. So that a script ends in seconds without
shortening them, the case records a trip that took place over a year ago: travel, admission and
discharge carry dates from then, so every follow-up is already due when the case reaches
FOLLOW_UP. A live case waits for its timers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

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
from caseflow.case_status import CaseProgress, CaseResult, CaseStage, CaseStatus
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.hospitals import HospitalDirectory
from caseflow.intake import CaseIntake
from caseflow.settings import CaseflowSettings
from client import cases as case_client
from client import packets

# Fictional directory entries (caseflow/hospitals.json). By default a script refers the case to
# the two `manual` hospitals; `caseflow demo` sends real packets to the webhook and the email
# hospital, which the embedded stack's hospital inbox and SMTP sink receive.
SELECTED_HOSPITAL = "cn-beijing-cancer"
OTHER_HOSPITAL = "cn-guangzhou-oncology"
DELIVERY_HOSPITALS = ("cn-xiamen-bnct", "in-chennai-proton")  # webhook, email
SCRIPT_COORDINATOR = "coord-demo"
TRIP_DAYS_AGO = 400

T = TypeVar("T")
Seen = TypeVar("Seen", CaseProgress, CaseStatus)
# Stores one local file for a case, as `case upload` does: (case id, path, kind) -> its ref.
DocumentUpload = Callable[[str, Path, DocumentKind], DocumentRef]


class ScriptError(RuntimeError):
    """The script could not go on; the message says where it stopped."""


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
            "coordinator_id": SCRIPT_COORDINATOR,
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


class ScriptListener:
    """What a script reports as it runs. Every method does nothing here; override what you use.

    Times are seconds. An update's round trip is `update_sent`; `state_reached` runs from the
    last update sent (or the start) until `progress` shows the state a step waited for, and each
    label is reported once per case.
    """

    def stage_entered(self, seen: CaseProgress | CaseStatus) -> None:
        """The case is in a stage the script had not seen it in yet."""

    def step_done(self, text: str) -> None:
        """One line on what the script just did, for people."""

    def update_sent(self, phase: str, label: str, seconds: float) -> None:
        """One update answered; `phase` is the stage's short name, `label` the update's."""

    def status_polled(self) -> None:
        """One `progress` query while waiting for a state."""

    def state_reached(self, label: str, seconds: float) -> None:
        """A state the script waited for shows, `seconds` after the update that caused it."""

    def document_stored(self, seconds: float) -> None:
        """One file stored in S3."""


class Narration(ScriptListener):
    """Says each new stage and each step in one line, as `caseflow demo` prints them."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say

    def stage_entered(self, seen: CaseProgress | CaseStatus) -> None:
        outcome = f" ({seen.outcome.value})" if seen.outcome else ""
        self.say(f"-> stage {seen.stage.value}{outcome}")

    def step_done(self, text: str) -> None:
        self.say(text)


class CaseScript:
    """One fictional case, driven stage by stage through client/cases.py.

    `run()` takes it from start to CLOSED; the steps it calls are public so a test can run them
    one at a time. `upload` stores a file (by default `client.documents.store_file`), run on
    `upload_executor` (by default the loop's), so uploads never block the event loop.
    """

    def __init__(
        self,
        client: Client,
        settings: CaseflowSettings,
        workdir: Path,
        listener: ScriptListener | None = None,
        *,
        today: date | None = None,
        stage_timeout: float = 30.0,
        poll: float = 0.2,
        hospitals: tuple[str, str] = (SELECTED_HOSPITAL, OTHER_HOSPITAL),
        directory: HospitalDirectory | None = None,
        upload: DocumentUpload | None = None,
        upload_executor: Executor | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.workdir = workdir
        self.listener = listener or ScriptListener()
        self.today = today or date.today()
        self.trip = self.today - timedelta(days=TRIP_DAYS_AGO)
        self.stage_timeout = stage_timeout
        self.poll = poll
        self.selected, self.other = hospitals
        self.directory = directory
        self.upload_file = upload or self._store_file
        self.upload_executor = upload_executor
        self.case_id = ""
        self._stage: CaseStage | None = None
        self._since = time.perf_counter()  # when the last update was sent
        self._reported: set[str] = set()

    # -- plumbing --------------------------------------------------------------------------------

    async def status(self) -> CaseStatus:
        """The whole status, read once where a step needs its details (a checklist, channels)."""
        status = await case_client.case_status(self.client, self.case_id)
        self._seen(status)
        return status

    async def progress(self) -> CaseProgress:
        """The light `progress` query (issue 14): what every wait below tests."""
        progress = await case_client.case_progress(self.client, self.case_id)
        self._seen(progress)
        return progress

    def _seen(self, seen: CaseProgress | CaseStatus) -> None:
        if seen.stage != self._stage:
            self._stage = seen.stage
            self.listener.stage_entered(seen)

    async def wait_until(
        self, what: str, done: Callable[[CaseProgress], object], label: str | None = None
    ) -> CaseProgress:
        """Poll `progress` until `done` is truthy; report it under `label` (once per case)."""
        return await self._poll(what, self.progress, done, label)

    async def wait_for_status(
        self, what: str, done: Callable[[CaseStatus], object], label: str | None = None
    ) -> CaseStatus:
        """Poll the whole status, for a wait on what `progress` does not carry (open deadlines,
        escalations): each poll costs the worker and this process the whole status."""
        return await self._poll(what, self.status, done, label)

    async def _poll(
        self,
        what: str,
        read: Callable[[], Awaitable[Seen]],
        done: Callable[[Seen], object],
        label: str | None,
    ) -> Seen:
        deadline = time.monotonic() + self.stage_timeout
        while True:
            seen = await read()
            self.listener.status_polled()
            if done(seen):
                if label is not None and label not in self._reported:
                    self._reported.add(label)
                    self.listener.state_reached(label, time.perf_counter() - self._since)
                return seen
            if seen.stage == CaseStage.CLOSED or time.monotonic() > deadline:
                failed = ""
                if seen.failed_steps:  # the error path can afford the whole status
                    status = seen if isinstance(seen, CaseStatus) else await self.status()
                    failed = ", ".join(f"{f.step_id} ({f.activity})" for f in status.failed_steps)
                raise ScriptError(
                    f"case {self.case_id} is in {seen.stage.value}, still waiting for {what}"
                    + (f"; failed steps: {failed}" if failed else "")
                    + f"; see {case_client.ui_link(self.settings, self.case_id)}"
                )
            await asyncio.sleep(self.poll)

    async def wait_for_stage(self, stage: CaseStage, label: str | None = None) -> CaseProgress:
        return await self.wait_until(f"stage {stage.value}", lambda s: s.stage == stage, label)

    async def send(self, phase: str, label: str, update: Awaitable[T]) -> T:
        """Send one update and report its round trip; later waits are timed from here."""
        self._since = started = time.perf_counter()
        answer = await update
        self.listener.update_sent(phase, label, time.perf_counter() - started)
        return answer

    def _store_file(self, case_id: str, path: Path, kind: DocumentKind) -> DocumentRef:
        from client.documents import store_file

        return store_file(self.settings, case_id, path, kind)

    async def store(self, name: str, kind: DocumentKind) -> DocumentRef:
        """Store a small fictional PDF for the case, the way 'case upload' does."""
        path = self.workdir / name
        if not path.exists():  # the bytes depend on the name only, so a file can be reused
            path.write_bytes(fictional_pdf(name))
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        ref = await loop.run_in_executor(
            self.upload_executor, self.upload_file, self.case_id, path, kind
        )
        self.listener.document_stored(time.perf_counter() - started)
        return ref

    # -- the stages ------------------------------------------------------------------------------

    async def start(self, **overrides) -> str:
        """Start the case; `overrides` go to CaseWorkflowInput (e.g. follow_up_days)."""
        intake = fictional_intake(self.today)
        self._since = time.perf_counter()
        self.case_id = await case_client.start_case(
            self.client, self.settings, intake, self.today, directory=self.directory, **overrides
        )
        self.listener.step_done(f"started case {self.case_id}")
        self.listener.step_done(f"Web UI: {case_client.ui_link(self.settings, self.case_id)}")
        return self.case_id

    async def upload_records(self) -> None:
        await self.wait_for_stage(CaseStage.RECORDS, "start -> RECORDS")
        status = await self.status()  # the checklist, once: which kinds each item accepts
        for item in status.checklist:
            if not item.missing:
                continue
            kind = item.accepts[0]
            ref = await self.store(f"{item.item_id}.pdf", kind)
            ack = await self.send(
                "records", "add_document", case_client.add_document(self.client, self.case_id, ref)
            )
            self.listener.step_done(f"   uploaded {kind.value} for {item.item_id}: {ack.detail}")

    async def review(self) -> None:
        await self.wait_for_stage(
            CaseStage.SPECIALIST_REVIEW, "last document -> SPECIALIST_REVIEW"
        )
        review = SubmitReview(
            outcome=ReviewOutcome.PROCEED,
            reviewer_id="specialist-demo",
            modalities=["bnct", "sbrt", "imrt_reirradiation"],
            target_hospital_ids=[self.selected, self.other],
            recommendation="Fictional demo review: ask both centres for a re-irradiation opinion.",
        )
        await self.send(
            "review", "submit_review", case_client.submit_review(self.client, self.case_id, review)
        )
        self.listener.step_done(f"   review: proceed to {self.selected} and {self.other}")

    async def packets_stored(self) -> CaseProgress:
        await self.wait_for_stage(CaseStage.HOSPITAL_SUBMISSION)
        targets = {self.selected, self.other}
        return await self.wait_until(
            "both referral packets",
            lambda p: set(p.packets_stored) >= targets,
            "review -> packets stored",
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
        await self.wait_until("the packets' delivery", lambda p: set(p.delivered) >= sent)
        status = await self.status()  # each channel's receipt and the packets' digests
        for hospital in status.hospitals:
            if hospital.hospital_id in sent:
                self.listener.step_done(
                    f"   delivered to {hospital.hospital_id} by {hospital.channel} "
                    f"({hospital.delivery_receipt}); packet sha256 {hospital.packet_sha256}"
                )

    async def fetch_packet(self, hospital_id: str) -> list[Path]:
        files = await packets.fetch_packet(
            self.client,
            self.settings,
            self.case_id,
            hospital_id,
            self.workdir / "packets",
        )
        self.listener.step_done(f"   packet for {hospital_id}: {', '.join(p.name for p in files)}")
        return files

    async def hospitals_respond(self) -> None:
        await self.packets_stored()
        documents = [
            await self.store("opinion.pdf", DocumentKind.HOSPITAL_OPINION),
            await self.store("cost-estimate.pdf", DocumentKind.COST_ESTIMATE),
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
            await self.send(
                "submission",
                "record_hospital_response",
                case_client.record_hospital_response(self.client, self.case_id, response),
            )
            self.listener.step_done(f"   {hospital_id} accepted")

    async def select(self) -> None:
        # As a coordinator does: select once the case shows the answer. A referral still
        # delivering takes the answer when it gets there, after the update has returned.
        await self.wait_until(
            f"{self.selected}'s answer",
            lambda p: self.selected in p.answered,
        )
        await self.send(
            "submission",
            "select_hospital",
            case_client.select_hospital(self.client, self.case_id, self.selected),
        )
        self.listener.step_done(f"   selected {self.selected}")

    async def translate(self) -> None:
        await self.wait_for_stage(CaseStage.TRANSLATION, "select -> TRANSLATION")
        event = TranslationReceived(
            documents=[await self.store("translated-summary.pdf", DocumentKind.TRANSLATION)],
            language="zh-CN",
        )
        await self.send(
            "translation",
            "record_translation",
            case_client.record_translation(self.client, self.case_id, event),
        )
        self.listener.step_done("   translation into zh-CN received")

    async def travel(self) -> None:
        await self.wait_until(
            "travel to start",
            lambda p: p.stage == CaseStage.TRAVEL and p.travel_started,
            "translation -> TRAVEL",
        )
        trip = self.trip
        events = [
            TravelEvent(
                kind=TravelEventKind.VISA_LETTER_RECEIVED,
                on=trip,
                document=await self.store("visa-invitation.pdf", DocumentKind.VISA_LETTER),
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
            await self.send(
                "travel",
                "record_travel",
                case_client.record_travel(self.client, self.case_id, event),
            )
            self.listener.step_done(f"   travel: {event.kind.value} on {event.on}")

    async def admission(self) -> None:
        await self.wait_for_stage(CaseStage.ADMISSION, "arrived -> ADMISSION")
        admitted, discharged = self.trip + timedelta(days=20), self.trip + timedelta(days=34)
        await self.send(
            "admission",
            "record_admission",
            case_client.record_admission(self.client, self.case_id, admitted),
        )
        self.listener.step_done(f"   admitted on {admitted}")
        await self.send(
            "admission",
            "record_discharge",
            case_client.record_discharge(
                self.client, self.case_id, DischargeRecorded(discharged_on=discharged)
            ),
        )
        self.listener.step_done(f"   discharged on {discharged}")

    async def follow_ups(self) -> None:
        """Record each follow-up as it falls due, until every one is recorded."""
        recorded: set[int] = set()

        def due(progress: CaseProgress) -> list[int]:
            return [day for day in progress.follow_ups_due if day not in recorded]

        while True:
            progress = await self.wait_until(
                "a due follow-up",
                lambda p: p.stage == CaseStage.CLOSED
                or (p.stage == CaseStage.FOLLOW_UP and bool(due(p))),
                "discharge -> follow-ups due",
            )
            if progress.stage == CaseStage.CLOSED:
                return
            for day in due(progress):
                await self.send(
                    "follow_up",
                    "record_follow_up",
                    case_client.record_follow_up(
                        self.client, self.case_id, FollowUpRecorded(day=day, status="well")
                    ),
                )
                recorded.add(day)
                self.listener.step_done(f"   follow-up day {day}: well")
            if recorded >= set(progress.follow_ups_open):  # every day not recorded before
                return

    async def result(self) -> CaseResult:
        handle = case_client.case_handle(self.client, self.case_id)
        result = await asyncio.wait_for(handle.result(), self.stage_timeout)
        self.listener.state_reached("last follow-up -> CLOSED", time.perf_counter() - self._since)
        await self.progress()
        return result

    async def run(self, *, packets: bool = True) -> CaseResult:
        """Every stage, start to CLOSED. `packets=False` skips waiting for the packets' delivery
        and fetching the selected hospital's packet, which only the demo shows."""
        await self.start()
        await self.upload_records()
        await self.review()
        await self.packets_stored()
        if packets:
            await self.packets_delivered()
            await self.fetch_packet(self.selected)
        await self.hospitals_respond()
        await self.select()
        await self.translate()
        await self.travel()
        await self.admission()
        await self.follow_ups()
        return await self.result()
