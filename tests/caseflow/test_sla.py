"""SLA policies: ordering, defaults with sources, overrides and deadline arithmetic."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.sla import (
    CASEFLOW_DEFAULT,
    DEFAULT_SLAS,
    TIME_LIMITS_SOURCE,
    SlaDeadline,
    SlaDefaults,
    SlaPolicy,
    SlaStep,
    WaitKind,
)

H = timedelta(hours=1)
D = timedelta(days=1)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_every_wait_kind_has_a_default_with_a_source():
    for kind in WaitKind:
        policy = DEFAULT_SLAS.for_wait(kind)
        assert policy.source in (TIME_LIMITS_SOURCE, CASEFLOW_DEFAULT)


@pytest.mark.parametrize(
    ("kind", "remind", "coordinator", "supervisor"),
    [
        (WaitKind.SPECIALIST_REVIEW, 48 * H, 72 * H, 7 * D),
        (WaitKind.HOSPITAL_ACKNOWLEDGEMENT, 24 * H, 48 * H, 72 * H),
        (WaitKind.VISA_LETTER, 24 * H, 48 * H, 72 * H),
    ],
)
def test_defaults_from_domain_time_limits(kind, remind, coordinator, supervisor):
    policy = DEFAULT_SLAS.for_wait(kind)
    assert (policy.remind_after, policy.escalate_coordinator_after,
            policy.escalate_supervisor_after) == (remind, coordinator, supervisor)
    assert policy.source == TIME_LIMITS_SOURCE


def test_deadlines_are_three_in_order():
    policy = DEFAULT_SLAS.for_wait(WaitKind.SPECIALIST_REVIEW)
    deadlines = policy.deadlines(START)
    assert [d.step for d in deadlines] == list(SlaStep)
    assert [d.due_at for d in deadlines] == [START + 48 * H, START + 72 * H, START + 7 * D]


def test_next_deadline_and_steps_due():
    policy = DEFAULT_SLAS.for_wait(WaitKind.VISA_LETTER)
    first = policy.next_deadline(START, START)
    assert first is not None and first.step == SlaStep.REMIND
    assert policy.steps_due(START, START + 24 * H - timedelta(seconds=1)) == []
    assert policy.steps_due(START, START + 24 * H) == [SlaStep.REMIND]
    second = policy.next_deadline(START, START + 24 * H)
    assert second is not None and second.step == SlaStep.ESCALATE_COORDINATOR
    assert policy.steps_due(START, START + 72 * H) == list(SlaStep)
    assert policy.next_deadline(START, START + 72 * H) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"remind_after": 0, "escalate_coordinator_after": 2, "escalate_supervisor_after": 3},
         "positive duration"),
        ({"remind_after": 2, "escalate_coordinator_after": 2, "escalate_supervisor_after": 3},
         "escalate_coordinator_after must be later than remind_after"),
        ({"remind_after": 1, "escalate_coordinator_after": 3, "escalate_supervisor_after": 2},
         "escalate_supervisor_after must be later than escalate_coordinator_after"),
        ({"remind_after": 1, "escalate_coordinator_after": 2, "escalate_supervisor_after": 3,
          "snooze": 1}, "Extra inputs are not permitted"),
    ],
)
def test_policy_rejects_bad_order(fields, reason):
    with pytest.raises(ValidationError, match=reason):
        SlaPolicy.model_validate(fields)


def test_partial_override_keeps_other_fields_and_other_kinds():
    slas = DEFAULT_SLAS.with_overrides({"specialist_review": {"remind_after": "PT24H"}})
    policy = slas.for_wait(WaitKind.SPECIALIST_REVIEW)
    assert policy.remind_after == 24 * H
    assert policy.escalate_coordinator_after == 72 * H
    assert policy.source == "override"
    assert slas.for_wait("visa_letter") == DEFAULT_SLAS.for_wait(WaitKind.VISA_LETTER)
    # The original is untouched.
    assert DEFAULT_SLAS.for_wait(WaitKind.SPECIALIST_REVIEW).remind_after == 48 * H


def test_whole_policy_override_for_fast_tests():
    fast = SlaPolicy(remind_after=1 * H, escalate_coordinator_after=2 * H,
                     escalate_supervisor_after=3 * H, source="test")
    slas = DEFAULT_SLAS.with_overrides({kind: fast for kind in WaitKind})
    assert all(slas.for_wait(kind) == fast for kind in WaitKind)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"coffee_break": {"remind_after": 60}}, "unknown wait kind 'coffee_break'"),
        ({"translation": {"remind_after": "P30D"}},
         "escalate_coordinator_after must be later than remind_after"),
        ({"translation": {"remnd_after": 60}}, "unknown field"),
    ],
)
def test_bad_overrides_are_rejected(overrides, reason):
    with pytest.raises(ValueError, match=reason):
        DEFAULT_SLAS.with_overrides(overrides)


def test_empty_defaults_fall_back_to_the_built_in_policies():
    assert SlaDefaults(policies={}).for_wait(WaitKind.TRAVEL) == DEFAULT_SLAS.for_wait("travel")


def test_round_trips_through_json_and_temporals_converter():
    slas = DEFAULT_SLAS.with_overrides({"translation": {"remind_after": 90}})
    assert SlaDefaults.model_validate_json(slas.model_dump_json()) == slas
    converter = pydantic_data_converter.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([slas]), [SlaDefaults])
    assert back == slas
    assert back.for_wait(WaitKind.TRANSLATION).remind_after == timedelta(seconds=90)
    deadlines = slas.for_wait("visa_letter").deadlines(START)
    [back_deadlines] = converter.from_payloads(converter.to_payloads([deadlines]),
                                               [list[SlaDeadline]])
    assert back_deadlines == deadlines
