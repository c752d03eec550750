"""Access entries (logins, logouts, tokens, case accesses) for the audit trail, written off the
request path.

A request never waits on S3 for its own audit entry: entries go on a queue that one thread
writes. Token use is counted per token per minute and written as one entry with the count, so an
API client sending a thousand requests a minute makes one S3 write, not a thousand, and the API
keeps the throughput of direct client calls. Case accesses (every read or action on a case
through the API) are counted per identity, case and action and written at every tick, so a crash
loses at most one tick of them. Entries name identities only, never a password.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from activities.audit import AuditAction, AuditEvent, AuditTrail

log = logging.getLogger("caseflow.audit")

_ATTEMPTS = 3
_TICK = threading.Event()  # a wake-up with nothing to write


class AccessAudit:
    """Owns the writer thread; `flush()` waits until everything recorded so far is written."""

    def __init__(self, trail: AuditTrail, *, flush_every_seconds: float = 5.0):
        self._trail = trail
        self._queue: queue.Queue[AuditEvent | threading.Event | None] = queue.Queue()
        self._uses: dict[tuple[str, str, str | None, datetime], int] = {}
        self._uses_lock = threading.Lock()
        self._cases: dict[tuple[str, str, str, str], tuple[int, datetime, datetime]] = {}
        self._every = flush_every_seconds
        self._thread = threading.Thread(target=self._run, name="access-audit", daemon=True)
        self._thread.start()

    def record(self, action: AuditAction, actor: str, *, subject: str | None = None,
               hospital_id: str | None = None, **detail: str | int | bool | None) -> None:
        self._queue.put(
            AuditEvent.now(action=action, actor=actor, subject=subject, hospital_id=hospital_id,
                           detail=detail)
        )

    def token_used(self, actor: str, token_id: str, hospital_id: str | None = None) -> None:
        """Count one request made with a token; written once the minute is over (or on flush)."""
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        key = (token_id, actor, hospital_id, minute)
        with self._uses_lock:
            self._uses[key] = self._uses.get(key, 0) + 1

    def case_accessed(self, actor: str, case_id: str, action: str, via: str) -> None:
        """Count one access to a case (a status read, an event sent); written at the next tick."""
        now = datetime.now(UTC)
        key = (actor, case_id, action, via)
        with self._uses_lock:
            count, first, _ = self._cases.get(key, (0, now, now))
            self._cases[key] = (count + 1, first, now)

    def flush(self, timeout: float = 30.0) -> None:
        """Write every pending entry, token counts of the running minute included."""
        self._queue_token_uses(everything=True)
        self._queue_case_accesses()
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self) -> None:
        """Write what is pending and stop the writer; closing again does nothing."""
        if not self._thread.is_alive():
            return
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _queue_token_uses(self, *, everything: bool) -> None:
        this_minute = datetime.now(UTC).replace(second=0, microsecond=0)
        with self._uses_lock:
            due = [k for k in self._uses if everything or k[3] < this_minute]
            counts = {k: self._uses.pop(k) for k in due}
        for (token_id, actor, hospital_id, minute), count in counts.items():
            self._queue.put(
                AuditEvent(
                    action=AuditAction.TOKEN_USED,
                    actor=actor,
                    at=minute,
                    # A random id: a second flush within the same minute adds an entry rather
                    # than colliding with (and losing to) the first.
                    entry_id=uuid.uuid4().hex,
                    subject=token_id,
                    hospital_id=hospital_id,
                    detail={
                        "requests": count,
                        "until": (minute + timedelta(minutes=1)).isoformat(),
                    },
                )
            )

    def _queue_case_accesses(self) -> None:
        with self._uses_lock:
            counts, self._cases = self._cases, {}
        for (actor, case_id, action, via), (count, first, last) in counts.items():
            self._queue.put(
                AuditEvent.now(
                    case_id=case_id,
                    action=AuditAction.CASE_ACCESSED,
                    actor=actor,
                    subject=action,
                    detail={
                        "count": count,
                        "via": via,
                        "first_at": first.isoformat(),
                        "last_at": last.isoformat(),
                    },
                )
            )

    def _run(self) -> None:
        next_count = time.monotonic() + self._every
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_count - time.monotonic()))
            except queue.Empty:
                item = _TICK
            if time.monotonic() >= next_count:
                self._queue_token_uses(everything=False)
                self._queue_case_accesses()
                next_count = time.monotonic() + self._every
            if item is _TICK:
                continue
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            self._write(item)

    def _write(self, event: AuditEvent) -> None:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                self._trail.record(event)
                return
            except Exception as error:  # noqa: BLE001 - the writer thread must keep going
                if attempt == _ATTEMPTS:
                    # The action and the error type only: the entry itself stays out of logs.
                    log.error("audit entry %s not written: %s", event.action.value,
                              type(error).__name__)


def record_now(trail: AuditTrail, action: AuditAction, actor: str, *, subject: str | None = None,
               hospital_id: str | None = None, **detail: str | int | bool | None) -> None:
    """Write one access entry and wait for it: for the CLI, which has no request to hold up."""
    trail.record(
        AuditEvent.now(action=action, actor=actor, subject=subject, hospital_id=hospital_id,
                       detail=detail)
    )
