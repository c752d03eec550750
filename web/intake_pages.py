"""The new-case form at /console/cases/new: the intake (caseflow/intake.py) as plain HTML sections,
validated by the same model with the CLI's words next to each field, a possible duplicate flagged
before anything starts, and the case started through the client layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from temporalio.exceptions import WorkflowAlreadyStartedError

from caseflow.ids import CASE_ID_PATTERN, new_case_id
from caseflow.intake import (
    TODAY_CONTEXT_KEY,
    Biomarker,
    CaseIntake,
    ConsentGrant,
    DestinationCountry,
    Patient,
    PrimarySite,
    RecurrencePattern,
)
from client import cases
from client.errors import field_lines, one_line
from web.access import Forbidden, Principal, Role, check_case_access
from web.app import temporal_client
from web.page_access import staff_page
from web.pages import render
from web.queue_pages import directory

router = APIRouter(prefix="/console/cases", tags=["console"], include_in_schema=False)

MAX_COURSES = 20  # ClinicalSummary.prior_rt_courses' own limit
PATIENT_TEXT = ("given_name", "family_name", "date_of_birth", "sex", "country_of_residence",
                "preferred_language")
PATIENT_OPTIONAL = ("email", "phone")
CLINICAL_TEXT = ("primary_site", "histology", "recurrence_pattern", "lesion_count",
                 "largest_lesion_cm", "ecog")
CLINICAL_FLAGS = ("new_sites_outside_prior_field", "diffuse_locoregional", "distant_metastases")
COURSE_TEXT = ("site", "technique", "total_dose_gy", "fractions", "completed_on")
PURPOSES: tuple[str, ...] = get_args(ConsentGrant.model_fields["purpose"].annotation)
COUNTRIES: tuple[str, ...] = get_args(DestinationCountry)
SEXES: tuple[str, ...] = get_args(Patient.model_fields["sex"].annotation)


@dataclass
class IntakeForm:
    """What the person typed (kept as typed, to show again), and the problems by field name.
    Field names are the intake's own paths (patient.date_of_birth, clinical.prior_rt_courses.0.
    site, ...), so a validation error's location names its field."""

    values: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, list[str]] = field(default_factory=dict)  # checkbox groups
    courses: int = 1
    case_id: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)  # problems no one field owns

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def checked(self, name: str, option: str) -> bool:
        return option in self.chosen.get(name, [])

    def error(self, name: str, line: str) -> None:
        self.errors.setdefault(name, []).append(line)

    @property
    def field_names(self) -> list[str]:
        names = [f"patient.{n}" for n in PATIENT_TEXT + PATIENT_OPTIONAL]
        names += [f"clinical.{n}" for n in CLINICAL_TEXT + CLINICAL_FLAGS]
        names += ["clinical.sins", "clinical.biomarkers", "clinical.prior_rt_courses"]
        for index in range(self.courses):
            prefix = f"clinical.prior_rt_courses.{index}"
            names += [f"{prefix}.{n}" for n in COURSE_TEXT + ("oar_max_doses_gy",)]
        names += ["destinations.countries", "destinations.hospital_ids", "consents",
                  "coordinator_id"]
        return names

    def place(self, where: str, line: str) -> None:
        """Put a line next to the field its location names (or its nearest enclosing one)."""
        known = set(self.field_names)
        parts = where.split(".") if where else []
        while parts:
            candidate = ".".join(parts)
            if candidate in known:
                self.error(candidate, line)
                return
            parts.pop()
        self.general.append(line)

    @classmethod
    def read(cls, form: FormData) -> IntakeForm:
        typed = cls()
        for key, raw in form.multi_items():
            if isinstance(raw, str) and key not in typed.values:
                typed.values[key] = raw
        for group in ("clinical.biomarkers", "destinations.countries",
                      "destinations.hospital_ids", "consents"):
            typed.chosen[group] = [v for v in form.getlist(group) if isinstance(v, str)]
        for flag in CLINICAL_FLAGS:
            if form.get(f"clinical.{flag}"):
                typed.chosen.setdefault("flags", []).append(flag)
        courses = typed.value("course_count")
        typed.courses = min(MAX_COURSES, max(1, int(courses))) if courses.isdigit() else 1
        case_id = typed.value("case_id")
        typed.case_id = case_id if CASE_ID_PATTERN.fullmatch(case_id) else new_case_id()
        return typed

    def intake_data(self, coordinator_id: str, now: datetime) -> dict[str, Any]:
        """The intake as the CLI's JSON would hold it. Blank fields are left out (so a required
        one reads 'Field required', as a missing JSON key does); the model parses the rest."""

        def text(names: tuple[str, ...], prefix: str) -> dict[str, Any]:
            found = {}
            for name in names:
                typed = self.value(f"{prefix}.{name}").strip()
                if typed:
                    found[name] = typed
            return found

        courses = []
        for index in range(self.courses):
            prefix = f"clinical.prior_rt_courses.{index}"
            course: dict[str, Any] = text(COURSE_TEXT, prefix)
            doses = self._oar_doses(f"{prefix}.oar_max_doses_gy")
            if doses:
                course["oar_max_doses_gy"] = doses
            courses.append(course)
        clinical: dict[str, Any] = text(CLINICAL_TEXT + ("sins",), "clinical")
        clinical |= {flag: True for flag in self.chosen.get("flags", [])}
        clinical["biomarkers"] = self.chosen.get("clinical.biomarkers", [])
        clinical["prior_rt_courses"] = courses
        consents = []
        for grant in self.chosen.get("consents", []):
            country, _, purpose = grant.partition(":")
            consents.append({"country": country, "purpose": purpose, "granted_at": now})
        return {
            "patient": text(PATIENT_TEXT + PATIENT_OPTIONAL, "patient"),
            "clinical": clinical,
            "destinations": {
                "countries": self.chosen.get("destinations.countries", []),
                "hospital_ids": self.chosen.get("destinations.hospital_ids", []),
            },
            "consents": consents,
            "coordinator_id": coordinator_id,
        }

    def _oar_doses(self, name: str) -> dict[str, str]:
        doses: dict[str, str] = {}
        for line in self.value(name).splitlines():
            if not line.strip():
                continue
            organ, sep, dose = line.replace("=", ":").partition(":")
            if not sep or not organ.strip() or not dose.strip():
                self.error(name, f"{name}: one organ per line, as 'spinal_cord: 44.5' (Gy)")
                continue
            doses[organ.strip()] = dose.strip()
        return doses


def _context(request: Request, principal: Principal, typed: IntakeForm, **more: Any):
    return {
        "form": typed,
        "supervisor": principal.role == Role.SUPERVISOR,
        "coordinator_id": principal.coordinator_id,
        "sexes": SEXES,
        "sites": [s.value for s in PrimarySite],
        "patterns": [p.value for p in RecurrencePattern],
        "biomarkers": [b.value for b in Biomarker],
        "countries": COUNTRIES,
        "purposes": PURPOSES,
        "hospitals": sorted(directory().hospitals, key=lambda h: (h.country, h.name)),
        "duplicates": [],
        **more,
    }


@router.get("/new", response_class=HTMLResponse)
async def new_case_form(request: Request) -> Response:
    principal = await staff_page(request)
    if not isinstance(principal, Principal):
        return principal
    typed = IntakeForm(case_id=new_case_id())
    return render(request, "console/new_case.html.j2", **_context(request, principal, typed))


@router.post("/new", response_class=HTMLResponse)
async def start_from_form(request: Request) -> Response:
    """Validate, flag a possible duplicate (the person decides), then start the case once: the
    form carries the case id chosen when it was shown, so a repeated POST finds that case."""
    principal = await staff_page(request)
    if not isinstance(principal, Principal):
        return principal
    form = await request.form()
    typed = IntakeForm.read(form)
    page = "console/new_case.html.j2"
    if form.get("add_course") or form.get("remove_course"):
        typed.courses = max(1, min(MAX_COURSES, typed.courses + (1 if form.get("add_course")
                                                                 else -1)))
        return render(request, page, **_context(request, principal, typed))

    coordinator_id = (
        typed.value("coordinator_id").strip()
        if principal.role == Role.SUPERVISOR
        else principal.coordinator_id or ""
    )
    now = datetime.now(UTC)
    data = typed.intake_data(coordinator_id, now)
    intake: CaseIntake | None = None
    try:
        intake = CaseIntake.model_validate(data, context={TODAY_CONTEXT_KEY: now.date()})
    except ValidationError as invalid:
        for where, line in field_lines(invalid):
            if not where:
                # A rule across fields names its field first ("clinical.prior_rt_courses.0.
                # completed_on is before the date of birth").
                where = line.split(" ", 1)[0]
            typed.place(where, line)
    if intake is not None and not typed.errors:
        try:
            directory().check_intake_hospitals(intake)
        except ValueError as misplaced:
            line = one_line(misplaced)
            typed.place(line.split(":", 1)[0], line)
    if intake is None or typed.errors or typed.general:
        return render(request, page, status_code=400, **_context(request, principal, typed))

    client = await temporal_client(request)
    try:
        check_case_access(principal, "(new)", intake.coordinator_id)
    except Forbidden as refused:
        typed.place("coordinator_id", str(refused))
        return render(request, page, status_code=403, **_context(request, principal, typed))
    if not form.get("confirm_duplicate"):
        duplicates = await cases.open_cases_for_patient(client, intake.patient)
        if duplicates:
            return render(
                request, page, status_code=409,
                **_context(request, principal, typed, duplicates=[
                    {
                        "case_id": row.case_id,
                        "coordinator_id": row.coordinator_id,
                        "stage": row.stage,
                        "yours": principal.role == Role.SUPERVISOR
                        or row.coordinator_id == principal.coordinator_id,
                    }
                    for row in duplicates
                ]),
            )
    try:
        case_id = await cases.start_case(
            client, request.app.state.settings, intake, date.today(), directory(),
            case_id=typed.case_id,
        )
    except WorkflowAlreadyStartedError:
        case_id = typed.case_id  # this form was sent before: its case exists
    request.app.state.access_audit.case_accessed(principal.identity, case_id, "start",
                                                 principal.via)
    return RedirectResponse(f"/console/cases/{case_id}", status_code=303)
