"""The consent gate: latest covering event decides, withdrawals block, messages carry no PHI."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.case_events import WithdrawConsent
from caseflow.consent import ConsentEvent, ConsentLedger, ConsentMissing
from caseflow.fictional_case import intake
from caseflow.intake import ConsentGrant

T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
T3 = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
XIAMEN, BEIJING = "cn-xiamen-bnct", "cn-beijing-cancer"


def grant(country="CN", hospital_id=None, purpose="referral", at=T1) -> ConsentGrant:
    return ConsentGrant(country=country, hospital_id=hospital_id, purpose=purpose, granted_at=at)


def test_from_intake_agrees_with_case_intake_has_consent():
    case = intake()
    ledger = ConsentLedger.from_intake(case)
    for country in ("IN", "CN"):
        for hospital in (XIAMEN, BEIJING, "in-chennai-proton"):
            for purpose in ("referral", "translation", "travel"):
                assert ledger.allows(country, hospital, purpose) == case.has_consent(
                    country, hospital, purpose
                ), (country, hospital, purpose)


def test_missing_consent_raises_a_one_line_reason_without_patient_data():
    ledger = ConsentLedger.from_intake(intake())
    with pytest.raises(ConsentMissing) as caught:
        ledger.check("CN", XIAMEN, "travel")
    message = str(caught.value)
    assert message == "no travel consent for hospital cn-xiamen-bnct (CN) was recorded"
    assert "\n" not in message and "Asha" not in message and "Example" not in message


def test_check_passes_when_granted():
    ConsentLedger.from_intake(intake()).check("CN", BEIJING, "referral")


def test_hospital_withdrawal_narrows_a_country_grant():
    ledger = ConsentLedger().granted(grant()).withdrawn("CN", XIAMEN, "referral", T2)
    assert not ledger.allows("CN", XIAMEN, "referral")
    assert ledger.allows("CN", BEIJING, "referral")
    with pytest.raises(ConsentMissing, match="withdrawn at 2026-03-03T09:00:00"):
        ledger.check("CN", XIAMEN, "referral")


def test_country_withdrawal_revokes_earlier_hospital_grants_and_a_later_grant_restores():
    ledger = (
        ConsentLedger()
        .granted(grant(hospital_id=XIAMEN))
        .withdrawn("CN", None, "referral", T2)
    )
    assert not ledger.allows("CN", XIAMEN, "referral")
    ledger = ledger.granted(grant(hospital_id=XIAMEN, at=T3))
    assert ledger.allows("CN", XIAMEN, "referral")
    assert not ledger.allows("CN", BEIJING, "referral")


def test_purposes_and_countries_are_independent():
    ledger = ConsentLedger().granted(grant(purpose="translation"))
    assert not ledger.allows("CN", XIAMEN, "referral")
    assert not ledger.allows("IN", XIAMEN, "translation")
    assert ledger.allows("CN", XIAMEN, "translation")


def test_ledger_is_append_only():
    first = ConsentLedger().granted(grant())
    second = first.withdrawn("CN", None, "referral", T2)
    assert len(first.events) == 1 and first.allows("CN", XIAMEN, "referral")
    assert second.events[:1] == first.events
    assert [e.action for e in second.events] == ["grant", "withdraw"]
    with pytest.raises(ValidationError):
        second.events = ()  # frozen


def test_grants_for_lists_the_grants_in_force_per_purpose():
    ledger = ConsentLedger.from_intake(intake()).withdrawn("CN", XIAMEN, "translation", T2)
    assert [(g.purpose, g.hospital_id) for g in ledger.grants_for("CN", XIAMEN)] == [
        ("referral", None)
    ]
    assert ledger.grants_for("CN", BEIJING)[0].granted_at == datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("at", datetime(2026, 3, 2, 9, 0), "at needs a time zone"),
        ("purpose", "marketing", "referral"),
        ("country", "US", "'IN' or 'CN'"),
        ("hospital_id", "Bad Id", "pattern"),
        ("recorded_by", "Dr Smith", "pattern"),
    ],
)
def test_bad_events_are_rejected_naming_the_field(field, value, reason):
    data = {"action": "withdraw", "country": "CN", "purpose": "referral", "at": T1, field: value}
    with pytest.raises(ValidationError) as caught:
        ConsentEvent.model_validate(data)
    error = caught.value.errors()[0]
    assert error["loc"][0] == field
    assert reason in error["msg"]


def test_unknown_purpose_in_check_is_a_value_error():
    with pytest.raises(ValueError, match="purpose"):
        ConsentLedger().check("CN", XIAMEN, "marketing")


def test_round_trips_through_temporals_pydantic_converter():
    ledger = ConsentLedger.from_intake(intake()).withdrawn("CN", XIAMEN, "referral", T2, "coord-7")
    converter = pydantic_data_converter.payload_converter
    payload = converter.to_payloads([ledger])
    (decoded,) = converter.from_payloads(payload, [ConsentLedger])
    assert decoded == ledger
    assert not decoded.allows("CN", XIAMEN, "referral")


# -- the records review consent: no country, withdrawable (issue 10) ---------------------------


def review_granted() -> ConsentLedger:
    return ConsentLedger().recorded(
        ConsentEvent(action="grant", purpose="records_review", at=T1, given_by="patient")
    )


def test_the_records_review_consent_is_withdrawn_without_a_country():
    ledger = review_granted()
    assert ledger.allows_review() and not ledger.review_withdrawn()
    withdrawn = ledger.withdrawn(None, None, "records_review", T2, recorded_by="patient-portal")
    assert not withdrawn.allows_review() and withdrawn.review_withdrawn()
    assert withdrawn.review_event() == withdrawn.events[-1]
    assert withdrawn.events[-1].country is None and withdrawn.events[-1].at == T2
    assert ledger.allows_review()  # the earlier ledger is unchanged


def test_a_ledger_without_a_review_event_is_neither_in_force_nor_withdrawn():
    # A coordinator's case from a signed form: its review rests on that form, not the ledger.
    ledger = ConsentLedger.from_intake(intake())
    assert ledger.review_event() is None
    assert not ledger.allows_review() and not ledger.review_withdrawn()


def test_withdrawing_the_review_leaves_the_delivery_consents_alone():
    ledger = ConsentLedger.from_intake(intake()).recorded(*review_granted().events)
    withdrawn = ledger.withdrawn(None, None, "records_review", T2)
    assert withdrawn.allows("CN", XIAMEN, "referral") == ledger.allows("CN", XIAMEN, "referral")


@pytest.mark.parametrize(
    ("country", "purpose"), [(None, "referral"), ("CN", "records_review")]
)
def test_a_withdrawal_has_a_country_exactly_when_not_the_review(country, purpose):
    with pytest.raises(ValidationError, match="country: needed for every purpose but"):
        ConsentLedger().withdrawn(country, None, purpose, T2)


def test_withdraw_consent_event_follows_the_ledgers_country_rule():
    review = WithdrawConsent(purpose="records_review")
    assert review.country is None and review.hospital_id is None
    assert WithdrawConsent(country="IN", purpose="travel").country == "IN"
    for bad, reason in [
        ({"purpose": "referral"}, "country: needed for every purpose but records_review"),
        ({"purpose": "records_review", "country": "CN"}, "country: needed for every purpose"),
        ({"purpose": "records_review", "hospital_id": "cn-beijing-cancer"},
         "hospital_id: the records review consent names no hospital"),
    ]:
        with pytest.raises(ValidationError, match=reason):
            WithdrawConsent.model_validate(bad)
