"""Does the work queue keep up with visibility? 1,000 open cases (started through the client layer
against a dev server and worker the bench starts), then, in the same run, the queue page rendered
for a supervisor through the HTTP service (a real login through the login form, names decoded
from the encrypted memos) against the bare visibility list of the same cases
(`client.list_workflows`). Targets (issue 9): the page in <= 1 s and in <= 2x the bare list.
Then one case page (`/console/cases/<id>`, HTTP, the same login) against its status query alone
(`client.cases.case_status`), interleaved in the same run: the page in <= 3x the query.

    python -m bench.console [--cases 1000] [--renders 10] [--case-renders 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import aiohttp

from bench.service_stack import service_stack
from bench.web_api import EXAMPLES, percentile
from caseflow.case_status import CaseStage
from caseflow.intake import CaseIntake
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from client import cases
from client.identities import IdentityStore

TARGET_SECONDS = 1.0
TARGET_RATIO = 2.0
CASE_PAGE_RATIO = 3.0
PASSWORD = "bench console password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def start_cases(client, settings: CaseflowSettings, count: int, concurrency: int) -> None:
    """`count` cases for two coordinators, started `concurrency` at a time."""
    template = json.loads((EXAMPLES / "intake.json").read_text())
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        intake = json.loads(json.dumps(template))
        intake["coordinator_id"] = ("bench-ana", "bench-ben")[n % 2]
        intake["patient"]["given_name"] = f"Bench{n:04d}"
        async with gate:
            await cases.start_case(
                client, settings, CaseIntake.model_validate(intake), date.today()
            )

    await asyncio.gather(*(one(n) for n in range(count)))


async def log_in(web: aiohttp.ClientSession, login: str) -> None:
    """Through the login form, as a browser does: the anonymous session's CSRF token first."""
    async with web.get("/login") as response:
        found = _CSRF.search(await response.text())
    assert found, "the login page has no CSRF token"
    form = {"login": login, "password": PASSWORD, "csrf_token": found.group(1), "next": "/console"}
    async with web.post("/login", data=form, allow_redirects=False) as response:
        if response.status != 303:
            raise RuntimeError(f"login refused: {response.status}")


async def anyone_case(client, query: str) -> str:
    async for execution in client.list_workflows(query, limit=1):
        return execution.id.removeprefix("case-")
    raise RuntimeError("no case to open")


def line(label: str, seconds: list[float]) -> str:
    return (
        f"  {label:<34} median {statistics.median(seconds) * 1000:7.1f} ms   "
        f"p90 {percentile(seconds, 90) * 1000:7.1f} ms   (n={len(seconds)})"
    )


async def bench(args: argparse.Namespace, workdir: Path) -> int:
    async with service_stack(workdir, "console-bench") as stack:
        settings = stack.settings
        store = IdentityStore(settings.identity_database())
        store.add_user("bench-sup", "supervisor", name="Bench", email="s@example.invalid",
                       password=PASSWORD)
        store.close()

        client = await connect(settings)
        started = time.perf_counter()
        await start_cases(client, settings, args.cases, args.concurrency)
        query = cases.visibility_query(open_only=True)
        # Every case waits in RECORDS (and visibility has caught up) before anything is timed,
        # so the worker is idle while the two are measured.
        settled = cases.visibility_query(CaseStage.RECORDS, open_only=True)
        while (await client.count_workflows(settled)).count < args.cases:
            await asyncio.sleep(0.5)
        print(
            f"caseflow console work queue vs the bare visibility list: {args.cases} open cases "
            f"(started in {time.perf_counter() - started:.0f} s), {args.renders} renders each"
        )

        async def bare_list() -> int:
            rows = 0
            async for _ in client.list_workflows(query, limit=cases_limit):
                rows += 1
            return rows

        cases_limit = args.cases + 100
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{settings.web_port}",
            raise_for_status=True,
            cookie_jar=aiohttp.CookieJar(unsafe=True),  # a cookie for 127.0.0.1
        ) as browser:
            await log_in(browser, "bench-sup")

            async def queue_page() -> int:
                async with browser.get("/console", headers={"Accept": "text/html"}) as response:
                    page = await response.text()
                return page.count('<a href="/console/cases/')

            # Warm both paths (connections, the template cache, the worker's caches).
            assert await bare_list() >= args.cases
            assert await queue_page() >= args.cases, "the queue does not show every case"
            timings: dict[str, list[float]] = {"bare": [], "page": []}
            # Interleaved, so a drift in the shared machine hits both alike.
            for _ in range(args.renders):
                for side, call in (("bare", bare_list), ("page", queue_page)):
                    began = time.perf_counter()
                    await call()
                    timings[side].append(time.perf_counter() - began)
            # One case page against its status query, after a warm-up of each (the page keeps
            # the case's start input in the process, as it does for any case opened twice).
            one_case = await anyone_case(client, query)

            async def status_query() -> int:
                return len((await cases.case_status(client, one_case)).checklist)

            async def case_page() -> int:
                async with browser.get(f"/console/cases/{one_case}") as response:
                    page = await response.text()
                assert "Records checklist" in page
                return page.count('<tr id="item-')

            for _ in range(3):
                await status_query()
                await case_page()
            for _ in range(args.case_renders):
                for side, call in (("status", status_query), ("case", case_page)):
                    began = time.perf_counter()
                    await call()
                    timings.setdefault(side, []).append(time.perf_counter() - began)
        bare, page = (statistics.median(timings[s]) for s in ("bare", "page"))
        ratio = page / bare
        print(line("bare list (client.list_workflows)", timings["bare"]))
        print(line("work queue page (HTTP, supervisor)", timings["page"]))
        fast = page <= TARGET_SECONDS
        close = ratio <= TARGET_RATIO
        print(
            f"  page {page * 1000:.0f} ms ({'meets' if fast else 'misses'} <= "
            f"{TARGET_SECONDS * 1000:.0f} ms); page/bare {ratio:.2f}x "
            f"({'meets' if close else 'misses'} <= {TARGET_RATIO:.0f}x)"
        )
        status, case = (statistics.median(timings[s]) for s in ("status", "case"))
        case_ratio = case / status
        print(line("case status query (case_status)", timings["status"]))
        print(line("case page (HTTP, supervisor)", timings["case"]))
        case_close = case_ratio <= CASE_PAGE_RATIO
        print(
            f"  case page {case * 1000:.1f} ms; page/status {case_ratio:.2f}x "
            f"({'meets' if case_close else 'misses'} <= {CASE_PAGE_RATIO:.0f}x)"
        )
        return 0 if fast and close and case_close else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console", description=__doc__)
    parser.add_argument("--cases", type=int, default=1000, help="open cases (default 1000)")
    parser.add_argument("--renders", type=int, default=10, help="timed renders of each (10)")
    parser.add_argument("--case-renders", type=int, default=30,
                        help="timed case pages and status queries (30)")
    parser.add_argument("--concurrency", type=int, default=32, help="case starts at once (32)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="caseflow-console-bench-"))
    try:
        code = asyncio.run(bench(args, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
