"""Who reached which case through the service, for the audit trail. Accesses are counted in memory
per (identity, case, action) and written as one entry per key every few seconds by a background
thread, so a status read costs no S3 write of its own; a crash loses at most one window."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import FastAPI

from activities.audit import AuditAction, AuditEvent, AuditTrail
from caseflow.settings import CaseflowSettings
from web.access import Principal

log = logging.getLogger("caseflow.web")

FLUSH_SECONDS = 2.0
MAX_PENDING = 10_000  # keys held while S3 is away; beyond this the oldest are dropped, logged


@dataclass
class _Tally:
    via: str
    count: int
    first_at: datetime
    last_at: datetime


class CaseAccessLog:
    def __init__(self, settings: CaseflowSettings, flush_seconds: float = FLUSH_SECONDS):
        self._trail = AuditTrail(settings)
        self._pending: dict[tuple[str, str, str], _Tally] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flush_seconds = flush_seconds
        self._thread = threading.Thread(target=self._run, name="case-access-log", daemon=True)
        self._thread.start()

    @classmethod
    def of(cls, app: FastAPI) -> CaseAccessLog:
        """The app's log, started on first use."""
        existing = getattr(app.state, "case_access_log", None)
        if existing is None:
            existing = app.state.case_access_log = cls(app.state.settings)
        return existing

    def record(self, principal: Principal, case_id: str, action: str) -> None:
        now = datetime.now(UTC)
        key = (principal.identity, case_id, action)
        with self._lock:
            tally = self._pending.get(key)
            if tally is None:
                if len(self._pending) >= MAX_PENDING:
                    self._pending.pop(next(iter(self._pending)))
                    log.warning("case access log: pending entries over %d, oldest dropped",
                                MAX_PENDING)
                self._pending[key] = _Tally(principal.via, 1, now, now)
            else:
                tally.count += 1
                tally.last_at = now

    def flush(self) -> int:
        """Write every pending tally; what fails to write stays for the next flush."""
        with self._lock:
            batch, self._pending = self._pending, {}
        written = 0
        for (identity, case_id, action), tally in batch.items():
            event = AuditEvent.now(
                case_id=case_id,
                action=AuditAction.CASE_ACCESSED,
                actor=identity,
                subject=action,
                detail={
                    "count": tally.count,
                    "via": tally.via,
                    "first_at": tally.first_at.isoformat(),
                    "last_at": tally.last_at.isoformat(),
                },
            )
            try:
                self._trail.record(event)
                written += 1
            except Exception as error:  # noqa: BLE001 - keep the tally, say only the type
                log.warning("case access log: write failed (%s); kept", type(error).__name__)
                with self._lock:
                    self._pending.setdefault((identity, case_id, action), tally)
        return written

    def _run(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
