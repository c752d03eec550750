"""The coordinator's and supervisor's notices say which step, what the case waits for, since
when, when it was due, and link to the case; nothing about the patient."""

from datetime import UTC, datetime

import pytest

from activities.notifications import notice_body, notice_subject
from activities.payloads import Notice
from caseflow.sla import WAIT_WORDS, SlaStep, WaitKind

CASE = "c-7f3a9e2b41d04c55"
URL = "https://caseflow.example.org/"
SINCE = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
DUE = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


def notice(step: SlaStep | None, **changes) -> Notice:
    values = dict(
        notice_id=f"{CASE}.1-hospital.{step.value if step else 'x'}",
        case_id=CASE,
        coordinator_id="coord-ana",
        reason="hospital cn-xiamen-bnct has not answered the referral",
        audience=["coordinator", "supervisor"] if step == SlaStep.ESCALATE_SUPERVISOR
        else ["coordinator"],
        step=step,
        waits_for=WaitKind.HOSPITAL_RESPONSE,
        wait_subject="cn-xiamen-bnct",
        waiting_since=SINCE,
        due_at=DUE,
    )
    return Notice(**(values | changes))


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (SlaStep.REMIND, "reminder"),
        (SlaStep.ESCALATE_COORDINATOR, "escalated to the coordinator"),
        (SlaStep.ESCALATE_SUPERVISOR, "escalated to the supervisor"),
    ],
)
def test_each_level_names_its_step_the_wait_the_times_and_the_link(step, words):
    message = notice(step)
    assert notice_subject(message) == (
        f"caseflow {words}: case {CASE} waits for the hospital's answer to the referral "
        "(cn-xiamen-bnct)"
    )
    body = notice_body(message, URL)
    assert f"Step:          {words}\n" in body
    assert "Waiting for:   the hospital's answer to the referral (cn-xiamen-bnct)\n" in body
    assert "Why:           hospital cn-xiamen-bnct has not answered the referral\n" in body
    assert "Waiting since: 2025-03-01 09:30 UTC\n" in body
    assert "Due:           2025-03-04 09:30 UTC\n" in body
    assert f"Open the case: https://caseflow.example.org/console/cases/{CASE}\n" in body
    assert "needs attention" not in notice_subject(message) + body


def test_every_wait_kind_has_words_in_the_subject():
    for kind in WaitKind:
        subject = notice_subject(notice(SlaStep.REMIND, waits_for=kind, wait_subject=""))
        words = subject.split(" waits for ", 1)[1]
        assert words == WAIT_WORDS[kind] and "_" not in words.replace("retry_step", "").replace(
            "skip_step", "")


def test_a_notice_that_is_no_sla_step_is_named_by_its_reason():
    message = notice(None, waits_for=None, wait_subject="", waiting_since=None, due_at=None,
                     reason="request the visa invitation letter from hospital in-apollo")
    assert notice_subject(message) == (
        f"caseflow: case {CASE}: request the visa invitation letter from hospital in-apollo"
    )
    body = notice_body(message, URL)
    assert body.startswith(f"Case {CASE} needs your action: request the visa invitation")
    assert "Waiting since" not in body and f"/console/cases/{CASE}" in body


def test_a_long_reason_is_shortened_in_the_subject_only():
    reason = "x" * 200
    message = notice(None, waits_for=None, reason=reason)
    assert len(notice_subject(message)) < 160 and notice_subject(message).endswith("…")
    assert reason in notice_body(message, URL)
