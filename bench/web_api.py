"""Does the web service cost its callers? Case status and the case list through the API (HTTP to a
`caseflow serve` process, bearer token, access checks and audit) against the same client-layer
calls made directly, in the same run, at the same concurrency; prints throughput ratios and
p50/p99 for each. Target (issue 8): API throughput >= 0.8x direct at 16 concurrent clients.

    python -m bench.web_api [--cases 40] [--concurrency 16] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp
import psutil

from bench.service_stack import service_stack
from caseflow.case_status import CaseStage
from caseflow.intake import CaseIntake
from caseflow.temporal_client import connect
from client import cases
from client.identities import IdentityStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TARGET = 0.8


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


class CpuMeter:
    """CPU seconds used by each named process (and this one) between two readings."""

    def __init__(self, pids: dict[str, int]):
        self.processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.processes["bench client"] = psutil.Process()

    def read(self) -> dict[str, float]:
        readings = {}
        for name, process in self.processes.items():
            times = process.cpu_times()
            readings[name] = times.user + times.system
        return readings


@dataclass
class Run:
    label: str
    calls: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds

    def line(self) -> str:
        calls = max(self.calls, 1)
        per_call = ", ".join(f"{n} {sec / calls * 1000:.2f}" for n, sec in self.cpu.items())
        return (
            f"  {self.label:<22} {self.per_second:8.1f} calls/s   "
            f"p50 {percentile(self.latencies, 50) * 1000:7.1f} ms   "
            f"p99 {percentile(self.latencies, 99) * 1000:7.1f} ms\n"
            f"  {'':<22} CPU ms per call: {per_call}"
        )


async def closed_loop(
    label: str,
    call: Callable[[int], Awaitable[object]],
    concurrency: int,
    seconds: float,
    meter: CpuMeter | None = None,
) -> Run:
    """`concurrency` clients each calling back-to-back for `seconds`."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(offset: int) -> None:
        n = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)
            n += concurrency

    before = meter.read() if meter else {}
    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    after = meter.read() if meter else {}
    cpu = {name: after[name] - before[name] for name in after}
    return Run(label, len(latencies), elapsed, latencies, cpu)


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    async with service_stack(workdir, "cases-bench") as stack:
        settings = stack.settings
        store = IdentityStore(settings.identity_database())
        store.add_user("bench-coord", "coordinator", name="Bench", email="b@example.invalid")
        token = store.create_token(user="bench-coord", label="bench").secret

        client = await connect(settings)
        intake = json.loads((EXAMPLES / "intake.json").read_text())
        intake["coordinator_id"] = "bench-coord"
        model = CaseIntake.model_validate(intake)
        case_ids = [
            await cases.start_case(client, settings, model, date.today())
            for _ in range(args.cases)
        ]
        for case_id in case_ids:
            while (await cases.case_status(client, case_id)).stage != CaseStage.RECORDS:
                await asyncio.sleep(0.05)
        while len(await cases.list_cases(client, coordinator_id="bench-coord")) < args.cases:
            await asyncio.sleep(0.2)  # visibility catches up

        # aiohttp's client, lighter than httpx's, so the client's own cost weighs less in a run
        # whose every process shares two cores; it still parses every answer.
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{settings.web_port}",
            headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(limit=args.concurrency * 2),
            raise_for_status=True,
        ) as api:

            async def api_status(n: int) -> None:
                async with api.get(f"/api/v1/cases/{case_ids[n % len(case_ids)]}") as response:
                    await response.json()

            async def direct_status(n: int) -> None:
                status = await cases.case_status(client, case_ids[n % len(case_ids)])
                status.model_dump_json()

            async def api_list(_n: int) -> None:
                async with api.get("/api/v1/cases") as response:
                    await response.json()

            async def direct_list(_n: int) -> None:
                rows = await cases.list_cases(client, coordinator_id="bench-coord")
                [row.model_dump_json() for row in rows]

            meter = CpuMeter(stack.pids())
            # Warm both paths (connections, caches, the worker's workflow cache).
            await closed_loop("warm-up", api_status, args.concurrency, 1.0)
            await closed_loop("warm-up", direct_status, args.concurrency, 1.0)
            print(
                f"caseflow web API vs the client layer directly: {args.cases} cases, "
                f"{args.concurrency} concurrent clients, {args.seconds:.0f} s per run"
            )
            worst = float("inf")
            for name, direct_call, api_call in (
                ("case status", direct_status, api_status),
                ("case list", direct_list, api_list),
            ):
                # Interleave the two, twice, so a drift in the machine hits both alike.
                runs: dict[str, list[Run]] = {"direct": [], "api": []}
                for _ in range(2):
                    for side, call in (("direct", direct_call), ("api", api_call)):
                        half = args.seconds / 2
                        runs[side].append(
                            await closed_loop(side, call, args.concurrency, half, meter)
                        )
                direct = _merged(f"{name}, direct", runs["direct"])
                through_api = _merged(f"{name}, API", runs["api"])
                ratio = through_api.per_second / direct.per_second
                worst = min(worst, ratio)
                print(direct.line())
                print(through_api.line())
                verdict = "meets" if ratio >= TARGET else "misses"
                print(f"  {name}: API/direct throughput {ratio:.2f}x ({verdict} >= {TARGET}x)")
        return 0 if worst >= TARGET else 1


def _merged(label: str, runs: list[Run]) -> Run:
    names = {name for r in runs for name in r.cpu}
    return Run(
        label,
        sum(r.calls for r in runs),
        sum(r.seconds for r in runs),
        [x for r in runs for x in r.latencies],
        {name: sum(r.cpu.get(name, 0.0) for r in runs) for name in sorted(names)},
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_api", description=__doc__)
    parser.add_argument("--cases", type=int, default=40, help="open cases to read (default 40)")
    parser.add_argument("--concurrency", type=int, default=16, help="clients at once (16)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per measured run")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="caseflow-web-bench-"))
    try:
        code = asyncio.run(bench(args, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
