"""The lifecycle bench's report: one table per case count, then latency by step and per case."""

from __future__ import annotations

import math

from bench.stats import RunResult, Samples, percentile

# Issue 14's targets, each printed with its measured value by print_targets.
TARGET_RATIO = 0.6  # throughput, caseflow / honest baseline, at 100 cases
UPDATE_P99_RATIO = 2.0
PACKETS_STORED_P99_S = 1.5
EVENTS_RATIO = 1.3
PACKETS_STORED = "review -> packets stored"


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
    print("  activities, p50/p99 ms (n):")
    for run in (caseflow, bare):
        for label, values in sorted(run.samples.activities.items()):
            print(
                f"    {run.system:<9}{label:<43}"
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


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan


def print_targets(caseflow: RunResult, bare: RunResult) -> None:
    """Every lifecycle target of issue 14 with its measured value, and the ratios behind them."""
    upd_c, upd_b = Samples.flat(caseflow.samples.updates), Samples.flat(bare.samples.updates)
    pk_c = caseflow.samples.transitions.get(PACKETS_STORED, [])
    pk_b = bare.samples.transitions.get(PACKETS_STORED, [])
    ev_c, ev_b = sum(caseflow.events.values()), sum(bare.events.values())
    n_c, n_b = max(caseflow.completed, 1), max(bare.completed, 1)
    print(f"  ratios caseflow / honest baseline, {caseflow.cases} cases:")
    acts_c, acts_b = sum(caseflow.activities.values()), sum(bare.activities.values())
    if acts_c != acts_b:
        print(f"    WARNING: the baseline ran {acts_b} activities a case, caseflow {acts_c}: "
              "bench/lifecycle.py _BARE_CHAINS no longer mirrors the case")
    rows = [
        ("update p50", percentile(upd_c, 50), percentile(upd_b, 50), "ms"),
        ("update p99", percentile(upd_c, 99), percentile(upd_b, 99), "ms"),
        ("review -> packets stored p50", percentile(pk_c, 50), percentile(pk_b, 50), "ms"),
        ("review -> packets stored p99", percentile(pk_c, 99), percentile(pk_b, 99), "ms"),
    ]
    for label, c, b, _unit in rows:
        print(f"    {label:<34}{ms(c):>7} / {ms(b):<7} = {_ratio(c, b):5.2f}x")
    print(f"    {'history events per case':<34}{ev_c:>7} / {ev_b:<7} = {_ratio(ev_c, ev_b):5.2f}x")
    for name in caseflow.cpu:
        c, b = caseflow.cpu[name] / n_c, bare.cpu.get(name, math.nan) / n_b
        print(f"    {'CPU ms/case, ' + name:<34}{ms(c):>7} / {ms(b):<7} = {_ratio(c, b):5.2f}x")
    total_c = sum(caseflow.cpu.values()) / n_c
    total_b = sum(bare.cpu.values()) / n_b
    label = "CPU ms/case, all processes"
    print(f"    {label:<34}{ms(total_c):>7} / {ms(total_b):<7} = {_ratio(total_c, total_b):5.2f}x")

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    throughput = _ratio(caseflow.rate, bare.rate)
    update_p99 = _ratio(percentile(upd_c, 99), percentile(upd_b, 99))
    stored_p99 = percentile(pk_c, 99)
    events = _ratio(ev_c, ev_b)
    print("  issue 14 targets:")
    print(f"    throughput >= {TARGET_RATIO}x baseline: {throughput:.2f}x "
          f"({verdict(throughput >= TARGET_RATIO)})")
    print(f"    update p99 <= {UPDATE_P99_RATIO}x baseline: {update_p99:.2f}x "
          f"({verdict(update_p99 <= UPDATE_P99_RATIO)})")
    print(f"    review -> packets stored p99 <= {PACKETS_STORED_P99_S} s: {stored_p99:.2f} s "
          f"({verdict(stored_p99 <= PACKETS_STORED_P99_S)})")
    print(f"    history events per case <= {EVENTS_RATIO}x baseline: {events:.2f}x "
          f"({verdict(events <= EVENTS_RATIO)})")
    print("    letter PDF >= 8x faster than WeasyPrint: printed by `python -m bench.packets`")


def print_bounds(caseflow: RunResult, bare: RunResult) -> None:
    """How far the throughput and events targets can be reached at all on this machine: the
    work a case does that the bare workflow has no counterpart for, and the events of the
    referral children (one per hospital, design.md) apart from the case's own history."""
    n_c, n_b = max(caseflow.completed, 1), max(bare.completed, 1)
    total_c = sum(caseflow.cpu.values()) / n_c
    total_b = sum(bare.cpu.values()) / n_b
    # With every process on the same cores, a saturated run's throughput follows CPU per case.
    print("  bounds:")
    print(f"    CPU ms/case, baseline / caseflow  {ms(total_b):>7} / {ms(total_c):<7} = "
          f"{_ratio(total_b, total_c):5.2f}x (throughput {_ratio(caseflow.rate, bare.rate):.2f}x)")
    own = {
        "render worker (letters, packets)": caseflow.render_cpu / n_c,
        "storage (SeaweedFS) beyond the baseline's": max(
            0.0,
            caseflow.cpu.get("storage (SeaweedFS)", 0.0) / n_c
            - bare.cpu.get("storage (SeaweedFS)", 0.0) / n_b,
        ),
        "mail sink beyond the baseline's": max(
            0.0, caseflow.cpu.get("mail sink", 0.0) / n_c - bare.cpu.get("mail sink", 0.0) / n_b
        ),
    }
    for label, seconds in own.items():
        print(f"    {label:<44}{ms(seconds):>7} ms/case")
    work = sum(own.values())
    bound = _ratio(total_b, total_b + work)
    print(f"    throughput were caseflow's orchestration as cheap as the baseline's: "
          f"{ms(total_b)} / ({ms(total_b)} + {ms(work)}) = {bound:.2f}x (target {TARGET_RATIO}x)")
    events_b = sum(bare.events.values())
    for workflow_type, lengths in sorted(caseflow.events_by_workflow.items()):
        print(f"    history events, {workflow_type}: {len(lengths)} x "
              f"{sum(lengths) / len(lengths):.0f} = {sum(lengths)} "
              f"({_ratio(sum(lengths), events_b):.2f}x the baseline's {events_b})")
