"""Lifecycle benchmark: N fictional cases through every stage against a bare workflow with the same
count of activities and updates. `python -m bench.lifecycle [--cases 100,500,1000]`.

The script starts its own SeaweedFS and mail sink, and a fresh Temporal dev server (SQLite in a
temp dir, WAL) for every measured run, so neither side inherits the other's history; the worker
runs in this process. A simulated coordinator drives each case like `caseflow demo`: real uploads
to S3, review, hospital responses, selection, translation, travel, admission, discharge and
follow-ups dated a year back (so every follow-up timer is already due). Latency is measured from
sending an update to the state it causes: the update's round trip, and for transitions that the
workflow makes afterwards (packets stored, next stage, closed), until `status` shows them.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psutil
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.documents import DocumentStore, StoreDocumentInput
from bench.lifecycle_baseline import (
    BareEvent,
    BareInput,
    BareLifecycleWorkflow,
    BarePhase,
    BareStatus,
    bare_step,
)
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
from caseflow.case_status import CaseOutcome, CaseStage, CaseStatus
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id, new_case_id
from caseflow.keyring import ensure_key_file
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from client import cases as case_client
from coordinator.demo import (
    OTHER_HOSPITAL,
    SELECTED_HOSPITAL,
    TRIP_DAYS_AGO,
    fictional_intake,
    fictional_pdf,
)
from infra.mail_sink import MailSink
from infra.seaweedfs import SeaweedFS, SeaweedPorts
from infra.server_process import free_port
from infra.temporal_server import TemporalDevServer

BUCKET = "caseflow-documents"
BARE_QUEUE = "bare-lifecycle"
TARGET_RATIO = 0.8
# Only 7 activities but 16 slots, as worker.build_worker gives caseflow's worker.
ACTIVITY_SLOTS = 16


class BenchError(RuntimeError):
    """A case did not reach the state it was driven to; the message names the case and state."""


# -- measurements ---------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Samples:
    """Seconds per label. Updates are round trips of execute_update; transitions run from the
    update that causes them until `status` (or the result) shows the new state."""

    updates: dict[str, list[float]] = field(default_factory=dict)
    transitions: dict[str, list[float]] = field(default_factory=dict)
    uploads: list[float] = field(default_factory=list)
    polls: int = 0

    def update(self, label: str, seconds: float) -> None:
        self.updates.setdefault(label, []).append(seconds)

    def transition(self, label: str, seconds: float) -> None:
        self.transitions.setdefault(label, []).append(seconds)

    @staticmethod
    def flat(groups: dict[str, list[float]]) -> list[float]:
        return [value for values in groups.values() for value in values]


@dataclass
class CpuMeter:
    """CPU seconds used by this process (worker and coordinator) and each server we started."""

    names: dict[int, str]
    start: dict[int, float] = field(default_factory=dict)

    @classmethod
    def for_children(cls) -> CpuMeter:
        names = {psutil.Process().pid: "bench (worker+driver)"}
        for child in psutil.Process().children(recursive=True):
            try:
                command = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "temporal" in command and "start-dev" in command:
                names[child.pid] = "temporal server"
            elif "weed" in command:
                names[child.pid] = "seaweedfs"
            elif "aiosmtpd" in command:
                names[child.pid] = "mail sink"
        meter = cls(names)
        meter.start = meter.read()
        return meter

    def read(self) -> dict[int, float]:
        used = {}
        for pid in self.names:
            try:
                times = psutil.Process(pid).cpu_times()
                used[pid] = times.user + times.system
            except psutil.Error:
                used[pid] = math.nan
        return used

    def used(self) -> dict[str, float]:
        now = self.read()
        return {name: now[pid] - self.start[pid] for pid, name in self.names.items()}


@dataclass
class RunResult:
    system: str
    cases: int
    concurrency: int
    seconds: float
    failures: list[str]
    samples: Samples
    cpu: dict[str, float]
    events: Counter  # history events of one case (children included), by type
    activities: Counter  # activity types scheduled in that case

    @property
    def completed(self) -> int:
        return self.cases - len(self.failures)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else math.nan


# -- the simulated coordinator --------------------------------------------------------------------


@dataclass
class Coordinator:
    """What both systems share: polling `status` until a state shows, and timing it."""

    client: Client
    samples: Samples
    poll: float
    timeout: float

    async def timed_update(self, label: str, send: Awaitable):
        started = time.perf_counter()
        answer = await send
        self.samples.update(label, time.perf_counter() - started)
        return answer

    async def until(self, label: str, since: float, read: Callable[[], Awaitable], done):
        """Poll `read()` until `done(answer)`; record the time since `since` under `label`."""
        deadline = time.monotonic() + self.timeout
        while True:
            answer = await read()
            self.samples.polls += 1
            if done(answer):
                self.samples.transition(label, time.perf_counter() - since)
                return answer
            if time.monotonic() > deadline:
                raise BenchError(f"{label}: not reached after {self.timeout:.0f} s")
            await asyncio.sleep(self.poll)


@dataclass(kw_only=True)
class CaseflowCoordinator(Coordinator):
    """Drives one CaseWorkflow through every stage, like coordinator/demo.py's DemoCase."""

    settings: CaseflowSettings
    store: DocumentStore
    uploads: ThreadPoolExecutor
    files: Path
    directory: HospitalDirectory
    today: date = field(default_factory=date.today)
    # Updates sent per phase, so the baseline gets exactly as many.
    phase_updates: Counter = field(default_factory=Counter)

    def _file(self, name: str) -> Path:
        path = self.files / name
        if not path.exists():
            path.write_bytes(fictional_pdf(name))
        return path

    async def upload(self, case_id: str, name: str, kind: DocumentKind) -> DocumentRef:
        request = StoreDocumentInput(case_id=case_id, kind=kind, path=str(self._file(name)))
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        ref = await loop.run_in_executor(self.uploads, self.store.store, request)
        self.samples.uploads.append(time.perf_counter() - started)
        return ref

    async def send(self, phase: str, label: str, send: Awaitable):
        self.phase_updates[phase] += 1
        return await self.timed_update(label, send)

    async def drive(self) -> str:
        client, trip = self.client, self.today - timedelta(days=TRIP_DAYS_AGO)
        intake = fictional_intake(self.today)
        started = time.perf_counter()
        case_id = await case_client.start_case(
            client, self.settings, intake, self.today, directory=self.directory
        )
        handle = case_client.case_handle(client, case_id)

        async def status() -> CaseStatus:
            return await case_client.case_status(client, case_id)

        def stage(wanted: CaseStage):
            return lambda s: s.stage == wanted

        current = await self.until("start -> RECORDS", started, status, stage(CaseStage.RECORDS))
        sent = time.perf_counter()
        for item in [i for i in current.checklist if i.missing]:
            ref = await self.upload(case_id, f"{item.item_id}.pdf", item.accepts[0])
            sent = time.perf_counter()
            await self.send(
                "records", "add_document", case_client.add_document(client, case_id, ref)
            )
        await self.until(
            "last document -> SPECIALIST_REVIEW",
            sent,
            status,
            stage(CaseStage.SPECIALIST_REVIEW),
        )

        review = SubmitReview(
            outcome=ReviewOutcome.PROCEED,
            reviewer_id="specialist-bench",
            modalities=["bnct", "sbrt", "imrt_reirradiation"],
            target_hospital_ids=[SELECTED_HOSPITAL, OTHER_HOSPITAL],
            recommendation="Fictional bench review: ask both centres for an opinion.",
        )
        sent = time.perf_counter()
        await self.send(
            "review", "submit_review", case_client.submit_review(client, case_id, review)
        )
        targets = {SELECTED_HOSPITAL, OTHER_HOSPITAL}
        await self.until(
            "review -> packets stored",
            sent,
            status,
            lambda s: {h.hospital_id for h in s.hospitals if h.packet_prefix} >= targets,
        )

        documents = [
            await self.upload(case_id, "opinion.pdf", DocumentKind.HOSPITAL_OPINION),
            await self.upload(case_id, "cost-estimate.pdf", DocumentKind.COST_ESTIMATE),
        ]
        for hospital_id, amount in ((SELECTED_HOSPITAL, 38000), (OTHER_HOSPITAL, 42000)):
            response = HospitalResponse(
                hospital_id=hospital_id,
                decision=HospitalDecision.ACCEPT,
                opinion="Fictional bench opinion: suitable for re-irradiation.",
                cost_estimate=CostEstimate(amount=amount, currency="USD"),
                earliest_admission_date=trip + timedelta(days=20),
                visa_invitation_possible=True,
                documents=documents if hospital_id == SELECTED_HOSPITAL else [],
            )
            await self.send(
                "submission",
                "record_hospital_response",
                case_client.record_hospital_response(client, case_id, response),
            )
        sent = time.perf_counter()
        await self.send(
            "submission",
            "select_hospital",
            case_client.select_hospital(client, case_id, SELECTED_HOSPITAL),
        )
        await self.until("select -> TRANSLATION", sent, status, stage(CaseStage.TRANSLATION))

        translation = TranslationReceived(
            documents=[
                await self.upload(case_id, "translated-summary.pdf", DocumentKind.TRANSLATION)
            ],
            language="zh-CN",
        )
        sent = time.perf_counter()
        await self.send(
            "translation",
            "record_translation",
            case_client.record_translation(client, case_id, translation),
        )
        await self.until(
            "translation -> TRAVEL",
            sent,
            status,
            lambda s: s.stage == CaseStage.TRAVEL and s.travel is not None,
        )

        visa_letter = await self.upload(case_id, "visa-invitation.pdf", DocumentKind.VISA_LETTER)
        for event in (
            TravelEvent(kind=TravelEventKind.VISA_LETTER_RECEIVED, on=trip, document=visa_letter),
            TravelEvent(kind=TravelEventKind.VISA_GRANTED, on=trip + timedelta(days=6)),
            TravelEvent(
                kind=TravelEventKind.FLIGHTS_BOOKED,
                on=trip + timedelta(days=8),
                planned_admission_date=trip + timedelta(days=20),
            ),
            TravelEvent(kind=TravelEventKind.ARRIVED, on=trip + timedelta(days=19)),
        ):
            sent = time.perf_counter()
            await self.send(
                "travel", "record_travel", case_client.record_travel(client, case_id, event)
            )
        await self.until("arrived -> ADMISSION", sent, status, stage(CaseStage.ADMISSION))

        await self.send(
            "admission",
            "record_admission",
            case_client.record_admission(client, case_id, trip + timedelta(days=20)),
        )
        sent = time.perf_counter()
        discharge = DischargeRecorded(discharged_on=trip + timedelta(days=34))
        await self.send(
            "admission",
            "record_discharge",
            case_client.record_discharge(client, case_id, discharge),
        )
        current = await self.until(
            "discharge -> follow-ups due",
            sent,
            status,
            lambda s: (
                s.stage == CaseStage.FOLLOW_UP
                and bool(s.follow_ups)
                and all(f.status != "scheduled" for f in s.follow_ups)
            ),
        )
        for follow_up in current.follow_ups:
            sent = time.perf_counter()
            await self.send(
                "follow_up",
                "record_follow_up",
                case_client.record_follow_up(
                    client, case_id, FollowUpRecorded(day=follow_up.day, status="well")
                ),
            )
        result = await asyncio.wait_for(handle.result(), self.timeout)
        self.samples.transition("last follow-up -> CLOSED", time.perf_counter() - sent)
        if result.outcome != CaseOutcome.COMPLETED:
            raise BenchError(f"case {case_id} closed as {result.outcome.value}")
        return case_workflow_id(case_id)


@dataclass(kw_only=True)
class BareCoordinator(Coordinator):
    """Drives the bare workflow through the same phases with the same number of updates, waiting
    where the case's coordinator waits."""

    phases: list[BarePhase]
    # The transition the case's coordinator waits for before each phase, by the same label.
    waits: dict[str, str]
    uploading: CaseflowCoordinator | None  # set: upload the same files as a case does
    uploads_per_phase: dict[str, list[tuple[str, DocumentKind]]]

    async def drive(self) -> str:
        workflow_id = f"bare-{new_case_id()}"
        started = time.perf_counter()
        handle: WorkflowHandle = await self.client.start_workflow(
            BareLifecycleWorkflow.run,
            BareInput(case_id=workflow_id, phases=self.phases),
            id=workflow_id,
            task_queue=BARE_QUEUE,
        )

        async def status() -> BareStatus:
            return await handle.query(BareLifecycleWorkflow.status)

        await self.until("start -> RECORDS", started, status, lambda s: s.phase == 0)
        sent = started
        for index, phase in enumerate(self.phases):
            if index and phase.name in self.waits:
                await self.until(
                    self.waits[phase.name],
                    sent,
                    status,
                    lambda s, index=index, phase=phase: (
                        s.phase == index and (s.activities_done or phase.name != "submission")
                    ),
                )
            uploads = list(self.uploads_per_phase.get(phase.name, []))
            for number in range(phase.updates):
                if self.uploading is not None and uploads:
                    name, kind = uploads.pop(0)
                    await self.uploading.upload(new_case_id(), name, kind)
                sent = time.perf_counter()
                await self.timed_update(
                    f"{phase.name} event",
                    handle.execute_update(
                        BareLifecycleWorkflow.event, BareEvent(phase=index, label=str(number))
                    ),
                )
        await asyncio.wait_for(handle.result(), self.timeout)
        self.samples.transition("last follow-up -> CLOSED", time.perf_counter() - sent)
        return workflow_id


# -- the stack and the runs -----------------------------------------------------------------------


@dataclass
class SharedStack:
    workdir: Path
    seaweed: SeaweedFS
    mail: MailSink
    settings: CaseflowSettings
    temporal: list[TemporalDevServer] = field(default_factory=list)

    def stop(self) -> None:
        """Stop everything this bench started, and only that (each by its own pid file)."""
        for server in self.temporal:
            server.stop()
        self.mail.stop()
        self.seaweed.stop()


def start_shared(workdir: Path) -> SharedStack:
    access_key, secret_key = "bench" + secrets.token_hex(6), secrets.token_urlsafe(30)
    seaweed = SeaweedFS(workdir / "seaweedfs", access_key, secret_key, SeaweedPorts.pick_free())
    mail = MailSink(workdir / "mail", port=free_port())
    seaweed.start(timeout=60)
    try:
        seaweed.ensure_bucket(BUCKET)
        mail.start()
    except BaseException:
        seaweed.stop()
        mail.stop()
        raise
    # Payloads are encrypted as in production, with a throwaway key for this run.
    ensure_key_file(workdir / "keys.json")
    settings = CaseflowSettings(
        _env_file=None,  # never the developer's .data/caseflow.env
        s3_endpoint_url=seaweed.endpoint_url,
        s3_access_key_id=access_key,
        s3_secret_access_key=secret_key,
        s3_bucket=BUCKET,
        smtp_port=mail.port,
        data_dir=workdir,
    )
    return SharedStack(workdir, seaweed, mail, settings)


def temporal_server(workdir: Path) -> TemporalDevServer:
    return TemporalDevServer(
        workdir,
        grpc_port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )


async def history_profile(client: Client, workflow_ids: list[str]) -> tuple[Counter, Counter]:
    """Event types and scheduled activity types over the given workflows' histories."""
    events: Counter = Counter()
    activities: Counter = Counter()
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            name = event.WhichOneof("attributes") or "unknown"
            events[name.removesuffix("_event_attributes")] += 1
            if event.HasField("activity_task_scheduled_event_attributes"):
                attrs = event.activity_task_scheduled_event_attributes
                activities[attrs.activity_type.name] += 1
            if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
                attrs = event.start_child_workflow_execution_initiated_event_attributes
                workflow_ids.append(attrs.workflow_id)
    return events, activities


async def run_cases(
    count: int, concurrency: int, drive: Callable[[], Awaitable[str]]
) -> tuple[list[str], list[str]]:
    """Drive `count` cases with at most `concurrency` in flight; (workflow ids, failures)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(count):
        queue.put_nowait(number)
    done: list[str] = []
    failures: list[str] = []

    async def lane() -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                done.append(await drive())
            except Exception as error:  # noqa: BLE001 - one failed case must not stop the run
                failures.append(f"{type(error).__name__}: {str(error).splitlines()[0][:200]}")

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return done, failures


async def measure(
    system: str,
    count: int,
    args: argparse.Namespace,
    shared: SharedStack,
    plan: dict[str, int] | None,
) -> tuple[RunResult, dict[str, int]]:
    """One run on a fresh Temporal server: a warm-up case, then `count` cases timed. Returns
    the result and the updates one case took per phase (the baseline's plan)."""
    server_dir = Path(tempfile.mkdtemp(prefix=f"temporal-{system}-{count}-", dir=shared.workdir))
    server = temporal_server(server_dir)
    shared.temporal.append(server)
    server.start(timeout=90)
    try:
        settings = shared.settings.model_copy(
            update={"temporal_address": server.address, "temporal_ui_url": server.ui_url}
        )
        client = await connect(settings)
        with (
            ThreadPoolExecutor(ACTIVITY_SLOTS, thread_name_prefix="activity") as executor,
            ThreadPoolExecutor(args.concurrency, thread_name_prefix="upload") as uploads,
        ):
            store = DocumentStore(settings, max_concurrency=args.concurrency)
            files = shared.workdir / "files"
            files.mkdir(exist_ok=True)
            caseflow = CaseflowCoordinator(
                client,
                Samples(),
                args.poll,
                args.timeout,
                settings=settings,
                store=store,
                uploads=uploads,
                files=files,
                directory=HospitalDirectory.load_default(),
            )
            driver: CaseflowCoordinator | BareCoordinator = caseflow
            if system == "caseflow":
                from worker import build_worker

                worker = build_worker(client, settings, executor)
            else:
                assert plan is not None
                worker = Worker(
                    client,
                    task_queue=BARE_QUEUE,
                    workflows=[BareLifecycleWorkflow],
                    activities=[bare_step],
                    activity_executor=executor,
                    max_concurrent_activities=ACTIVITY_SLOTS,
                )
                driver = bare_coordinator(client, args, plan, caseflow)
            try:
                async with worker:
                    # Warm-up: sandbox imports, first connections; not counted.
                    warm = await driver.drive()
                    plan = plan or dict(caseflow.phase_updates)
                    samples = Samples()
                    driver.samples = caseflow.samples = samples
                    meter = CpuMeter.for_children()
                    started = time.perf_counter()
                    done, failures = await run_cases(count, args.concurrency, driver.drive)
                    seconds = time.perf_counter() - started
                    cpu = meter.used()
                    events, activities = await history_profile(client, [warm])
            finally:
                store.close()
        result = RunResult(
            system, count, args.concurrency, seconds, failures, samples, cpu, events, activities
        )
        return result, plan
    finally:
        server.stop()
        shutil.rmtree(server_dir, ignore_errors=True)


# Which of the case's coordinator waits each bare phase mirrors (by the same label).
_BARE_WAITS = {
    "review": "last document -> SPECIALIST_REVIEW",
    "submission": "review -> packets stored",
    "translation": "select -> TRANSLATION",
    "travel": "translation -> TRAVEL",
    "admission": "arrived -> ADMISSION",
    "follow_up": "discharge -> follow-ups due",
}
# The activities a case runs at each stage: two referrals of (packet, notice) in parallel, the
# translation packet then its mail, the visa-letter notice. Checked against the case's history.
_BARE_CHAINS = {"submission": [2, 2], "translation": [2], "travel": [1]}
_BARE_UPLOADS = {
    "submission": [
        ("opinion.pdf", DocumentKind.HOSPITAL_OPINION),
        ("cost-estimate.pdf", DocumentKind.COST_ESTIMATE),
    ],
    "translation": [("translated-summary.pdf", DocumentKind.TRANSLATION)],
    "travel": [("visa-invitation.pdf", DocumentKind.VISA_LETTER)],
}


def bare_coordinator(
    client: Client, args: argparse.Namespace, plan: dict[str, int], uploader: CaseflowCoordinator
) -> BareCoordinator:
    phases = [
        BarePhase(name=name, activity_chains=_BARE_CHAINS.get(name, []), updates=updates)
        for name, updates in plan.items()
    ]
    uploads = dict(_BARE_UPLOADS)
    uploads["records"] = [
        (f"record-{n}.pdf", DocumentKind.BIOPSY_REPORT) for n in range(plan["records"])
    ]
    return BareCoordinator(
        client,
        Samples(),
        args.poll,
        args.timeout,
        phases=phases,
        waits=_BARE_WAITS,
        uploading=uploader if args.baseline_uploads else None,
        uploads_per_phase=uploads,
    )


# -- the report -----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def print_table(caseflow: RunResult, bare: RunResult) -> None:
    print(f"\n== {caseflow.cases} cases, concurrency {caseflow.concurrency} ==")
    header = (
        f"{'system':<10}{'cases/s':>9}{'wall s':>8}{'upd p50':>9}{'upd p99':>9}"
        f"{'trans p50':>11}{'trans p99':>11}{'failed':>8}"
    )
    print(header + "   (latencies in ms)")
    for run in (caseflow, bare):
        updates = Samples.flat(run.samples.updates)
        transitions = Samples.flat(run.samples.transitions)
        print(
            f"{run.system:<10}{run.rate:>9.2f}{run.seconds:>8.1f}"
            f"{ms(percentile(updates, 50)):>9}{ms(percentile(updates, 99)):>9}"
            f"{ms(percentile(transitions, 50)):>11}{ms(percentile(transitions, 99)):>11}"
            f"{len(run.failures):>8}"
        )
    ratio = caseflow.rate / bare.rate if bare.rate else math.nan
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(f"throughput ratio caseflow/baseline: {ratio:.2f} ({verdict} the {TARGET_RATIO} target)")


def print_detail(caseflow: RunResult, bare: RunResult) -> None:
    print("  latency by step, p50/p99 ms (n):")
    for run in (caseflow, bare):
        for kind, groups in (("update", run.samples.updates), ("until", run.samples.transitions)):
            for label, values in groups.items():
                print(
                    f"    {run.system:<9}{kind:<7}{label:<36}"
                    f"{ms(percentile(values, 50)):>7}/{ms(percentile(values, 99)):<7}"
                    f"({len(values)})"
                )
    print("  per case:")
    for run in (caseflow, bare):
        n = max(run.completed, 1)
        updates = len(Samples.flat(run.samples.updates)) / n
        cpu = ", ".join(f"{name} {used / n * 1000:.0f}" for name, used in run.cpu.items())
        uploads = run.samples.uploads
        print(
            f"    {run.system:<9}{updates:.0f} updates, {sum(run.activities.values())} "
            f"activities, {sum(run.events.values())} history events, "
            f"{run.samples.polls / n:.1f} status polls, {len(uploads) / n:.0f} uploads "
            f"({sum(uploads) / n * 1000:.0f} ms)"
        )
        print(f"    {'':<9}CPU ms/case: {cpu}")
        print(f"    {'':<9}activities: {dict(run.activities)}")
        top = ", ".join(f"{name} {c}" for name, c in run.events.most_common())
        print(f"    {'':<9}events: {top}")
        for failure in sorted(set(run.failures))[:5]:
            print(f"    {'':<9}failure: {failure}")


async def bench(args: argparse.Namespace, shared: SharedStack) -> None:
    print(
        f"caseflow lifecycle bench: {psutil.cpu_count()} CPUs, concurrency "
        f"{args.concurrency}, status poll every {args.poll * 1000:.0f} ms, baseline "
        f"{'with' if args.baseline_uploads else 'without'} the coordinator's uploads",
        flush=True,
    )
    for count in args.cases:
        caseflow, plan = await measure("caseflow", count, args, shared, None)
        bare, _ = await measure("baseline", count, args, shared, plan)
        print_table(caseflow, bare)
        print_detail(caseflow, bare)
        sys.stdout.flush()


def case_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--cases: comma-separated whole numbers") from None
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError("--cases: each count must be at least 1")
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__)
    parser.add_argument(
        "--cases",
        type=case_counts,
        default=[100, 500, 1000],
        help="case counts to run, e.g. 100,500,1000 (20 for a quick run)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="cases driven at once (default 16)"
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.05,
        help="seconds between status polls while waiting for a state",
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds a case may wait for any one state"
    )
    parser.add_argument(
        "--baseline-uploads",
        action="store_true",
        help="let the baseline's coordinator upload the same files to S3",
    )
    parser.add_argument("--dir", default=None, help="parent of the temp working directory")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency: must be at least 1")
    if args.poll <= 0:
        parser.error("--poll: must be more than 0")
    # SIGTERM unwinds like Ctrl-C, so the servers below are stopped either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="caseflow-lifecycle-", dir=args.dir))
    shared = start_shared(workdir)
    try:
        asyncio.run(bench(args, shared))
    finally:
        shared.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
