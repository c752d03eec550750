"""Lifecycle benchmark: N fictional cases through every stage against a bare workflow with the same
count of activities and updates. `python -m bench.lifecycle [--cases 100,500,1000]`.

The script starts its own SeaweedFS and mail sink, and a fresh Temporal dev server (SQLite in a
temp dir, WAL) for every measured run, so neither side inherits the other's history. Each side's
worker runs in a process of its own (caseflow's is `python -m worker`), so CPU is counted per
process: Temporal server, worker (with any render processes under it) and this driver. The
baseline's coordinator makes the same uploads to S3 as a case's (the honest baseline, issue 14):
the ratios measure what caseflow adds, not what the coordinator's client-side work costs.

Each case is coordinator/case_script.py's scripted case, the one
`caseflow demo` narrates: real uploads to S3, review, hospital responses, selection, translation,
travel, admission, discharge and follow-ups dated a year back (so every follow-up timer is
already due). Latency is measured from sending an update to the state it causes: the update's
round trip, and for transitions that the workflow makes afterwards (packets stored, next stage,
closed), until `progress` shows them. bench/stats.py holds the measurements, bench/report.py prints
them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil
from temporalio.client import Client, WorkflowHandle, WorkflowHistory

from activities.documents import DocumentStore, StoreDocumentInput
from bench.lifecycle_baseline import (
    BARE_QUEUE,
    BareEvent,
    BareInput,
    BareLifecycleWorkflow,
    BarePhase,
    BareStatus,
)
from bench.report import print_bounds, print_detail, print_table, print_targets
from bench.service_stack import settings_env
from bench.stats import CpuMeter, RunResult, Samples
from caseflow.case_status import CaseOutcome
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import case_workflow_id, new_case_id
from caseflow.keyring import ensure_key_file
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from coordinator.case_script import CaseScript, ScriptError, fictional_pdf
from infra.mail_sink import MailSink
from infra.seaweedfs import SeaweedFS, SeaweedPorts
from infra.server_process import ServerProcess, free_port
from infra.temporal_server import TemporalDevServer

BUCKET = "caseflow-documents"


class BenchError(RuntimeError):
    """A case did not reach the state it was driven to; the message names the case and state."""


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
    """Drives one CaseWorkflow through every stage with coordinator/case_script.py, the script
    `caseflow demo` narrates; `samples` is its listener, so every step is timed."""

    settings: CaseflowSettings
    store: DocumentStore
    uploads: ThreadPoolExecutor
    files: Path
    directory: HospitalDirectory
    today: date = field(default_factory=date.today)

    def upload_file(self, case_id: str, path: Path, kind: DocumentKind) -> DocumentRef:
        return self.store.store(StoreDocumentInput(case_id=case_id, kind=kind, path=str(path)))

    async def upload(self, case_id: str, name: str, kind: DocumentKind) -> DocumentRef:
        """Store one of the script's files outside a case script (the baseline's uploads)."""
        path = self.files / name
        if not path.exists():
            path.write_bytes(fictional_pdf(name))
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        ref = await loop.run_in_executor(self.uploads, self.upload_file, case_id, path, kind)
        self.samples.uploads.append(time.perf_counter() - started)
        return ref

    async def drive(self) -> str:
        script = CaseScript(
            self.client,
            self.settings,
            self.files,
            self.samples,
            today=self.today,
            stage_timeout=self.timeout,
            poll=self.poll,
            directory=self.directory,
            upload=self.upload_file,
            upload_executor=self.uploads,
        )
        try:
            result = await script.run(packets=False)
        except ScriptError as error:
            raise BenchError(str(error)) from None
        if result.outcome != CaseOutcome.COMPLETED:
            raise BenchError(f"case {script.case_id} closed as {result.outcome.value}")
        return case_workflow_id(script.case_id)


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


async def case_histories(client: Client, workflow_ids: list[str]) -> AsyncIterator[WorkflowHistory]:
    """The histories of the given workflows and of every child they started."""
    pending = list(workflow_ids)
    while pending:
        history = await client.get_workflow_handle(pending.pop()).fetch_history()
        for event in history.events:
            if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
                child = event.start_child_workflow_execution_initiated_event_attributes
                pending.append(child.workflow_id)
        yield history


async def history_profile(
    client: Client, workflow_ids: list[str]
) -> tuple[Counter, Counter, dict[str, list[int]]]:
    """Event types and scheduled activity types over the given workflows' histories, and the
    events by workflow type (the case's own history apart from its referral children's)."""
    events: Counter = Counter()
    activities: Counter = Counter()
    by_workflow: dict[str, list[int]] = {}
    async for history in case_histories(client, workflow_ids):
        first = history.events[0].workflow_execution_started_event_attributes
        by_workflow.setdefault(first.workflow_type.name, []).append(len(history.events))
        for event in history.events:
            name = event.WhichOneof("attributes") or "unknown"
            events[name.removesuffix("_event_attributes")] += 1
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                activities[scheduled.activity_type.name] += 1
    return events, activities, by_workflow


async def task_waits(client: Client, workflow_ids: list[str]) -> dict[str, list[float]]:
    """Seconds each activity and workflow task waited for a worker (scheduled -> started) and
    ran (started -> completed), by type, over the given workflows and their children: where a
    transition's time goes (a render queue, or a busy worker, shows as waiting)."""
    spans: dict[str, list[float]] = {}
    async for history in case_histories(client, workflow_ids):
        first = history.events[0].workflow_execution_started_event_attributes
        kind = first.workflow_type.name.removesuffix("Workflow")
        scheduled: dict[int, tuple[str, float]] = {}
        started: dict[int, float] = {}
        for event in history.events:
            at = event.event_time.ToDatetime().timestamp()
            if event.HasField("activity_task_scheduled_event_attributes"):
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[event.event_id] = (name, at)
            elif event.HasField("workflow_task_scheduled_event_attributes"):
                scheduled[event.event_id] = (f"{kind} workflow task", at)
            elif event.HasField("activity_task_started_event_attributes"):
                started[event.activity_task_started_event_attributes.scheduled_event_id] = at
            elif event.HasField("workflow_task_started_event_attributes"):
                started[event.workflow_task_started_event_attributes.scheduled_event_id] = at
            elif event.HasField("activity_task_completed_event_attributes"):
                done = event.activity_task_completed_event_attributes.scheduled_event_id
                _span(spans, scheduled[done], started.get(done), at)
            elif event.HasField("workflow_task_completed_event_attributes"):
                done = event.workflow_task_completed_event_attributes.scheduled_event_id
                _span(spans, scheduled[done], started.get(done), at)
    return spans


def _span(
    spans: dict[str, list[float]], scheduled: tuple[str, float], began: float | None, ended: float
) -> None:
    name, queued = scheduled
    began = queued if began is None else began
    spans.setdefault(f"{name} waited", []).append(began - queued)
    spans.setdefault(f"{name} ran", []).append(ended - began)


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
                # An update's own message is in its cause ("Workflow update failed" says nothing).
                cause = getattr(error, "cause", None) or error
                failures.append(f"{type(error).__name__}: {str(cause).splitlines()[0][:200]}")

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return done, failures


def start_workers(system: str, settings: CaseflowSettings, run_dir: Path) -> list[ServerProcess]:
    """The system's workers in processes of their own, as deployed: caseflow's case worker and
    render worker (`python -m worker --role cases|letters`, as `dev up` starts them, each with
    its own GIL), the baseline's one worker. Their CPU, and their render processes', is counted
    apart from the driver's."""
    env = settings_env(settings) | {
        "CASEFLOW_SMTP_PORT": str(settings.smtp_port),
        "CASEFLOW_KEY_FILE": str(run_dir.parent / "keys.json"),
    }
    if system == "caseflow":
        commands = {role: ["-m", "worker", "--role", role] for role in ("cases", "letters")}
    else:
        commands = {"bare": ["-m", "bench.lifecycle_baseline"]}
    workers = []
    try:
        for role, command in commands.items():
            worker = ServerProcess(f"{system}-{role}-worker", [sys.executable, *command], [],
                                   run_dir, env)
            workers.append(worker)
            worker.start()
            worker.wait_until(functools.partial(_started, worker), 90)
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    return workers


def _started(worker: ServerProcess) -> bool:
    return b"worker started" in worker.log_file.read_bytes()


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
    workers: list[ServerProcess] = []
    try:
        settings = shared.settings.model_copy(
            update={"temporal_address": server.address, "temporal_ui_url": server.ui_url}
        )
        workers = start_workers(system, settings, server_dir)
        client = await connect(settings)
        with ThreadPoolExecutor(args.concurrency, thread_name_prefix="upload") as uploads:
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
            if system != "caseflow":
                assert plan is not None
                driver = bare_coordinator(client, args, plan, caseflow)
            try:
                # Warm-up: sandbox imports, first connections; not counted.
                warm = await driver.drive()
                plan = plan or dict(caseflow.samples.phase_updates)
                samples = Samples()
                driver.samples = caseflow.samples = samples
                worker_pids = tuple(pid for w in workers if (pid := w.pid()) is not None)
                pids: dict[str, int | tuple[int, ...] | None] = {
                    "temporal server": server.process().pid(), "worker": worker_pids
                }
                # Storage and mail serve both sides alike: what a case makes them do counts.
                mail = shared.mail.process().pid()
                meter = CpuMeter.for_processes(
                    {name: pid for name, pid in pids.items() if pid is not None}
                    | {"storage (SeaweedFS)": tuple(shared.seaweed.pids().values())}
                    | ({"mail sink": mail} if mail is not None else {})
                    | {"driver": os.getpid()},
                    alone=frozenset({"driver"}),  # its children are measured above
                )
                # The render worker's share of "worker": the work the bare workflow has no
                # counterpart for (bench/report.py print_bounds).
                renderer = tuple(
                    pid
                    for w in workers
                    if w.name.endswith("-letters-worker") and (pid := w.pid()) is not None
                )
                render_meter = CpuMeter.for_processes({"render worker": renderer})
                started = time.perf_counter()
                done, failures = await run_cases(count, args.concurrency, driver.drive)
                seconds = time.perf_counter() - started
                cpu = meter.used()
                render_cpu = sum(render_meter.used().values())
                events, activities, by_workflow = await history_profile(client, [warm])
                samples.activities = await task_waits(client, done)
            finally:
                store.close()
        result = RunResult(
            system, count, args.concurrency, seconds, failures, samples, cpu, events, activities,
            events_by_workflow=by_workflow, render_cpu=render_cpu,
        )
        return result, plan
    finally:
        for worker in workers:
            worker.stop()
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
# translation packet then its mail, the visa-letter notice, and at every stage the patient's
# mail that says so (issue 10). print_targets compares the count with the case's history.
_PATIENT_MAIL = [1]
_BARE_CHAINS = {
    "records": _PATIENT_MAIL,
    "review": _PATIENT_MAIL,
    "submission": [2, 2, *_PATIENT_MAIL],
    "translation": [2, *_PATIENT_MAIL],
    "travel": [1, *_PATIENT_MAIL],
    "admission": _PATIENT_MAIL,
    "follow_up": _PATIENT_MAIL,
}
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
        print_targets(caseflow, bare)
        print_bounds(caseflow, bare)
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
        default=[100],
        help="case counts to run (default 100; e.g. 500, 1000 or 100,500,1000; 20 for a "
        "quick run)",
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
        "--bare-without-uploads",
        dest="baseline_uploads",
        action="store_false",
        help="the old, flattering baseline: its coordinator skips the uploads a case's makes",
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
