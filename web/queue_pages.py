"""The work queue at /console: a coordinator's open cases (a supervisor's: everyone's), with the
patient's name decoded from each case's encrypted memo, filters in the URL, counts per stage, and
a fragment at /console/live that the page polls so it changes without a reload."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, get_args
from urllib.parse import urlencode

from babel import Locale
from babel.dates import format_datetime, format_timedelta
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from activities.audit import AuditAction
from caseflow.case_status import CaseStage
from caseflow.hospitals import HospitalDirectory
from caseflow.inquiry import INQUIRY_POOL
from caseflow.intake import DestinationCountry
from client import cases
from web.access import Forbidden, Principal, Role, list_scope
from web.app import temporal_client
from web.page_access import refused_page, staff_page
from web.pages import gettext_for, language_of, render

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

# Open cases one queue shows at most: well above one coordinator's load; a supervisor narrows
# with the filters beyond it (the page says when rows were left out).
QUEUE_LIMIT = 5000
OPEN_STAGES = [stage for stage in CaseStage if stage != CaseStage.CLOSED]
COUNTRIES: tuple[str, ...] = get_args(DestinationCountry)
POLL_SECONDS = 5


def due_words(due: datetime, language: str) -> str:
    """A deadline in the reader's words: English keeps the queue's "2 Dec, 18:02 UTC"; another
    language takes its own day-and-month order from CLDR (zh-CN: "12月2日 18:02 UTC")."""
    locale = Locale.parse(language.replace("-", "_"))
    day = "d MMM," if locale.language == "en" else locale.datetime_skeletons["MMMd"].pattern
    return format_datetime(due, f"{day} HH:mm", tzinfo=UTC, locale=locale) + " UTC"


@cache
def directory() -> HospitalDirectory:
    return HospitalDirectory.load_default()


@cache
def hospital_names() -> dict[str, str]:
    return {h.hospital_id: h.name for h in directory().hospitals}


@dataclass
class QueueFilter:
    """The queue's filters as typed in the GET form (so a URL can be shared: none of them is
    patient data), and the one-line problem with each that was not understood."""

    stage: CaseStage | None = None
    escalated: bool = False
    due_before: date | None = None
    coordinator: str | None = None
    country: str | None = None
    hospital: str | None = None
    closed_too: bool = False  # closed cases as well (a demo case, one to erase)
    typed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, request: Request) -> QueueFilter:
        params = request.query_params
        typed = {
            name: params.get(name, "").strip()
            for name in (
                "stage", "escalated", "due_before", "coordinator", "country", "hospital", "closed"
            )
        }
        found = cls(typed=typed)
        if typed["stage"]:
            try:
                found.stage = CaseStage(typed["stage"])
            except ValueError:
                found.errors["stage"] = "stage: not one of the case stages"
        found.escalated = typed["escalated"] in ("1", "on", "true")
        found.closed_too = typed["closed"] in ("1", "on", "true")
        if typed["due_before"]:
            try:
                found.due_before = date.fromisoformat(typed["due_before"])
            except ValueError:
                found.errors["due_before"] = "due before: a date, e.g. 2026-03-01"
        found.coordinator = typed["coordinator"] or None
        found.country = typed["country"] or None
        found.hospital = typed["hospital"] or None
        # The client layer's own checks (the patterns that keep the query's shape), by field.
        for name, check in (
            ("coordinator", lambda: cases.visibility_query(coordinator_id=found.coordinator)),
            ("country", lambda: cases.visibility_query(country=found.country)),
            ("hospital", lambda: cases.visibility_query(hospital_id=found.hospital)),
        ):
            try:
                check()
            except ValueError as error:
                found.errors[name] = str(error)
        return found

    def query_string(self, **changes: str | None) -> str:
        """This filter's URL query, with some values changed (None drops one)."""
        values = {k: v for k, v in self.typed.items() if v} | changes
        return urlencode({k: v for k, v in values.items() if v})


@dataclass
class QueueRow:
    case_id: str
    patient_name: str | None
    date_of_birth: str | None
    stage: str | None
    in_stage: str
    in_stage_since_start: bool  # the case does not publish when it entered its stage
    due: str | None
    due_at: str | None  # ISO, for <time datetime>
    overdue: bool
    waits_for: str | None  # the wait's kind (caseflow.case_status.WaitKind), in words on the page
    waits_for_subject: str | None  # the hospital's name, the follow-up day, ...
    escalation_level: int
    escalated: bool
    coordinator_id: str | None
    hospitals: list[str]
    countries: list[str]


@dataclass
class InquiryRow:
    """A patient's confirmed inquiry in the intake pool, waiting for a coordinator."""

    case_id: str
    patient_name: str | None
    date_of_birth: str | None
    waiting: str
    due: str | None
    due_at: str | None
    overdue: bool
    countries: list[str]
    # Other open cases whose memo names the same person (name and date of birth); the reader
    # may open only those they may see (`yours`).
    duplicates: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class Queue:
    rows: list[QueueRow]
    counts: list[tuple[str, int, str]]  # stage, open cases, link
    total: int
    truncated: bool
    refreshed: str
    inquiries: list[InquiryRow] = field(default_factory=list)


def _sort_key(row: cases.NamedCaseEntry) -> tuple[int, datetime, datetime]:
    """Due date first (soonest on top), cases with nothing due after them, then oldest first."""
    far = datetime.max.replace(tzinfo=UTC)
    return (
        0 if row.sla_due_at else 1,
        row.sla_due_at or far,
        row.started_at or far,
    )


async def build_queue(
    request: Request, principal: Principal, wanted: QueueFilter, language: str
) -> Queue:
    """One visibility list for the reader's scope and filters (stage aside): the stage counts
    come from the same rows, since the dev server's visibility cannot GROUP BY a custom search
    attribute (only ExecutionStatus); the stage filter then applies to those rows."""
    client = await temporal_client(request)
    scope = list_scope(principal, wanted.coordinator)
    listed = await cases.list_cases(
        client,
        coordinator_id=scope,
        escalated=wanted.escalated,
        limit=QUEUE_LIMIT,
        with_names=True,
        open_only=not wanted.closed_too,
        due_before=wanted.due_before,
        country=wanted.country,
        hospital_id=wanted.hospital,
    )
    inquiries = await new_inquiries(request, principal, language)
    listed = [e for e in listed if e.case_id not in {i.case_id for i in inquiries}]
    per_stage = {stage.value: 0 for stage in OPEN_STAGES}
    for entry in listed:
        if entry.stage in per_stage:
            per_stage[entry.stage] += 1
    shown = [e for e in listed if wanted.stage is None or e.stage == wanted.stage.value]
    shown.sort(key=_sort_key)
    # Names on screen are a patient-data access: one entry per rendering, under the reader.
    request.app.state.access_audit.record(
        AuditAction.CASE_ACCESSED, principal.identity, subject="queue", cases=len(shown),
        via=principal.via,
    )
    now = datetime.now(UTC)
    names = hospital_names()
    rows = []
    for entry in shown:
        since = entry.stage_entered_at or entry.started_at
        due = entry.sla_due_at
        waits, _, subject = (entry.sla_waits_for or "").partition(":")
        rows.append(
            QueueRow(
                case_id=entry.case_id,
                patient_name=entry.patient_name,
                date_of_birth=entry.date_of_birth.isoformat() if entry.date_of_birth else None,
                stage=entry.stage,
                in_stage=format_timedelta(now - since, locale=language, threshold=1.1)
                if since
                else "",
                in_stage_since_start=entry.stage_entered_at is None,
                due=due_words(due, language)
                if due
                else None,
                due_at=due.isoformat() if due else None,
                overdue=bool(due and due < now),
                waits_for=waits or None,
                waits_for_subject=names.get(subject, subject) or None,
                escalation_level=entry.escalation_level,
                escalated=entry.escalated,
                coordinator_id=entry.coordinator_id,
                hospitals=[names.get(h, h) for h in entry.hospitals],
                countries=entry.destination_countries,
            )
        )
    counts = [
        (stage, count, "/console?" + wanted.query_string(stage=stage))
        for stage, count in per_stage.items()
    ]
    return Queue(
        rows=rows,
        counts=counts,
        total=len(listed),
        truncated=len(listed) >= QUEUE_LIMIT,
        refreshed=format_datetime(now, "HH:mm:ss", tzinfo=UTC, locale=language) + " UTC",
        inquiries=inquiries,
    )


def _person(name: str | None, born: date | None) -> tuple[str, date | None] | None:
    return (" ".join(name.split()).casefold(), born) if name and born else None


async def new_inquiries(request: Request, principal: Principal, language: str) -> list[InquiryRow]:
    """The intake pool's cases, oldest first: every coordinator and supervisor sees them (any
    coordinator may take one on). A possible duplicate is found on the decrypted memos of all
    open cases (as the new-case form's check), never through a query on names."""
    client = await temporal_client(request)
    pool = await cases.list_cases(
        client, CaseStage.INTAKE, coordinator_id=INQUIRY_POOL, limit=QUEUE_LIMIT,
        with_names=True, open_only=True,
    )
    if not pool:
        return []
    everyone = await cases.list_cases(client, limit=QUEUE_LIMIT, with_names=True, open_only=True)
    now = datetime.now(UTC)
    rows = []
    for entry in sorted(pool, key=lambda e: e.started_at or now):
        person = _person(entry.patient_name, entry.date_of_birth)
        duplicates = [
            (other.case_id, principal.role == Role.SUPERVISOR
             or other.coordinator_id in (principal.coordinator_id, INQUIRY_POOL))
            for other in everyone
            if person is not None and other.case_id != entry.case_id
            and _person(other.patient_name, other.date_of_birth) == person
        ]
        due = entry.sla_due_at
        rows.append(InquiryRow(
            case_id=entry.case_id,
            patient_name=entry.patient_name,
            date_of_birth=entry.date_of_birth.isoformat() if entry.date_of_birth else None,
            waiting=format_timedelta(now - entry.started_at, locale=language, threshold=1.1)
            if entry.started_at else "",
            due=due_words(due, language)
            if due else None,
            due_at=due.isoformat() if due else None,
            overdue=bool(due and due < now),
            countries=entry.destination_countries,
            duplicates=duplicates,
        ))
    return rows


async def _queue_response(request: Request, template: str) -> Response:
    principal = await staff_page(request)
    if not isinstance(principal, Principal):
        return principal
    wanted = QueueFilter.from_query(request)
    if principal.role != Role.SUPERVISOR and wanted.coordinator not in (
        None,
        principal.coordinator_id,
    ):
        _ = gettext_for(request)
        return refused_page(request, _("Coordinators see their own cases only."))
    context: dict[str, Any] = {
        "filters": wanted,
        "stages": OPEN_STAGES,
        "countries": COUNTRIES,
        "hospitals": sorted(directory().hospitals, key=lambda h: (h.country, h.name)),
        "supervisor": principal.role == Role.SUPERVISOR,
        "poll_seconds": POLL_SECONDS,
        "live_url": "/console/live?" + wanted.query_string(),
    }
    if wanted.errors:
        return render(request, template, status_code=400, queue=None, **context)
    try:
        language = language_of(request).replace("-", "_")
        queue = await build_queue(request, principal, wanted, language)
    except Forbidden as refused:
        return refused_page(request, str(refused))
    return render(request, template, queue=queue, **context)


@router.get("", response_class=HTMLResponse)
async def work_queue(request: Request) -> Response:
    """The work queue page."""
    return await _queue_response(request, "console/queue.html.j2")


@router.get("/live", response_class=HTMLResponse)
async def work_queue_live(request: Request) -> Response:
    """The queue's table and counts alone: what the page polls every few seconds."""
    return await _queue_response(request, "console/_queue_live.html.j2")
