"""The ClinicalTrials.gov reader: studies in the API v2 JSON format, as a user downloads them.

Accepts the three shapes a download takes: an API page (`{"studies": [...], "nextPageToken"}`),
the website's JSON export (a list of studies), or one study. Field names follow the v2 data
model (clinicaltrials.gov/data-api/about-api/study-data-structure): each study's
`protocolSection` with identificationModule, statusModule, conditionsModule, designModule,
armsInterventionsModule, eligibilityModule and contactsLocationsModule.
"""

import json
import re
from datetime import date
from functools import lru_cache

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from caseflow.trial_registry import (
    RecruitmentStatus,
    RegistryFileError,
    TrialContact,
    TrialIntervention,
    TrialSite,
    TrialStudy,
    clean_text,
)

# The registry's own format: only what caseflow reads, everything else ignored.
_V2 = ConfigDict(extra="ignore", frozen=True)
NCT_ID = re.compile(r"^NCT[0-9]{8}$")


class _Identification(BaseModel):
    model_config = _V2
    nctId: str = Field(pattern=NCT_ID.pattern)
    briefTitle: str = Field(min_length=1)
    officialTitle: str | None = None


class _DateStruct(BaseModel):
    model_config = _V2
    date: str | None = None


class _Status(BaseModel):
    model_config = _V2
    overallStatus: str = Field(min_length=1)
    lastUpdatePostDateStruct: _DateStruct | None = None


class _Conditions(BaseModel):
    model_config = _V2
    conditions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)


class _Design(BaseModel):
    model_config = _V2
    phases: list[str] = Field(default_factory=list)


class _Intervention(BaseModel):
    model_config = _V2
    type: str | None = None
    name: str = Field(min_length=1)
    description: str | None = None


class _Arms(BaseModel):
    model_config = _V2
    interventions: list[_Intervention] = Field(default_factory=list)


class _Eligibility(BaseModel):
    model_config = _V2
    eligibilityCriteria: str | None = None
    sex: str | None = None
    minimumAge: str | None = None
    maximumAge: str | None = None


class _Contact(BaseModel):
    model_config = _V2
    name: str | None = None
    role: str | None = None
    email: str | None = None
    phone: str | None = None


class _Location(BaseModel):
    model_config = _V2
    facility: str | None = None
    status: str | None = None
    city: str | None = None
    country: str | None = None
    contacts: list[_Contact] = Field(default_factory=list)


class _ContactsLocations(BaseModel):
    model_config = _V2
    centralContacts: list[_Contact] = Field(default_factory=list)
    locations: list[_Location] = Field(default_factory=list)


class _Protocol(BaseModel):
    model_config = _V2
    identificationModule: _Identification
    statusModule: _Status
    conditionsModule: _Conditions = _Conditions()
    designModule: _Design = _Design()
    armsInterventionsModule: _Arms = _Arms()
    eligibilityModule: _Eligibility = _Eligibility()
    contactsLocationsModule: _ContactsLocations = _ContactsLocations()


class _Study(BaseModel):
    model_config = _V2
    protocolSection: _Protocol


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?\s*$", re.I)
_PER_YEAR = {"year": 1, "month": 12, "week": 52.1775, "day": 365.25, "hour": 8766,
             "minute": 525960}


def _age_years(text: str | None, where: str) -> float | None:
    """'18 Years', '6 Months' as years; 'N/A' or absent: no limit."""
    if text is None or text.strip().upper() in ("", "N/A"):
        return None
    match = _AGE.match(text)
    if match is None:
        raise RegistryFileError(f"{where}: age {text[:20]!r} is not like '18 Years'")
    return round(float(match.group(1)) / _PER_YEAR[match.group(2).lower()], 3)


def _status(text: str | None) -> RecruitmentStatus | None:
    if text is None:
        return None
    try:
        return RecruitmentStatus(text.strip().lower())
    except ValueError:
        return RecruitmentStatus.UNKNOWN


@lru_cache(maxsize=512)
def country_code(name: str) -> str | None:
    """ISO 3166-1 alpha-2 for a registry's country name ('China', 'India', 'Korea, Republic
    of'), or None when ISO has no such name."""
    try:
        return pycountry.countries.lookup(name.strip()).alpha_2
    except LookupError:
        return None


def _contact(c: _Contact) -> TrialContact:
    email = clean_text(c.email, 254)
    return TrialContact(
        name=clean_text(c.name, 200), role=clean_text(c.role, 40),
        email=email if email and "@" in email and not any(ch.isspace() for ch in email) else None,
        phone=clean_text(c.phone, 40),
    )


def _updated(status: _Status) -> date | None:
    text = status.lastUpdatePostDateStruct.date if status.lastUpdatePostDateStruct else None
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _study(raw: _Study, where: str) -> TrialStudy:
    p = raw.protocolSection
    eligibility = p.eligibilityModule
    sex = (eligibility.sex or "ALL").strip().lower()
    sites = [
        TrialSite(
            site_index=index,
            facility=clean_text(loc.facility, 200) or "site without a facility name",
            city=clean_text(loc.city, 100),
            country=country_code(loc.country) if loc.country else None,
            country_name=clean_text(loc.country, 100),
            status=_status(loc.status),
            contacts=[_contact(c) for c in loc.contacts],
        )
        for index, loc in enumerate(p.contactsLocationsModule.locations)
    ]
    return TrialStudy(
        registry=ClinicalTrialsGovReader.registry,
        study_id=p.identificationModule.nctId,
        title=clean_text(p.identificationModule.briefTitle, 500) or p.identificationModule.nctId,
        official_title=clean_text(p.identificationModule.officialTitle, 1000),
        status=_status(p.statusModule.overallStatus) or RecruitmentStatus.UNKNOWN,
        phases=[ph.strip().upper() for ph in p.designModule.phases if ph.strip()],
        conditions=[t for c in p.conditionsModule.conditions if (t := clean_text(c, 300))],
        keywords=[t for k in p.conditionsModule.keywords if (t := clean_text(k, 200))],
        interventions=[
            TrialIntervention(
                type=clean_text(i.type, 40), name=clean_text(i.name, 300) or "intervention",
                description=clean_text(i.description, 2000),
            )
            for i in p.armsInterventionsModule.interventions
        ],
        criteria=clean_text(eligibility.eligibilityCriteria, 20000),
        minimum_age_years=_age_years(eligibility.minimumAge, f"{where}.minimumAge"),
        maximum_age_years=_age_years(eligibility.maximumAge, f"{where}.maximumAge"),
        sex=sex if sex in ("all", "female", "male") else "all",
        sites=sites,
        central_contacts=[_contact(c) for c in p.contactsLocationsModule.centralContacts],
        last_updated=_updated(p.statusModule),
    )


def _field(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]))
    return f"{where}: {first['msg'].lower()}"


class ClinicalTrialsGovReader:
    registry = "clinicaltrials.gov"

    def read(self, raw: bytes, name: str) -> list[TrialStudy]:
        try:
            text = raw.decode("utf-8-sig")
            data = json.loads(text)
        except UnicodeDecodeError:
            raise RegistryFileError(f"{name}: not UTF-8 text") from None
        except json.JSONDecodeError as error:
            # A download cut short ends mid-value: say so, since that is the usual cause.
            # (a string left open runs to the end of the file too).
            cut = error.pos >= len(text.rstrip()) - 1 or error.msg.startswith("Unterminated")
            why = "truncated (the file ends mid-study)" if cut else "not valid JSON"
            raise RegistryFileError(
                f"{name}: {why} at line {error.lineno}, column {error.colno}"
            ) from None
        if isinstance(data, dict) and "studies" in data:
            items, prefix = data["studies"], "studies"
        elif isinstance(data, dict) and "protocolSection" in data:
            items, prefix = [data], "study"
        elif isinstance(data, list):
            items, prefix = data, "studies"
        else:
            raise RegistryFileError(
                f"{name}: not a ClinicalTrials.gov API v2 download (expected a list of "
                "studies, an object with 'studies', or one study with 'protocolSection')"
            )
        if not isinstance(items, list) or not items:
            raise RegistryFileError(f"{name}: {prefix}: no studies in the file")
        studies: list[TrialStudy] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            where = f"{prefix}.{index}"
            try:
                study = _study(_Study.model_validate(item), f"{where}.eligibilityModule")
            except ValidationError as error:
                raise RegistryFileError(f"{name}: {_field(error, where)}") from None
            except RegistryFileError as error:
                raise RegistryFileError(f"{name}: {error}") from None
            if study.study_id in seen:
                raise RegistryFileError(f"{name}: {where}: study {study.study_id} appears twice")
            seen.add(study.study_id)
            studies.append(study)
        return studies
