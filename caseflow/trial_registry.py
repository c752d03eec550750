"""The trial registry as caseflow reads it: studies, their sites and contacts, and the snapshot
one import makes; one reader per registry turns that registry's download into these models.

Registry data is public and carries no patient data, so it may be stored and indexed freely.
Pure: a reader takes the file's bytes and returns studies, or raises RegistryFileError with one
line; storing the snapshot is the client's (client/trials.py).
"""

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True)
# Registry text keeps its line breaks and tabs; other control characters are dropped, so a
# console or letter never prints one [team guide: free text never carries control characters].
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(value: str | None, limit: int) -> str | None:
    """Registry text without control characters (line breaks kept), at most `limit` chars."""
    if value is None:
        return None
    text = _CONTROL.sub("", value).strip()
    return text[:limit] or None


class RegistryFileError(ValueError):
    """A registry file caseflow refuses: one line naming the place and the reason."""


class RecruitmentStatus(StrEnum):
    # ClinicalTrials.gov's overallStatus values (API v2, lower-cased); other registries map to
    # these. Only the first two are offered for matching (issue 15).
    RECRUITING = "recruiting"
    NOT_YET_RECRUITING = "not_yet_recruiting"
    ENROLLING_BY_INVITATION = "enrolling_by_invitation"
    ACTIVE_NOT_RECRUITING = "active_not_recruiting"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    UNKNOWN = "unknown"


OPEN_TO_ENTRY = frozenset({RecruitmentStatus.RECRUITING, RecruitmentStatus.NOT_YET_RECRUITING})


class TrialContact(BaseModel):
    model_config = _MODEL_CONFIG

    name: str | None = None
    role: str | None = None
    email: str | None = None
    phone: str | None = None


class TrialSite(BaseModel):
    """One location of a study. `site_index` is its place in the registry's list, stable across
    imports of the same record, so a site id can be made from (study id, index)."""

    model_config = _MODEL_CONFIG

    site_index: int = Field(ge=0)
    facility: str
    city: str | None = None
    # ISO 3166-1 alpha-2 when the registry's country name is known to ISO; else None.
    country: str | None = None
    country_name: str | None = None
    status: RecruitmentStatus | None = None
    contacts: list[TrialContact] = Field(default_factory=list)


class TrialIntervention(BaseModel):
    model_config = _MODEL_CONFIG

    type: str | None = None
    name: str
    description: str | None = None


class TrialStudy(BaseModel):
    """A study as every registry's reader makes it."""

    model_config = _MODEL_CONFIG

    registry: str
    study_id: str  # the registry's id: NCT01234567, ChiCTR2400012345, CTRI/2024/01/012345
    title: str
    official_title: str | None = None
    status: RecruitmentStatus
    phases: list[str] = Field(default_factory=list)
    conditions: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    interventions: list[TrialIntervention] = Field(default_factory=list)
    criteria: str | None = None
    minimum_age_years: float | None = None
    maximum_age_years: float | None = None
    sex: Literal["all", "female", "male"] = "all"
    sites: list[TrialSite] = Field(default_factory=list)
    central_contacts: list[TrialContact] = Field(default_factory=list)
    last_updated: date | None = None


class RegistrySnapshot(BaseModel):
    """What one import keeps: every study of the file, when it was imported, and the file's
    SHA-256, so a coordinator can tell which download the matches come from."""

    model_config = _MODEL_CONFIG

    registry: str
    imported_at: datetime
    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    study_count: int = Field(ge=1)
    studies: list[TrialStudy] = Field(min_length=1)


class SnapshotSummary(BaseModel):
    """A snapshot without its studies: what `caseflow trials list` heads its table with."""

    model_config = _MODEL_CONFIG

    registry: str
    imported_at: datetime
    source_sha256: str
    study_count: int


class RegistryReader(Protocol):
    """One registry's download format. Another registry (China's ChiCTR, India's CTRI) is one
    more reader registered in `READERS`."""

    registry: str

    def read(self, raw: bytes, name: str) -> list[TrialStudy]:
        """Every study in the file; RegistryFileError (one line, naming `name`) otherwise."""
        ...


def reader_for(registry: str) -> RegistryReader:
    from caseflow.registry_clinicaltrials_gov import ClinicalTrialsGovReader

    readers: dict[str, RegistryReader] = {
        ClinicalTrialsGovReader.registry: ClinicalTrialsGovReader(),
    }
    reader = readers.get(registry)
    if reader is None:
        raise RegistryFileError(
            f"--registry: unknown registry {registry!r}; known: {', '.join(readers)}"
        )
    return reader


REGISTRIES = ("clinicaltrials.gov",)
