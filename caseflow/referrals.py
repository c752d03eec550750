"""The rules of a hospital referral that the case applies to coordinators' events: which
referrals can take an answer, an acknowledgement or a selection, and what an answer makes of
the referral. Pure, like the checklist: the case workflow's validators call these checks."""

from collections.abc import Iterable
from datetime import datetime

from caseflow.case_events import HospitalDecision, HospitalResponse
from caseflow.case_status import HospitalReferralStatus, ReferralState

# What a hospital's answer makes of its referral.
ANSWER_STATES = {
    HospitalDecision.ACCEPT: ReferralState.ACCEPTED,
    HospitalDecision.DECLINE: ReferralState.DECLINED,
    HospitalDecision.NEEDS_MORE_INFORMATION: ReferralState.NEEDS_MORE_INFORMATION,
}
# Outcomes the case decides once the hospitals have answered.
CASE_DECISIONS = frozenset({ReferralState.SELECTED, ReferralState.NOT_SELECTED})


class ReferralRuleError(ValueError):
    """An event a referral cannot take; the message names the field and never PHI."""


def state_after_answer(decision: HospitalDecision) -> ReferralState:
    return ANSWER_STATES[decision]


def take_answer(status: HospitalReferralStatus, response: HospitalResponse, at: datetime) -> None:
    """What an answer makes of the referral: the referral and the case apply it alike."""
    status.response = response
    status.responded_at = at
    status.escalation_level = 0
    status.state = state_after_answer(response.decision)


def check_answer(status: HospitalReferralStatus | None, hospital_id: str) -> None:
    """A hospital may answer while its referral is open (again after asking for more)."""
    if status is None or status.state in CASE_DECISIONS:
        raise ReferralRuleError(f"hospital_id: no open referral to hospital {hospital_id}")
    if status.final:
        raise ReferralRuleError(
            f"hospital_id: hospital {hospital_id} already answered ({status.state.value})"
        )


def check_acknowledgement(status: HospitalReferralStatus | None, hospital_id: str) -> None:
    """A hospital acknowledges a delivered packet once, while its referral is open."""
    if status is None or status.final:
        raise ReferralRuleError(f"hospital_id: no open referral to hospital {hospital_id}")
    if status.delivered_at is None:
        raise ReferralRuleError(
            f"hospital_id: the packet to hospital {hospital_id} is not delivered yet"
        )
    if status.acknowledged_at is not None:
        raise ReferralRuleError(f"hospital_id: hospital {hospital_id} already acknowledged")


def check_selection(
    status: HospitalReferralStatus | None, hospital_id: str, selected_hospital_id: str | None
) -> None:
    """One hospital is selected, and only one that accepted."""
    if status is None:
        raise ReferralRuleError(f"hospital_id: no referral to hospital {hospital_id}")
    if status.state != ReferralState.ACCEPTED:
        raise ReferralRuleError(
            f"hospital_id: hospital {hospital_id} has not accepted ({status.state.value})"
        )
    if selected_hospital_id is not None:
        raise ReferralRuleError("hospital_id: a hospital is already selected")


def none_can_accept(referrals: Iterable[HospitalReferralStatus]) -> bool:
    """Every referral has ended and none accepted: the case goes back to review."""
    current = list(referrals)
    return all(r.final for r in current) and not any(
        r.state == ReferralState.ACCEPTED for r in current
    )
