"""The portal's inquiry validates as the intake does, keeps the consent texts shown, and maps to
the case's intake in the intake pool; the consent catalogue has every purpose in every language;
confirmation links are for confirming only."""

from datetime import date

import pytest
from pydantic import ValidationError

from caseflow import consent_texts
from caseflow.consent import ConsentEvent
from caseflow.ids import inquiry_id_for
from caseflow.inquiry import INQUIRY_POOL, PatientInquiry
from caseflow.portal_links import PortalClaims, PortalLinkInvalid, make_token, read_token
from tests.inquiry_builders import GIVEN_AT, consent, fictional_inquiry, inquiry_data


def errors(data) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as invalid:
        PatientInquiry.model_validate(data, context={"today": date(2025, 6, 1)})
    return [(".".join(map(str, e["loc"])), e["type"]) for e in invalid.value.errors()]


def test_a_complete_inquiry_maps_to_an_intake_in_the_pool():
    intake = fictional_inquiry().to_intake()
    assert intake.coordinator_id == INQUIRY_POOL
    assert {(g.country, g.purpose) for g in intake.consents} == {("CN", "referral"),
                                                                ("IN", "referral")}


def test_validates_as_the_intake_does():
    data = inquiry_data()
    data["patient"] = data["patient"] | {"date_of_birth": "2030-01-01"}
    data["clinical"] = data["clinical"] | {"lesion_count": 0}
    found = errors(data)
    assert ("patient.date_of_birth", "date_in_future") in found
    assert ("clinical.lesion_count", "greater_than_equal") in found


def test_needs_an_email_and_the_records_review_consent():
    data = inquiry_data()
    data["patient"] = {k: v for k, v in data["patient"].items() if k != "email"}
    assert ("patient", "email_required") in errors(data)
    without_review = inquiry_data(consents=[consent("referral", "CN")])
    assert any("records review" in line for line in _messages(without_review))


def test_a_representative_says_who_they_are():
    data = inquiry_data(filled_in_by="representative")
    assert any("representative" in line for line in _messages(data))


def _messages(data) -> list[str]:
    with pytest.raises(ValidationError) as invalid:
        PatientInquiry.model_validate(data)
    return [e["msg"] for e in invalid.value.errors()]


def test_a_consent_text_must_be_the_one_shown():
    tampered = consent("records_review") | {"text": "something else"}
    assert any("SHA-256" in line for line in _messages(inquiry_data(consents=[tampered])))


@pytest.mark.parametrize("language", consent_texts.available_languages())
def test_every_language_has_every_purpose_with_its_legal_source(language):
    found = consent_texts.catalogue(language)
    assert {t.purpose for t in found.texts} == {"records_review", "referral", "translation",
                                                "travel"}
    assert all(t.legal_source and t.version for t in found.texts)
    referral = consent_texts.shown(language, "referral", "CN", ["Hospital A"])
    assert "Hospital A" in referral.text and "{" not in referral.text


def test_languages_resolve_by_tag():
    assert consent_texts.catalogue("zh_CN").language == "zh-CN"
    assert consent_texts.catalogue("zh").language == "zh-CN"
    assert consent_texts.catalogue("hi").language == "en"


def test_ledger_events_keep_text_version_language_and_giver():
    event = fictional_inquiry("zh-CN").consent_events()[0]
    assert isinstance(event, ConsentEvent)
    assert event.language == "zh-CN" and event.given_by == "patient" and event.at == GIVEN_AT
    assert event.text_sha256 == consent_texts.text_digest(event.text or "")


def test_old_ledger_events_still_load():
    old = ConsentEvent.model_validate(
        {"action": "grant", "country": "CN", "purpose": "referral", "at": GIVEN_AT})
    assert old.text is None and old.given_by is None


def test_inquiry_ids_follow_the_form_nonce_and_are_opaque():
    assert inquiry_id_for("s", "nonce-1") == inquiry_id_for("s", "nonce-1")
    assert inquiry_id_for("s", "nonce-1") != inquiry_id_for("s", "nonce-2")
    assert len(inquiry_id_for("s", "nonce-1")) == 26


def test_a_confirmation_link_opens_nothing_else():
    claims = PortalClaims(purpose="confirm_inquiry", subject_id=inquiry_id_for("s", "n"),
                          email_sha256="0" * 64, nonce="abcdefgh12")
    token = make_token("secret", claims)
    assert read_token("secret", token, "confirm_inquiry", 3600) == claims
    with pytest.raises(PortalLinkInvalid):
        read_token("secret", token, "case_status", 3600)
