"""The hospital directory: salvage centres in India and China, how to reach them, what they offer.

The models are pure. `load_default` reads the packaged hospitals.json; call it outside workflows
(worker or CLI) and pass the hospitals a workflow needs in its input.
"""

import json
import re
from enum import StrEnum
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caseflow.intake import CaseIntake
from caseflow.sla import SlaPolicy


class Modality(StrEnum):
    # The seed's salvage options [seed, "Salvage options by tumour site"; "Beyond re-irradiation"].
    BNCT = "bnct"
    SBRT = "sbrt"
    SRS = "srs"
    IMRT_REIRRADIATION = "imrt_reirradiation"
    LU_PSMA = "lu_psma"
    Y90_TARE = "y90_tare"
    SURGERY = "surgery"
    CLINICAL_TRIALS = "clinical_trials"
    IMMUNOTHERAPY = "immunotherapy"


class UnknownHospitalError(KeyError):
    """A hospital id not in the directory. A KeyError whose str() is the plain message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown hospital"


class Hospital(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hospital_id: str = Field(pattern=r"^[a-z0-9-]{1,60}$")
    name: str = Field(min_length=1, max_length=200)
    country: Literal["IN", "CN"]
    city: str = Field(min_length=1, max_length=100)
    languages: list[str] = Field(min_length=1)
    modalities: list[Modality] = Field(min_length=1)
    channel: Literal["manual", "email", "webhook"]
    contact_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    # None: the case's default for WaitKind.HOSPITAL_RESPONSE applies.
    response_sla: SlaPolicy | None = None

    @field_validator("languages")
    @classmethod
    def _bcp47(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", tag):
                raise ValueError(f"language {tag!r} is not a BCP 47 tag like en, zh-CN, hi")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> "Hospital":
        if self.channel == "email" and not self.contact_email:
            raise ValueError("channel 'email' needs contact_email")
        if self.channel == "webhook" and not self.webhook_url:
            raise ValueError("channel 'webhook' needs webhook_url")
        return self

    def offers(self, modality: Modality | str) -> bool:
        return Modality(modality) in self.modalities


class HospitalDirectory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hospitals: list[Hospital]

    @field_validator("hospitals")
    @classmethod
    def _unique_ids(cls, value: list[Hospital]) -> list[Hospital]:
        seen: set[str] = set()
        for hospital in value:
            if hospital.hospital_id in seen:
                raise ValueError(f"duplicate hospital_id {hospital.hospital_id!r}")
            seen.add(hospital.hospital_id)
        return value

    def get(self, hospital_id: str) -> Hospital:
        for hospital in self.hospitals:
            if hospital.hospital_id == hospital_id:
                return hospital
        raise UnknownHospitalError(f"hospital_id: {self._unknown(hospital_id)}")

    def __contains__(self, hospital_id: object) -> bool:
        return any(h.hospital_id == hospital_id for h in self.hospitals)

    def in_country(self, country: str) -> list[Hospital]:
        return [h for h in self.hospitals if h.country == country]

    def offering(self, modality: Modality | str) -> list[Hospital]:
        return [h for h in self.hospitals if h.offers(modality)]

    def subset(self, hospital_ids: list[str]) -> "HospitalDirectory":
        """Just these hospitals, in this order (for a workflow's input); unknown ids raise."""
        return HospitalDirectory(hospitals=[self.get(h) for h in hospital_ids])

    def check_intake_hospitals(self, intake: CaseIntake) -> None:
        """Every hospital the intake names exists and lies in a chosen destination country.

        Raises ValueError naming the field. Call it where the directory is at hand (the CLI,
        or a workflow that received the directory in its input).
        """
        countries = intake.destinations.countries
        for index, hospital_id in enumerate(intake.destinations.hospital_ids):
            where = f"destinations.hospital_ids.{index}"
            if hospital_id not in self:
                raise ValueError(f"{where}: {self._unknown(hospital_id)}")
            if self.get(hospital_id).country not in countries:
                raise ValueError(
                    f"{where}: hospital {hospital_id!r} is in {self.get(hospital_id).country}, "
                    f"not in destinations.countries"
                )
        for index, grant in enumerate(intake.consents):
            if grant.hospital_id is None:
                continue
            where = f"consents.{index}.hospital_id"
            if grant.hospital_id not in self:
                raise ValueError(f"{where}: {self._unknown(grant.hospital_id)}")
            if self.get(grant.hospital_id).country != grant.country:
                raise ValueError(f"{where}: hospital {grant.hospital_id!r} is not in "
                                 f"{grant.country}")

    def _unknown(self, hospital_id: str) -> str:
        known = ", ".join(h.hospital_id for h in self.hospitals)
        return f"unknown hospital {hospital_id!r}; known: {known}"

    @classmethod
    def from_json(cls, text: str | bytes) -> "HospitalDirectory":
        data = json.loads(text)
        data.pop("_comment", None)
        return cls.model_validate(data)

    @classmethod
    def load_default(cls) -> "HospitalDirectory":
        """The packaged sample directory. Reads a file: not for use inside a workflow."""
        text = resources.files("caseflow").joinpath("hospitals.json").read_text(encoding="utf-8")
        return cls.from_json(text)
