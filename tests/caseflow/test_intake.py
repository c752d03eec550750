"""CaseIntake: what it accepts, what it rejects (naming the field), and its JSON round trip."""

import copy
from datetime import date

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.intake import (
    Biomarker,
    CaseIntake,
    SystemicAgentClass,
    add_months,
    check_intake,
    parse_intake,
    whole_months_between,
)

TODAY = date(2026, 3, 15)


def intake_data() -> dict:
    """A fictional head-and-neck case, prior RT 14 months before TODAY."""
    return {
        "patient": {
            "given_name": "Asha",
            "family_name": "Example",
            "date_of_birth": "1961-07-04",
            "sex": "female",
            "country_of_residence": "KE",
            "preferred_language": "en",
            "email": "asha@example.invalid",
            "phone": "+254 700 000000",
        },
        "clinical": {
            "primary_site": "head_and_neck",
            "histology": "squamous cell carcinoma",
            "recurrence_pattern": "local",
            "lesion_count": 1,
            "largest_lesion_cm": 3.2,
            "prior_rt_courses": [
                {
                    "site": "oropharynx",
                    "technique": "IMRT",
                    "total_dose_gy": 70,
                    "fractions": 35,
                    "completed_on": "2025-01-10",
                    "oar_max_doses_gy": {"Spinal Cord": 44.5, "brainstem": 50},
                }
            ],
            "ecog": 1,
            "biomarkers": ["pd-l1+"],
        },
        "destinations": {"countries": ["IN", "CN"], "hospital_ids": ["cn-xiamen-bnct"]},
        "consents": [
            {"country": "CN", "purpose": "referral", "granted_at": "2026-03-01T09:00:00Z"}
        ],
        "coordinator_id": "coord-7",
    }


def with_change(path: str, value) -> dict:
    data = copy.deepcopy(intake_data())
    node = data
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return data


_DELETE = object()


def test_valid_intake_normalises_and_round_trips_through_json():
    intake = CaseIntake.model_validate(intake_data())
    assert intake.clinical.biomarkers == [Biomarker.PD_L1_POSITIVE]
    assert intake.clinical.prior_rt_courses[0].oar_max_doses_gy == {
        "spinal_cord": 44.5,
        "brainstem": 50.0,
    }
    assert intake.pathway == "recurrent_after_rt"
    assert CaseIntake.model_validate_json(intake.model_dump_json()) == intake


def test_round_trips_through_temporals_pydantic_converter():
    intake = CaseIntake.model_validate(intake_data())
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([intake])
    [back] = converter.from_payloads(payloads, [CaseIntake])
    assert back == intake
    assert back.clinical.prior_rt_courses[0].completed_on == date(2025, 1, 10)


@pytest.mark.parametrize(
    ("path", "value", "loc", "reason"),
    [
        ("clinical.ecog", 5, "clinical.ecog", "less than or equal to 4"),
        ("clinical.ecog", -1, "clinical.ecog", "greater than or equal to 0"),
        ("clinical.prior_rt_courses.0.total_dose_gy", 0,
         "clinical.prior_rt_courses.0.total_dose_gy", "greater than 0"),
        ("clinical.prior_rt_courses.0.total_dose_gy", -2,
         "clinical.prior_rt_courses.0.total_dose_gy", "greater than 0"),
        ("clinical.prior_rt_courses.0.fractions", 0,
         "clinical.prior_rt_courses.0.fractions", "greater than 0"),
        ("clinical.prior_rt_courses.0.oar_max_doses_gy", {"cord": -1},
         "clinical.prior_rt_courses.0.oar_max_doses_gy.cord", "greater than or equal to 0"),
        ("clinical.prior_rt_courses", [], "clinical.prior_rt_courses", "at least 1"),
        ("clinical.lesion_count", 0, "clinical.lesion_count", "greater than or equal to 1"),
        ("clinical.largest_lesion_cm", 0, "clinical.largest_lesion_cm", "greater than 0"),
        ("clinical.sins", 7, "clinical.sins", "only given for primary_site 'spine'"),
        ("clinical.biomarkers", ["EGFR", "KRASX"], "clinical.biomarkers.1", "unknown biomarker"),
        ("clinical.primary_site", "kidney", "clinical.primary_site", "Input should be"),
        ("clinical.recurrence_pattern", "everywhere", "clinical.recurrence_pattern",
         "Input should be"),
        ("clinical.unexpected", 1, "clinical.unexpected", "Extra inputs are not permitted"),
        ("destinations.countries", [], "destinations.countries", "at least 1"),
        ("destinations.countries", ["US"], "destinations.countries.0", "'IN' or 'CN'"),
        ("destinations.hospital_ids", ["Bad Id"], "destinations.hospital_ids.0", "pattern"),
        ("patient.sex", "f", "patient.sex", "Input should be"),
        ("patient.country_of_residence", "Kenya", "patient.country_of_residence", "pattern"),
        ("patient.preferred_language", "English", "patient.preferred_language", "pattern"),
        ("patient.email", "not-an-email", "patient.email", "pattern"),
        ("patient.date_of_birth", "1850-01-01", "patient.date_of_birth", "before 1900"),
        ("patient.given_name", "", "patient.given_name", "at least 1 character"),
        ("consents.0.granted_at", "2026-03-01T09:00:00", "consents.0.granted_at",
         "needs a time zone"),
        ("consents.0.purpose", "marketing", "consents.0.purpose", "Input should be"),
        ("coordinator_id", "Coordinator Seven", "coordinator_id", "pattern"),
        ("pathway", "primary", "pathway", "recurrent_after_rt"),
    ],
)
def test_rejections_name_the_field_and_the_reason(path, value, loc, reason):
    with pytest.raises(ValidationError) as raised:
        CaseIntake.model_validate(with_change(path, value))
    errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
    assert loc in errors, errors
    assert reason in errors[loc]


def test_sins_is_accepted_for_spine():
    data = with_change("clinical.primary_site", "spine")
    data["clinical"]["sins"] = 13
    assert CaseIntake.model_validate(data).clinical.sins == 13
    data["clinical"]["sins"] = 19
    with pytest.raises(ValidationError, match="less than or equal to 18"):
        CaseIntake.model_validate(data)


def test_rt_completed_before_birth_is_rejected():
    data = with_change("clinical.prior_rt_courses.0.completed_on", "1960-01-01")
    with pytest.raises(ValidationError, match="completed_on is before the date of birth"):
        CaseIntake.model_validate(data)


@pytest.mark.parametrize(
    ("path", "value", "loc", "reason"),
    [
        ("clinical.prior_rt_courses.0.completed_on", "2026-03-16",
         "clinical.prior_rt_courses.0.completed_on", "prior RT completion date is in the future"),
        ("patient.date_of_birth", "2026-03-16", "patient.date_of_birth",
         "date of birth is in the future"),
        ("consents.0.granted_at", "2026-03-16T00:30:00+00:00", "consents.0.granted_at",
         "consent time is in the future"),
    ],
)
def test_future_dates_are_rejected_only_when_today_is_given(path, value, loc, reason):
    data = with_change(path, value)
    if path == "patient.date_of_birth":
        # Keep RT after birth so only the future-date check can fail.
        data["clinical"]["prior_rt_courses"][0]["completed_on"] = value
    # Without a today, the model is clock-free: replaying old history can never fail on it.
    intake = CaseIntake.model_validate(data)
    for check in (lambda: check_intake(intake, TODAY),
                  lambda: parse_intake(intake.model_dump_json(), TODAY)):
        with pytest.raises(ValidationError) as raised:
            check()
        errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
        assert reason in errors[loc]
        assert value not in errors[loc]  # the message never echoes the (possibly PHI) value


def test_today_itself_is_not_the_future():
    data = with_change("clinical.prior_rt_courses.0.completed_on", TODAY.isoformat())
    assert check_intake(CaseIntake.model_validate(data), TODAY).clinical.prior_rt_courses


def test_rt_free_interval_uses_the_latest_course():
    data = intake_data()
    data["clinical"]["prior_rt_courses"].append(
        {**data["clinical"]["prior_rt_courses"][0], "completed_on": "2025-09-15"}
    )
    intake = CaseIntake.model_validate(data)
    assert intake.rt_free_interval_days(TODAY) == (TODAY - date(2025, 9, 15)).days
    assert intake.rt_free_interval_months(TODAY) == 6


def test_consent_is_checked_per_country_hospital_and_purpose():
    intake = CaseIntake.model_validate(intake_data())
    assert intake.has_consent("CN", "cn-xiamen-bnct", "referral")
    assert not intake.has_consent("IN", "in-chennai-proton", "referral")
    assert not intake.has_consent("CN", "cn-xiamen-bnct", "travel")


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2025, 1, 15), date(2025, 4, 14), 2),
        (date(2025, 1, 15), date(2025, 4, 15), 3),
        (date(2025, 1, 31), date(2025, 2, 28), 1),
        (date(2024, 1, 31), date(2024, 2, 28), 0),  # leap year: a month later is 29 Feb
        (date(2024, 8, 31), date(2025, 2, 28), 6),
        (date(2025, 3, 1), date(2025, 2, 1), 0),
    ],
)
def test_whole_months_between(start, end, months):
    assert whole_months_between(start, end) == months


def test_add_months_clamps_to_month_end():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)


@pytest.mark.parametrize("typed", ["PSMA+", "psma", "PSMA-positive", " psma+ "])
def test_psma_is_a_biomarker(typed):
    # [seed, "Radioligand therapy"] Lu-PSMA for PSMA-expressing prostate recurrence.
    intake = CaseIntake.model_validate(with_change("clinical.biomarkers", [typed]))
    assert intake.clinical.biomarkers == [Biomarker.PSMA_POSITIVE]


@pytest.mark.parametrize(
    ("pattern", "distant", "typed", "outside"),
    [
        ("local", False, _DELETE, False),  # local: within or adjacent to the prior field
        ("regional", False, _DELETE, None),  # nodes may or may not have been in the field
        ("distant", False, _DELETE, True),  # distant sites were not previously irradiated
        ("local", True, _DELETE, True),  # distant metastases beside a local recurrence
        ("regional", False, None, None),  # null reads as "derive", like absent
        # An explicit answer wins over the pattern, both ways; intakes written while the field
        # defaulted to false carry an explicit false, which keeps meaning false.
        ("distant", False, False, False),
        ("regional", False, False, False),
        ("local", False, True, True),
    ],
)
def test_new_sites_outside_prior_field_is_derived_unless_given(pattern, distant, typed, outside):
    data = with_change("clinical.new_sites_outside_prior_field", typed) if typed is not _DELETE \
        else intake_data()
    data["clinical"]["recurrence_pattern"] = pattern
    data["clinical"]["distant_metastases"] = distant
    intake = CaseIntake.model_validate(data)
    assert intake.clinical.new_sites_outside_prior_field == (None if typed is _DELETE else typed)
    assert intake.clinical.outside_prior_field is outside
    assert CaseIntake.model_validate_json(intake.model_dump_json()) == intake


def test_systemic_therapy_history_is_optional_and_structured():
    assert CaseIntake.model_validate(intake_data()).clinical.systemic_therapy_history == []
    data = with_change("clinical.systemic_therapy_history", [
        {"agent_class": "checkpoint_inhibitor", "agent": "pembrolizumab",
         "started_on": "2025-03-01", "ended_on": "2025-11-30"},
        {"agent_class": "chemotherapy"},
    ])
    intake = check_intake(CaseIntake.model_validate(data), TODAY)
    first, second = intake.clinical.systemic_therapy_history
    assert (first.agent_class, first.agent, first.ended_on) == (
        SystemicAgentClass.CHECKPOINT_INHIBITOR, "pembrolizumab", date(2025, 11, 30))
    assert (second.started_on, second.ended_on) == (None, None)  # dates when known
    converter = pydantic_data_converter.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([intake]), [CaseIntake])
    assert back == intake


@pytest.mark.parametrize(
    ("line", "loc", "reason"),
    [
        ({"agent_class": "vaccine"}, "agent_class", "Input should be"),
        ({"agent_class": "targeted", "agent": "osimertinib\x07"}, "agent", "pattern"),
        ({"agent_class": "targeted", "started_on": "2025-06-01", "ended_on": "2025-05-01"},
         "", "ended_on is before started_on"),
        ({"agent_class": "targeted", "started_on": "1850-01-01"}, "started_on", "before 1900"),
        ({"agent_class": "targeted", "note": "x"}, "note", "Extra inputs"),
    ],
)
def test_systemic_therapy_rejections_name_the_field(line, loc, reason):
    with pytest.raises(ValidationError) as raised:
        CaseIntake.model_validate(with_change("clinical.systemic_therapy_history", [line]))
    errors = {".".join(str(p) for p in e["loc"]): e["msg"] for e in raised.value.errors()}
    where = "clinical.systemic_therapy_history.0" + (f".{loc}" if loc else "")
    assert where in errors, errors
    assert reason in errors[where]


def test_systemic_therapy_dates_in_the_future_are_rejected_when_today_is_given():
    data = with_change("clinical.systemic_therapy_history",
                       [{"agent_class": "hormonal", "started_on": "2026-03-16"}])
    intake = CaseIntake.model_validate(data)
    with pytest.raises(ValidationError, match="systemic therapy date is in the future"):
        check_intake(intake, TODAY)
