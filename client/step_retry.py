"""The retry budget a new case is started with, from settings: how long each kind of step keeps
retrying infrastructure errors (workflows/step_policies.py). The case keeps it for its life."""

from __future__ import annotations

from datetime import timedelta

from caseflow.settings import CaseflowSettings
from workflows.sla_watch import StepRetry
from workflows.step_policies import StepKind, StepPatience


def step_retry(settings: CaseflowSettings) -> StepRetry:
    """StepRetry with the settings' patience; unknown kinds in the setting are refused."""
    by_kind: dict[StepKind, timedelta] = {}
    for name, minutes in settings.step_patience_minutes.items():
        try:
            kind = StepKind(name)
        except ValueError:
            known = ", ".join(k.value for k in StepKind)
            raise ValueError(f"step_patience_minutes: no step kind {name!r} ({known})") from None
        if minutes <= 0:
            raise ValueError(f"step_patience_minutes: {name} must be more than 0")
        by_kind[kind] = timedelta(minutes=minutes)
    return StepRetry(
        patience=StepPatience(
            by_kind=by_kind,
            default=timedelta(minutes=settings.step_patience_default_minutes),
            initial_interval=timedelta(seconds=settings.step_retry_initial_seconds),
            maximum_interval=timedelta(seconds=settings.step_retry_maximum_seconds),
        )
    )
