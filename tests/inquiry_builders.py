"""A fictional patient inquiry, as the portal's form would send it (tests only)."""

from datetime import UTC, datetime
from typing import Any

from caseflow import consent_texts
from caseflow.inquiry import PatientInquiry

GIVEN_AT = datetime(2025, 1, 2, 9, 0, tzinfo=UTC)


def consent(purpose: str, country: str | None = None, language: str = "en",
            given_by: str = "patient") -> dict[str, Any]:
    text = consent_texts.shown(language, purpose, country, ["Hospital A"] if country else None)
    return {
        "purpose": purpose, "country": country, "text_id": text.text_id,
        "text_version": text.version, "language": text.language, "text": text.text,
        "text_sha256": text.sha256, "given_by": given_by, "given_at": GIVEN_AT,
    }


def inquiry_data(language: str = "en", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "patient": {
            "given_name": "Mei", "family_name": "Lin", "date_of_birth": "1961-04-02",
            "sex": "female", "country_of_residence": "KE", "preferred_language": language,
            "email": "mei.lin@example.invalid",
        },
        "clinical": {
            "primary_site": "head_and_neck", "histology": "squamous cell carcinoma",
            "recurrence_pattern": "local", "lesion_count": 1, "largest_lesion_cm": 2.0,
            "prior_rt_courses": [{
                "site": "oropharynx", "technique": "IMRT", "total_dose_gy": 70,
                "fractions": 35, "completed_on": "2023-03-01",
            }],
            "ecog": 1,
        },
        "destinations": {"countries": ["CN", "IN"]},
        "modalities_of_interest": ["bnct"],
        "filled_in_by": "patient",
        "consents": [consent("records_review", language=language),
                     consent("referral", "CN", language), consent("referral", "IN", language)],
    }
    data.update(changes)
    return data


def fictional_inquiry(language: str = "en", **changes: Any) -> PatientInquiry:
    return PatientInquiry.model_validate(inquiry_data(language, **changes))
