"""The case intake: patient, clinical summary, destinations and consents for one case.

Pure and clock-free, so the same JSON validates identically in the CLI, in update validators and
on workflow replay. Checks that need "today" run only when a date is passed in (`check_intake`).
"""

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from caseflow.free_text import SingleLineText

# Why the future-date check lives in a validation context and not in a plain validator:
# Temporal's pydantic converter re-validates every payload (workflow input, update arguments) on
# each replay, possibly years later. A check against `date.today()` would make the same history
# fail to decode on another day, and the sandbox forbids the clock anyway. So the models never
# read a clock; callers that know "today" (the CLI, an update validator with `workflow.now()`)
# pass it as `context={"today": date}` through `check_intake`/`parse_intake`.
TODAY_CONTEXT_KEY = "today"

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

# Dates before this are typing errors, not patients; deterministic, so checked always.
_EARLIEST_PLAUSIBLE = date(1900, 1, 1)


class PrimarySite(StrEnum):
    # The seed's "Salvage options by tumour site" table, plus liver (Y-90 TARE) and other.
    HEAD_AND_NECK = "head_and_neck"
    BRAIN = "brain"
    LUNG = "lung"
    PROSTATE = "prostate"
    SPINE = "spine"
    RECTAL_PELVIC = "rectal_pelvic"
    CERVIX_UTERUS = "cervix_uterus"
    LIVER = "liver"
    OTHER = "other"


class RecurrencePattern(StrEnum):
    # The seed's three patterns: in-field local, regional nodes, distant metastases.
    LOCAL = "local"
    REGIONAL = "regional"
    DISTANT = "distant"


class Biomarker(StrEnum):
    # Only the markers the seed relies on, so an unknown string is a typo, not a silent no-op:
    # its favour-systemic list (EGFR, ALK/ROS1 fusion, BRCA), its immunotherapy paragraph
    # (MSI-H/dMMR, PD-L1+ cervical) and its radioligand paragraph (PSMA-expressing prostate
    # disease for Lu-177 PSMA) [seed, "Beyond re-irradiation"]. PSMA+ is read off the PSMA PET.
    EGFR = "EGFR"
    ALK = "ALK"
    ROS1 = "ROS1"
    BRCA = "BRCA"
    MSI_H = "MSI-H"
    DMMR = "dMMR"
    PD_L1_POSITIVE = "PD-L1+"
    PSMA_POSITIVE = "PSMA+"


_BIOMARKER_BY_FOLDED = {b.value.casefold(): b for b in Biomarker} | {
    "msi_h": Biomarker.MSI_H,
    "msih": Biomarker.MSI_H,
    "pd-l1": Biomarker.PD_L1_POSITIVE,
    "pdl1+": Biomarker.PD_L1_POSITIVE,
    "brca1": Biomarker.BRCA,
    "brca2": Biomarker.BRCA,
    "psma": Biomarker.PSMA_POSITIVE,
    "psma-positive": Biomarker.PSMA_POSITIVE,
    "psma positive": Biomarker.PSMA_POSITIVE,
}


def _biomarker(value: Any) -> Any:
    if isinstance(value, str):
        found = _BIOMARKER_BY_FOLDED.get(value.strip().casefold())
        if found is None:
            raise PydanticCustomError(
                "unknown_biomarker",
                "unknown biomarker; expected one of {expected}",
                {"expected": ", ".join(b.value for b in Biomarker)},
            )
        return found
    return value


def _unique_in_order(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _not_future(value: date, info: ValidationInfo, what: str) -> None:
    today = (info.context or {}).get(TODAY_CONTEXT_KEY)
    if today is not None and value > today:
        raise PydanticCustomError(
            "date_in_future", "{what} is in the future (today is {today})",
            {"what": what, "today": today.isoformat()},
        )


def _plausible(value: date, what: str) -> date:
    if value < _EARLIEST_PLAUSIBLE:
        raise PydanticCustomError(
            "date_implausible", "{what} is before 1900", {"what": what}
        )
    return value


def _oar_name(name: str) -> str:
    normal = re.sub(r"[\s\-]+", "_", name.strip().lower())
    if not re.fullmatch(r"[a-z0-9_]{1,40}", normal):
        raise PydanticCustomError(
            "oar_name", "organ-at-risk names are 1-40 letters, digits, spaces or underscores", {}
        )
    return normal


OarName = Annotated[str, AfterValidator(_oar_name)]
HospitalIdRef = Annotated[str, Field(pattern=r"^[a-z0-9-]{1,60}$")]
DestinationCountry = Literal["IN", "CN"]


class PriorRtCourse(BaseModel):
    """One completed course of radiotherapy, with the organ-at-risk maxima from its plan."""

    model_config = _MODEL_CONFIG

    site: SingleLineText = Field(min_length=1, max_length=120)
    technique: SingleLineText = Field(min_length=1, max_length=80)
    total_dose_gy: float = Field(gt=0, le=200)
    fractions: int = Field(gt=0, le=100)
    completed_on: date
    # Dmax per organ at risk in Gy, e.g. {"spinal_cord": 44.0}; keys are normalised to snake case.
    oar_max_doses_gy: dict[OarName, Annotated[float, Field(ge=0, le=200)]] = Field(
        default_factory=dict
    )

    @field_validator("completed_on")
    @classmethod
    def _completed_in_past(cls, value: date, info: ValidationInfo) -> date:
        _not_future(value, info, "prior RT completion date")
        return _plausible(value, "prior RT completion date")


class SystemicAgentClass(StrEnum):
    # The classes the seed's salvage table and "Beyond re-irradiation" name: chemotherapy,
    # checkpoint inhibitors (pembrolizumab, nivolumab), targeted agents (osimertinib), anti-EGFR
    # antibodies (cetuximab), anti-angiogenics (bevacizumab), hormonal therapy (ADT) and
    # radioligand therapy (Lu-177 PSMA) [seed].
    CHEMOTHERAPY = "chemotherapy"
    CHECKPOINT_INHIBITOR = "checkpoint_inhibitor"
    TARGETED = "targeted"
    ANTI_EGFR_ANTIBODY = "anti_egfr_antibody"
    ANTI_ANGIOGENIC = "anti_angiogenic"
    HORMONAL = "hormonal"
    RADIOLIGAND = "radioligand"
    OTHER = "other"


class SystemicTherapyLine(BaseModel):
    """One line of systemic therapy before this recurrence; dates when known."""

    model_config = _MODEL_CONFIG

    agent_class: SystemicAgentClass
    # The drug's name, e.g. "pembrolizumab"; a name, not a note, so no free prose.
    agent: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9 +/().\-]{0,79}$")
    started_on: date | None = None
    ended_on: date | None = None  # None: ongoing, or not known

    @field_validator("started_on", "ended_on")
    @classmethod
    def _dates_in_past(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None:
            return None
        _not_future(value, info, "systemic therapy date")
        return _plausible(value, "systemic therapy date")

    @model_validator(mode="after")
    def _ends_after_start(self) -> "SystemicTherapyLine":
        if self.started_on and self.ended_on and self.ended_on < self.started_on:
            raise PydanticCustomError(
                "ended_before_start", "ended_on is before started_on", {}
            )
        return self


class ClinicalSummary(BaseModel):
    """What a reviewer needs to triage a recurrence after radiotherapy."""

    model_config = _MODEL_CONFIG

    primary_site: PrimarySite
    histology: SingleLineText = Field(min_length=1, max_length=200)
    recurrence_pattern: RecurrencePattern
    lesion_count: int = Field(ge=1, le=999)
    largest_lesion_cm: float = Field(gt=0, le=50)
    # Tri-state. None (or absent): derive it from the recurrence pattern (see
    # `outside_prior_field`). An explicit true or false is the coordinator's reading of the prior
    # plan and always wins; intakes written before the field was tri-state carry an explicit
    # false, which keeps meaning "no new sites outside the prior field".
    new_sites_outside_prior_field: bool | None = Field(
        default=None,
        description="New sites outside the prior RT field? Leave out to derive it from "
        "recurrence_pattern (local: no; distant or distant_metastases: yes; regional: unknown).",
    )
    diffuse_locoregional: bool = False
    prior_rt_courses: list[PriorRtCourse] = Field(min_length=1, max_length=20)
    ecog: int = Field(ge=0, le=4)
    biomarkers: list[Annotated[Biomarker, BeforeValidator(_biomarker)]] = Field(
        default_factory=list
    )
    # Spinal Instability Neoplastic Score, 0-18; only meaningful for vertebral disease.
    sins: int | None = Field(default=None, ge=0, le=18)
    distant_metastases: bool = False
    # Optional, so intakes and workflow histories from before it stay valid.
    systemic_therapy_history: list[SystemicTherapyLine] = Field(
        default_factory=list, max_length=20
    )

    @field_validator("biomarkers")
    @classmethod
    def _dedupe_biomarkers(cls, value: list[Biomarker]) -> list[Biomarker]:
        return _unique_in_order(value)

    @field_validator("sins")
    @classmethod
    def _sins_only_for_spine(cls, value: int | None, info: ValidationInfo) -> int | None:
        site = info.data.get("primary_site")
        if value is not None and site is not None and site != PrimarySite.SPINE:
            raise PydanticCustomError(
                "sins_not_spine", "SINS is only given for primary_site 'spine'", {}
            )
        return value

    @property
    def has_distant_disease(self) -> bool:
        return self.distant_metastases or self.recurrence_pattern == RecurrencePattern.DISTANT

    @property
    def outside_prior_field(self) -> bool | None:
        """Whether the recurrence has sites outside the prior field; None when it can't be told.

        The explicit field wins. Otherwise [seed; PMID 38859596]: a local recurrence is "within
        or adjacent to the prior radiation field", so it overlaps (type 1); distant sites are
        "not previously irradiated", so they lie outside it; regional nodes may or may not have
        been in the prior field (elective nodal RT), so only the prior plan can tell.
        """
        if self.new_sites_outside_prior_field is not None:
            return self.new_sites_outside_prior_field
        if self.has_distant_disease:
            return True
        if self.recurrence_pattern == RecurrencePattern.LOCAL:
            return False
        return None

    @property
    def latest_rt_completed_on(self) -> date:
        return max(course.completed_on for course in self.prior_rt_courses)


class Patient(BaseModel):
    """Who the case is for. PHI: lives only in workflow state and packets, never in ids or logs."""

    model_config = _MODEL_CONFIG

    given_name: SingleLineText = Field(min_length=1, max_length=100)
    family_name: SingleLineText = Field(min_length=1, max_length=100)
    date_of_birth: date
    sex: Literal["female", "male", "other", "unknown"]
    country_of_residence: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    preferred_language: str = Field(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="BCP 47 tag, e.g. en, zh-CN, hi"
    )
    email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()\-]{5,24}$")

    @field_validator("date_of_birth")
    @classmethod
    def _born_in_past(cls, value: date, info: ValidationInfo) -> date:
        _not_future(value, info, "date of birth")
        return _plausible(value, "date of birth")


class DestinationPreferences(BaseModel):
    model_config = _MODEL_CONFIG

    countries: list[DestinationCountry] = Field(min_length=1)
    hospital_ids: list[HospitalIdRef] = Field(default_factory=list)

    @field_validator("countries", "hospital_ids")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return _unique_in_order(value)


class ConsentGrant(BaseModel):
    """Consent per destination country x hospital x purpose [sources.md, "Consent and erasure"]."""

    model_config = _MODEL_CONFIG

    country: DestinationCountry
    hospital_id: HospitalIdRef | None = None  # None: any hospital in the country
    purpose: Literal["referral", "translation", "travel"]
    granted_at: datetime

    @field_validator("granted_at")
    @classmethod
    def _aware_and_past(cls, value: datetime, info: ValidationInfo) -> datetime:
        # Naive times are ambiguous across IN/CN/patient time zones; an audit needs an instant.
        if value.tzinfo is None or value.utcoffset() is None:
            raise PydanticCustomError(
                "timezone_required", "granted_at needs a time zone, e.g. 2025-01-01T09:00:00Z", {}
            )
        _not_future(value.date(), info, "consent time")
        return value

    def covers(self, country: str, hospital_id: str, purpose: str) -> bool:
        return (
            self.country == country
            and self.purpose == purpose
            and (self.hospital_id is None or self.hospital_id == hospital_id)
        )


class CaseIntake(BaseModel):
    """Everything a coordinator enters to start a case on the recurrent-after-RT pathway."""

    model_config = _MODEL_CONFIG

    patient: Patient
    clinical: ClinicalSummary
    destinations: DestinationPreferences
    consents: list[ConsentGrant] = Field(default_factory=list)
    coordinator_id: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    pathway: Literal["recurrent_after_rt"] = "recurrent_after_rt"

    @model_validator(mode="after")
    def _rt_after_birth(self) -> "CaseIntake":
        # Deterministic cross-field check: no clock needed.
        for index, course in enumerate(self.clinical.prior_rt_courses):
            if course.completed_on < self.patient.date_of_birth:
                raise ValueError(
                    f"clinical.prior_rt_courses.{index}.completed_on is before the date of birth"
                )
        return self

    def rt_free_interval_days(self, today: date) -> int:
        """Days since the latest prior course ended (the RT-free interval)."""
        return (today - self.clinical.latest_rt_completed_on).days

    def rt_free_interval_months(self, today: date) -> int:
        """Whole calendar months since the latest prior course ended (the triage bands' unit)."""
        return whole_months_between(self.clinical.latest_rt_completed_on, today)

    def has_consent(self, country: str, hospital_id: str, purpose: str) -> bool:
        return any(grant.covers(country, hospital_id, purpose) for grant in self.consents)


def add_months(start: date, months: int) -> date:
    """`start` plus whole calendar months, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - date(year, month, 1)).days
    return date(year, month, min(start.day, last_day))


def whole_months_between(start: date, end: date) -> int:
    """The largest n with add_months(start, n) <= end; 0 if end is before start."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + (end.month - start.month)
    while months > 0 and add_months(start, months) > end:
        months -= 1
    return months


def check_intake(intake: CaseIntake, today: date) -> CaseIntake:
    """Re-validate an intake with the date checks that need today; raises ValidationError.

    Call it where a clock is legitimate: the CLI with `date.today()`, or a workflow update
    validator with `workflow.now().date()`. Never from a model validator.
    """
    return CaseIntake.model_validate(
        intake.model_dump(mode="python"), context={TODAY_CONTEXT_KEY: today}
    )


def parse_intake(json_text: str | bytes, today: date) -> CaseIntake:
    """Parse intake JSON (e.g. the CLI's INTAKE.json) including the checks that need today."""
    return CaseIntake.model_validate_json(json_text, context={TODAY_CONTEXT_KEY: today})
