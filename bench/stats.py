"""The lifecycle bench's measurements: latency samples, CPU per process, one run's result.

`Samples` is the scripted case's listener (coordinator/case_script.py), so the bench times exactly
what the demo narrates.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import psutil

from coordinator.case_script import ScriptListener


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Samples(ScriptListener):
    """Seconds per label. Updates are round trips of execute_update; transitions run from the
    update that causes them until `progress` (or the result) shows the new state."""

    updates: dict[str, list[float]] = field(default_factory=dict)
    transitions: dict[str, list[float]] = field(default_factory=dict)
    uploads: list[float] = field(default_factory=list)
    polls: int = 0
    # Updates sent per phase, so the baseline gets exactly as many.
    phase_updates: Counter = field(default_factory=Counter)
    # Seconds activities waited for a worker and ran, by "<type> waited|ran" (from histories).
    activities: dict[str, list[float]] = field(default_factory=dict)

    # -- as the scripted case's listener -------------------------------------------------------

    def update_sent(self, phase: str, label: str, seconds: float) -> None:
        self.phase_updates[phase] += 1
        self.update(label, seconds)

    def status_polled(self) -> None:
        self.polls += 1

    def state_reached(self, label: str, seconds: float) -> None:
        self.transition(label, seconds)

    def document_stored(self, seconds: float) -> None:
        self.uploads.append(seconds)

    # -- recording -------------------------------------------------------------------------------

    def update(self, label: str, seconds: float) -> None:
        self.updates.setdefault(label, []).append(seconds)

    def transition(self, label: str, seconds: float) -> None:
        self.transitions.setdefault(label, []).append(seconds)

    @staticmethod
    def flat(groups: dict[str, list[float]]) -> list[float]:
        return [value for values in groups.values() for value in values]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every process under it: live descendants (a render pool's
    processes) and those it has already reaped."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return math.nan
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue  # ended between listing and reading
        total += times.user + times.system + times.children_user + times.children_system
    return total


def own_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process alone (every thread, the SDK's Rust threads too), without the
    processes under it."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return math.nan
    return times.user + times.system


@dataclass
class CpuMeter:
    """CPU seconds used by each named process and its descendants, from start() to used().
    Processes named in `alone` count without their descendants: the bench's driver, whose
    children are the servers and workers it measures on their own (counting them in the driver
    too made its CPU the sum of all of them)."""

    # A name may stand for several processes (the four SeaweedFS servers): their sum.
    pids: dict[str, int | tuple[int, ...]]
    start: dict[str, float] = field(default_factory=dict)
    alone: frozenset[str] = frozenset()

    @classmethod
    def for_processes(
        cls, pids: dict[str, int | tuple[int, ...]], alone: frozenset[str] = frozenset()
    ) -> CpuMeter:
        meter = cls(dict(pids), alone=alone)
        meter.start = meter.read()
        return meter

    def read(self) -> dict[str, float]:
        def cpu(name: str, pid: int) -> float:
            return own_cpu_seconds(pid) if name in self.alone else tree_cpu_seconds(pid)

        return {
            name: sum(cpu(name, pid) for pid in (pids if isinstance(pids, tuple) else (pids,)))
            for name, pids in self.pids.items()
        }

    def used(self) -> dict[str, float]:
        now = self.read()
        return {name: now[name] - self.start[name] for name in self.pids}


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
    # That case's history lengths by workflow type (the case, each referral child).
    events_by_workflow: dict[str, list[int]] = field(default_factory=dict)
    render_cpu: float = 0.0  # seconds, the render worker's alone (within cpu["worker"])

    @property
    def completed(self) -> int:
        return self.cases - len(self.failures)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else math.nan
