"""The consent gate: an append-only ledger of grants and withdrawals per destination country x
hospital x purpose, and the check every delivery makes before it sends anything.

Pure and clock-free (event times come from the caller), so the ledger can live in workflow state
and be re-checked by an activity on every attempt [sources.md, "Consent and erasure"].
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from caseflow.intake import CaseIntake, ConsentGrant, DestinationCountry, HospitalIdRef

ConsentPurpose = Literal["referral", "translation", "travel"]
CONSENT_PURPOSES: tuple[ConsentPurpose, ...] = ("referral", "translation", "travel")
# What the ledger records: the deliverable purposes, and the patient's consent to have their
# records reviewed at all (the portal's inquiry; no country: nothing leaves for it).
LedgerPurpose = Literal["records_review", "referral", "translation", "travel"]
RECORDS_REVIEW = "records_review"

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True)


class ConsentMissing(Exception):
    """No effective consent for a delivery. The message is one line and names only the scope
    (purpose, hospital id, country), never the patient, so it is safe in logs and failures."""


class ConsentEvent(BaseModel):
    """One grant or withdrawal. `hospital_id=None` means every hospital in the country."""

    model_config = _MODEL_CONFIG

    action: Literal["grant", "withdraw"]
    # None only for the records review, which no country's delivery needs.
    country: DestinationCountry | None = None
    hospital_id: HospitalIdRef | None = None
    purpose: LedgerPurpose
    at: datetime
    # Opaque id of who recorded it (a coordinator id), for the audit trail; never a name.
    recorded_by: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,40}$")
    # What the person read when they consented (caseflow/consent_texts.py), and who they were.
    # None in events recorded before the portal (a coordinator's grant from a signed form).
    text_id: str | None = Field(default=None, pattern=r"^[a-z_]{1,40}$")
    text_version: str | None = Field(default=None, pattern=r"^[0-9A-Za-z.-]{1,20}$")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    text_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    text: str | None = Field(default=None, max_length=8000)
    given_by: Literal["patient", "representative"] | None = None

    @model_validator(mode="after")
    def _country_unless_review(self) -> "ConsentEvent":
        if (self.country is None) != (self.purpose == RECORDS_REVIEW):
            raise ValueError("country: needed for every purpose but records_review")
        return self

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        # An audit trail across IN/CN/patient time zones needs instants, as ConsentGrant does.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("at needs a time zone, e.g. 2025-01-01T09:00:00Z")
        return value

    def covers(self, country: str, hospital_id: str, purpose: str) -> bool:
        return (
            self.country == country
            and self.purpose == purpose
            and (self.hospital_id is None or self.hospital_id == hospital_id)
        )

    def as_grant(self) -> ConsentGrant:
        if self.action != "grant":
            raise ValueError("action: only a grant event is a ConsentGrant")
        if self.country is None or self.purpose == RECORDS_REVIEW:
            raise ValueError("purpose: the records review is not a delivery's grant")
        return ConsentGrant(
            country=self.country,
            hospital_id=self.hospital_id,
            purpose=self.purpose,
            granted_at=self.at,
        )


def _scope(country: str, hospital_id: str, purpose: str) -> str:
    return f"{purpose} consent for hospital {hospital_id} ({country})"


class ConsentLedger(BaseModel):
    """Grants and withdrawals in the order they were recorded. Methods return a new ledger with
    the event appended; nothing is ever removed, so the ledger is its own audit trail.

    The latest event covering (country, hospital, purpose) decides: a later hospital-specific
    withdrawal narrows an earlier country-wide grant, and a later country-wide withdrawal
    revokes every earlier grant in that country for that purpose.
    """

    model_config = _MODEL_CONFIG

    events: tuple[ConsentEvent, ...] = ()

    @classmethod
    def from_intake(cls, intake: CaseIntake) -> "ConsentLedger":
        """The intake's grants as the first events, in the order the coordinator listed them."""
        return cls().granted(*intake.consents)

    def recorded(self, *events: ConsentEvent) -> "ConsentLedger":
        """The ledger with whole events appended (the portal's grants carry their text)."""
        return ConsentLedger(events=self.events + events)

    def granted(self, *grants: ConsentGrant, recorded_by: str | None = None) -> "ConsentLedger":
        events = tuple(
            ConsentEvent(
                action="grant",
                country=grant.country,
                hospital_id=grant.hospital_id,
                purpose=grant.purpose,
                at=grant.granted_at,
                recorded_by=recorded_by,
            )
            for grant in grants
        )
        return ConsentLedger(events=self.events + events)

    def withdrawn(
        self,
        country: DestinationCountry | None,
        hospital_id: str | None,
        purpose: LedgerPurpose,
        at: datetime,
        recorded_by: str | None = None,
    ) -> "ConsentLedger":
        """The ledger with a withdrawal appended; `country=None` exactly for the records review
        (ConsentEvent refuses any other combination)."""
        event = ConsentEvent(
            action="withdraw",
            country=country,
            hospital_id=hospital_id,
            purpose=purpose,
            at=at,
            recorded_by=recorded_by,
        )
        return ConsentLedger(events=(*self.events, event))

    def review_event(self) -> ConsentEvent | None:
        """The latest grant or withdrawal of the records review consent, if any was recorded."""
        for event in reversed(self.events):
            if event.purpose == RECORDS_REVIEW:
                return event
        return None

    def allows_review(self) -> bool:
        """A records review consent was given and is in force (only such a one can be
        withdrawn)."""
        event = self.review_event()
        return event is not None and event.action == "grant"

    def review_withdrawn(self) -> bool:
        """The patient withdrew the records review consent. Cases a coordinator started from a
        signed form have no review event at all: their review rests on that form, so they are
        not "withdrawn"."""
        event = self.review_event()
        return event is not None and event.action == "withdraw"

    def deciding_event(self, country: str, hospital_id: str, purpose: str) -> ConsentEvent | None:
        for event in reversed(self.events):
            if event.covers(country, hospital_id, purpose):
                return event
        return None

    def allows(self, country: str, hospital_id: str, purpose: str) -> bool:
        event = self.deciding_event(country, hospital_id, purpose)
        return event is not None and event.action == "grant"

    def check(self, country: str, hospital_id: str, purpose: str) -> None:
        """Raise ConsentMissing unless consent for this scope is in force."""
        if purpose not in CONSENT_PURPOSES:
            raise ValueError(f"purpose: {purpose!r} is not one of {', '.join(CONSENT_PURPOSES)}")
        event = self.deciding_event(country, hospital_id, purpose)
        if event is None:
            raise ConsentMissing(f"no {_scope(country, hospital_id, purpose)} was recorded")
        if event.action == "withdraw":
            raise ConsentMissing(
                f"{_scope(country, hospital_id, purpose)} was withdrawn at {event.at.isoformat()}"
            )

    def grants_for(self, country: str, hospital_id: str) -> list[ConsentGrant]:
        """The grants in force for one hospital, one per purpose, in purpose order (for the
        packet's FHIR Consent resources)."""
        grants = []
        for purpose in CONSENT_PURPOSES:
            event = self.deciding_event(country, hospital_id, purpose)
            if event is not None and event.action == "grant":
                grants.append(event.as_grant())
        return grants
