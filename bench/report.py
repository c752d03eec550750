"""The lifecycle bench's report: one table per case count, then latency by step and per case."""

from __future__ import annotations

import math

from bench.stats import RunResult, Samples, percentile

TARGET_RATIO = 0.8


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
