"""What an open wait says it waits for (the SlaWaitsFor search attribute) and which is due first."""

from datetime import UTC, datetime, timedelta

from caseflow.case_status import Deadline, HospitalReferralStatus, next_due
from caseflow.sla import WaitKind

START = datetime(2030, 1, 1, tzinfo=UTC)


def wait(kind: WaitKind, subject: str = "", hours: int | None = 1, **extra) -> Deadline:
    due = START + timedelta(hours=hours) if hours is not None else None
    return Deadline(
        deadline_id=f"{kind.value}-{subject}", wait=kind, subject=subject, started_at=START,
        due_at=due, **extra,
    )


def test_waits_for_names_the_kind_and_what_it_concerns():
    assert wait(WaitKind.SPECIALIST_REVIEW, "review").waits_for == "specialist_review"
    assert wait(WaitKind.RECORDS_UPLOAD, "records").waits_for == "records_upload"
    assert wait(WaitKind.TRAVEL, "flights").waits_for == "travel:flights"
    assert wait(WaitKind.FOLLOW_UP, "day-30").waits_for == "follow_up:day-30"
    assert wait(WaitKind.VISA_LETTER, "cn-xiamen-bnct").waits_for == "visa_letter:cn-xiamen-bnct"
    hospital = wait(WaitKind.HOSPITAL_RESPONSE, "cn-xiamen-bnct", hospital_id="cn-xiamen-bnct")
    assert hospital.waits_for == "hospital_response:cn-xiamen-bnct"
    # A referral's failed step is labelled with its hospital, not the step id.
    step = wait(WaitKind.STEP_FAILURE, "referral-in-chennai-proton-packet",
                hospital_id="in-chennai-proton")
    assert step.waits_for == "step_failure:in-chennai-proton"


def test_next_due_is_the_earliest_with_a_due_time_first_listed_on_a_tie():
    held = wait(WaitKind.TRAVEL, "visa", hours=None)
    later = wait(WaitKind.HOSPITAL_RESPONSE, "a", hours=72, hospital_id="a")
    soon = wait(WaitKind.HOSPITAL_ACKNOWLEDGEMENT, "b", hours=24, hospital_id="b")
    tie = wait(WaitKind.HOSPITAL_ACKNOWLEDGEMENT, "c", hours=24, hospital_id="c")
    assert next_due([held, later, soon, tie]) is soon
    assert next_due([held]) is None
    assert next_due([]) is None


def test_a_referral_status_from_before_deadlines_were_reported_still_reads():
    old = {"hospital_id": "cn-beijing-cancer", "workflow_id": "referral-x-cn-beijing-cancer"}
    assert HospitalReferralStatus.model_validate(old).open_deadlines == []
    old_deadline = {"deadline_id": "3-review", "wait": "specialist_review",
                    "started_at": START.isoformat()}
    assert Deadline.model_validate(old_deadline).hospital_id is None
