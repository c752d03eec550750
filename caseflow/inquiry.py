"""A patient's inquiry from the portal: who they are and how to reach them, the cancer and its
recurrence, each prior RT course, what they look for, who fills it in, and the consents they gave.

Pure and clock-free like caseflow/intake.py, whose models it reuses so an inquiry validates as
the intake does (dates need `context={"today": ...}`, as there). What an inquiry may know less
than an intake, and how that is kept honest (documented in README "Patient portal"):
- histology and a course's technique may be left blank: they become NOT_KNOWN, a text a
  coordinator sees for what it is (triage reads neither);
- the numbers triage reads (lesions, size, dose, fractions, ECOG) stay required, as best
  estimates from the patient's reports; the coordinator checks them against the records;
- hospitals are not chosen by the patient: every hospital in the chosen countries is in scope;
- the coordinator is the intake pool (INQUIRY_POOL) until one accepts the case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from caseflow.consent import RECORDS_REVIEW, ConsentEvent, LedgerPurpose
from caseflow.consent_texts import text_digest
from caseflow.free_text import MultiLineText, SingleLineText
from caseflow.hospitals import Modality
from caseflow.intake import (
    CaseIntake,
    ClinicalSummary,
    ConsentGrant,
    DestinationCountry,
    DestinationPreferences,
    Patient,
)

# The coordinator id an inquiry's case starts with: the pool every coordinator's queue shows
# under "New inquiries" until one accepts it (assign on accept).
INQUIRY_POOL = "intake"
# What a blank "if you know" field becomes.
NOT_KNOWN = "not known (patient inquiry)"

_CONFIG = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

Relation = Literal[
    "spouse_partner", "child", "parent", "sibling", "other_family", "friend", "other"
]
GivenBy = Literal["patient", "representative"]


class InquiryConsent(BaseModel):
    """One consent ticked on the form: the exact text shown and its catalogue entry."""

    model_config = _CONFIG

    purpose: LedgerPurpose
    country: DestinationCountry | None = None
    text_id: str = Field(pattern=r"^[a-z_]{1,40}$")
    text_version: str = Field(pattern=r"^[0-9A-Za-z.-]{1,20}$")
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    text: MultiLineText = Field(min_length=1, max_length=8000)
    text_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    given_by: GivenBy
    given_at: datetime

    @model_validator(mode="after")
    def _consistent(self) -> InquiryConsent:
        if self.text_sha256 != text_digest(self.text):
            raise ValueError("text_sha256: is not the SHA-256 of the text shown")
        if (self.country is None) != (self.purpose == RECORDS_REVIEW):
            raise ValueError("country: needed for every purpose but records_review")
        if self.given_at.tzinfo is None or self.given_at.utcoffset() is None:
            raise ValueError("given_at: needs a time zone")
        return self

    def event(self) -> ConsentEvent:
        return ConsentEvent(
            action="grant", country=self.country, purpose=self.purpose, at=self.given_at,
            text_id=self.text_id, text_version=self.text_version, language=self.language,
            text_sha256=self.text_sha256, text=self.text, given_by=self.given_by,
        )


class Representative(BaseModel):
    """A family member (or friend) filling the form in for the patient."""

    model_config = _CONFIG

    name: SingleLineText = Field(min_length=1, max_length=200)
    relation: Relation


class PatientInquiry(BaseModel):
    """What the portal's form sends. PHI: it lives only in encrypted workflow payloads."""

    model_config = _CONFIG

    patient: Patient
    clinical: ClinicalSummary
    destinations: DestinationPreferences
    modalities_of_interest: list[Modality] = Field(default_factory=list, max_length=20)
    filled_in_by: GivenBy
    representative: Representative | None = None
    note: MultiLineText | None = Field(default=None, max_length=2000)
    consents: list[InquiryConsent] = Field(default_factory=list, max_length=20)

    @field_validator("patient")
    @classmethod
    def _reachable(cls, value: Patient, info: ValidationInfo) -> Patient:
        if value.email is None:
            raise PydanticCustomError(
                "email_required", "an e-mail address is needed to confirm the inquiry", {}
            )
        return value

    @model_validator(mode="after")
    def _as_the_intake(self) -> PatientInquiry:
        if self.filled_in_by == "representative" and self.representative is None:
            raise ValueError("representative: say who you are and how you are related")
        if self.filled_in_by == "patient" and self.representative is not None:
            raise ValueError("representative: only when a family member fills the form in")
        purposes = {c.purpose for c in self.consents}
        if RECORDS_REVIEW not in purposes:
            raise ValueError("consents: the records review consent is needed to send an inquiry")
        for consent in self.consents:
            if consent.given_by != self.filled_in_by:
                raise ValueError("consents: given by someone other than who fills the form in")
            if consent.country is not None and consent.country not in self.destinations.countries:
                raise ValueError(f"consents: {consent.country} is not a chosen country")
        for index, course in enumerate(self.clinical.prior_rt_courses):
            # CaseIntake's own cross-field rule, with the same words.
            if course.completed_on < self.patient.date_of_birth:
                raise ValueError(
                    f"clinical.prior_rt_courses.{index}.completed_on is before the date of birth"
                )
        return self

    @property
    def email(self) -> str:
        assert self.patient.email is not None
        return self.patient.email

    def consent_events(self) -> list[ConsentEvent]:
        return [consent.event() for consent in self.consents]

    def to_intake(self, coordinator_id: str = INQUIRY_POOL) -> CaseIntake:
        """The case's intake: the deliverable consents as grants (the ledger gets the full
        events with their texts), the pool as coordinator until one accepts."""
        grants = [
            ConsentGrant(country=c.country, purpose=c.purpose, granted_at=c.given_at)
            for c in self.consents
            if c.country is not None and c.purpose != RECORDS_REVIEW
        ]
        return CaseIntake(
            patient=self.patient,
            clinical=self.clinical,
            destinations=self.destinations,
            consents=grants,
            coordinator_id=coordinator_id,
        )
