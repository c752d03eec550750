"""SLA policies: how long a case waits on a person or a hospital before reminding and escalating.

Pure data plus deadline arithmetic on times the caller passes in, so workflows can use it.
Every default cites "Time limits seen in practice" in docs/sources.md (`time-limits`) or
says it is a caseflow default.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TIME_LIMITS_SOURCE = "time-limits"  # docs/sources.md, "Time limits seen in practice"
CASEFLOW_DEFAULT = "caseflow default"


class WaitKind(StrEnum):
    INQUIRY_ACCEPTANCE = "inquiry_acceptance"
    RECORDS_UPLOAD = "records_upload"
    SPECIALIST_REVIEW = "specialist_review"
    HOSPITAL_RESPONSE = "hospital_response"
    HOSPITAL_ACKNOWLEDGEMENT = "hospital_acknowledgement"
    TRANSLATION = "translation"
    # The selected hospital needs a translation the patient has not consented to.
    TRANSLATION_CONSENT = "translation_consent"
    VISA_LETTER = "visa_letter"
    TRAVEL = "travel"
    ADMISSION = "admission"
    DISCHARGE = "discharge"
    FOLLOW_UP = "follow_up"
    STEP_FAILURE = "step_failure"
    # Issue 15: the coordinator choosing the next option after the first one failed.
    NEXT_OPTION = "next_option"


class SlaStep(StrEnum):
    REMIND = "remind"
    ESCALATE_COORDINATOR = "escalate_coordinator"
    ESCALATE_SUPERVISOR = "escalate_supervisor"


class SlaDeadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step: SlaStep
    due_at: datetime


class SlaPolicy(BaseModel):
    """Three offsets from the start of a wait, each strictly later than the one before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    remind_after: timedelta
    escalate_coordinator_after: timedelta
    escalate_supervisor_after: timedelta
    source: str = Field(default=CASEFLOW_DEFAULT, min_length=1)

    @field_validator("remind_after", "escalate_coordinator_after", "escalate_supervisor_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @model_validator(mode="after")
    def _in_order(self) -> "SlaPolicy":
        if not self.remind_after < self.escalate_coordinator_after:
            raise ValueError("escalate_coordinator_after must be later than remind_after")
        if not self.escalate_coordinator_after < self.escalate_supervisor_after:
            raise ValueError(
                "escalate_supervisor_after must be later than escalate_coordinator_after"
            )
        return self

    def deadlines(self, started_at: datetime) -> list[SlaDeadline]:
        """The remind, coordinator and supervisor deadlines for a wait that began at started_at."""
        return [
            SlaDeadline(step=SlaStep.REMIND, due_at=started_at + self.remind_after),
            SlaDeadline(
                step=SlaStep.ESCALATE_COORDINATOR,
                due_at=started_at + self.escalate_coordinator_after,
            ),
            SlaDeadline(
                step=SlaStep.ESCALATE_SUPERVISOR,
                due_at=started_at + self.escalate_supervisor_after,
            ),
        ]

    def next_deadline(self, started_at: datetime, now: datetime) -> SlaDeadline | None:
        """The first deadline still ahead of `now` (None once the supervisor step is due)."""
        return next((d for d in self.deadlines(started_at) if d.due_at > now), None)

    def steps_due(self, started_at: datetime, now: datetime) -> list[SlaStep]:
        """The steps whose deadline has passed by `now`, in order."""
        return [d.step for d in self.deadlines(started_at) if d.due_at <= now]


def _policy(remind: timedelta, coordinator: timedelta, supervisor: timedelta, source: str):
    return SlaPolicy(
        remind_after=remind,
        escalate_coordinator_after=coordinator,
        escalate_supervisor_after=supervisor,
        source=source,
    )


_H = timedelta(hours=1)
_D = timedelta(days=1)


class SlaDefaults(BaseModel):
    """One policy per kind of wait. Missing kinds fall back to DEFAULT_SLAS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: dict[WaitKind, SlaPolicy]

    def for_wait(self, kind: WaitKind | str) -> SlaPolicy:
        kind = _wait_kind(kind)
        if kind in self.policies:
            return self.policies[kind]
        return _DEFAULT_POLICIES[kind]

    def with_overrides(
        self, overrides: Mapping[str, SlaPolicy | Mapping[str, Any]]
    ) -> "SlaDefaults":
        """A copy with some policies replaced or partly changed.

        Keys are wait kinds; a value is a whole SlaPolicy, or a mapping of the fields to change
        (durations as timedelta, seconds, or ISO 8601 such as "PT48H"). The result is validated,
        so an override that breaks the remind < coordinator < supervisor order is rejected.
        """
        policies = dict(self.policies)
        for key, value in overrides.items():
            kind = _wait_kind(key)
            if isinstance(value, SlaPolicy):
                policies[kind] = value
                continue
            merged = self.for_wait(kind).model_dump()
            unknown = set(value) - set(SlaPolicy.model_fields)
            if unknown:
                raise ValueError(
                    f"sla override for {kind.value}: unknown field(s) {', '.join(sorted(unknown))}"
                )
            merged.update(value)
            if "source" not in value:
                merged["source"] = "override"
            policies[kind] = SlaPolicy.model_validate(merged)
        return SlaDefaults(policies=policies)


def _wait_kind(value: WaitKind | str) -> WaitKind:
    try:
        return WaitKind(value)
    except ValueError:
        known = ", ".join(k.value for k in WaitKind)
        raise ValueError(f"unknown wait kind {value!r}; expected one of {known}") from None


# Plain calendar days, not business days: deterministic and the same in IN, CN and the patient's
# country. Where [time-limits] says N business days we use about N * 7/5 calendar days.
_DEFAULT_POLICIES: dict[WaitKind, SlaPolicy] = {
    # A patient's confirmed inquiry waiting for a coordinator to accept or decline it: "first
    # contact within 24 h of an inquiry", so the supervisor hears of it by the 24th hour.
    WaitKind.INQUIRY_ACCEPTANCE: _policy(8 * _H, 16 * _H, 24 * _H, TIME_LIMITS_SOURCE),
    # Patient or family uploading the workup; no source gives a limit.
    WaitKind.RECORDS_UPLOAD: _policy(3 * _D, 7 * _D, 14 * _D, CASEFLOW_DEFAULT),
    # "Specialist/remote opinion in 48-72 working hours to 5-14 business days": remind at 48 h,
    # coordinator at 72 h, supervisor at 5 business days (7 calendar days).
    WaitKind.SPECIALIST_REVIEW: _policy(48 * _H, 72 * _H, 7 * _D, TIME_LIMITS_SOURCE),
    # A hospital's opinion on a packet is the same remote opinion: 72 h to 14 business days.
    WaitKind.HOSPITAL_RESPONSE: _policy(72 * _H, 7 * _D, 20 * _D, TIME_LIMITS_SOURCE),
    # "First contact within 24 h of an inquiry": the hospital confirming it has the packet.
    WaitKind.HOSPITAL_ACKNOWLEDGEMENT: _policy(24 * _H, 48 * _H, 72 * _H, TIME_LIMITS_SOURCE),
    WaitKind.TRANSLATION: _policy(2 * _D, 4 * _D, 7 * _D, CASEFLOW_DEFAULT),
    # A consent (or the coordinator's decision to skip) blocks the translation itself.
    WaitKind.TRANSLATION_CONSENT: _policy(1 * _D, 2 * _D, 4 * _D, CASEFLOW_DEFAULT),
    # "Urgent visa invitation letter within 24 h".
    WaitKind.VISA_LETTER: _policy(24 * _H, 48 * _H, 72 * _H, TIME_LIMITS_SOURCE),
    WaitKind.TRAVEL: _policy(3 * _D, 7 * _D, 14 * _D, CASEFLOW_DEFAULT),
    # Measured from the planned admission date.
    WaitKind.ADMISSION: _policy(1 * _D, 2 * _D, 4 * _D, CASEFLOW_DEFAULT),
    # Re-irradiation and BNCT courses run days to weeks; nudge only after a long stay.
    WaitKind.DISCHARGE: _policy(21 * _D, 35 * _D, 49 * _D, CASEFLOW_DEFAULT),
    WaitKind.FOLLOW_UP: _policy(2 * _D, 5 * _D, 10 * _D, CASEFLOW_DEFAULT),
    # A step whose activity exhausted its retries, waiting for retry_step or skip_step.
    WaitKind.STEP_FAILURE: _policy(1 * _H, 4 * _H, 24 * _H, CASEFLOW_DEFAULT),
    # A case whose first option failed waits on the coordinator, who owes the patient the next
    # one [seed, "Treatment & Trial Navigation"]; the same clock as a specialist's opinion.
    WaitKind.NEXT_OPTION: _policy(48 * _H, 72 * _H, 7 * _D, CASEFLOW_DEFAULT),
}

DEFAULT_SLAS = SlaDefaults(policies=dict(_DEFAULT_POLICIES))


# -- how a notice names the step and the wait (activities/notifications.py) ---------------------
# Plain words for the people mailed; the console has its own gettext words (web/console_words.py).

STEP_WORDS: dict[SlaStep, str] = {
    SlaStep.REMIND: "reminder",
    SlaStep.ESCALATE_COORDINATOR: "escalated to the coordinator",
    SlaStep.ESCALATE_SUPERVISOR: "escalated to the supervisor",
}

WAIT_WORDS: dict[WaitKind, str] = {
    WaitKind.INQUIRY_ACCEPTANCE: "a coordinator to accept or decline the patient's inquiry",
    WaitKind.RECORDS_UPLOAD: "the patient's records",
    WaitKind.SPECIALIST_REVIEW: "the specialist's review",
    WaitKind.HOSPITAL_RESPONSE: "the hospital's answer to the referral",
    WaitKind.HOSPITAL_ACKNOWLEDGEMENT: "the hospital to acknowledge the referral packet",
    WaitKind.TRANSLATION: "the translated documents",
    WaitKind.TRANSLATION_CONSENT: "the patient's translation consent (or a decision to skip it)",
    WaitKind.VISA_LETTER: "the hospital's visa invitation letter",
    WaitKind.TRAVEL: "a travel step",
    WaitKind.ADMISSION: "the admission to be recorded",
    WaitKind.DISCHARGE: "the discharge to be recorded",
    WaitKind.FOLLOW_UP: "a follow-up to be recorded",
    WaitKind.STEP_FAILURE: "a decision on a failed step (retry_step or skip_step)",
    WaitKind.NEXT_OPTION: "the coordinator's next option (trials, other hospitals, or close)",
}
