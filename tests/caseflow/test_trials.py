"""The ClinicalTrials.gov v2 reader, its refusals, and advisory matching (issue 15)."""

import json
from datetime import date
from importlib import resources

import pytest

from caseflow.intake import PrimarySite
from caseflow.trial_matching import (
    SITE_SYNONYMS,
    UNKNOWN_CRITERIA,
    match_case,
    match_study,
    profile_from_intake,
)
from caseflow.trial_referrals import referral_target, site_recipient, trial_site_id
from caseflow.trial_registry import RecruitmentStatus, RegistryFileError, reader_for
from tests.workflows.cases import intake

RAW = resources.files("caseflow").joinpath("fictional_trials.json").read_bytes()
READER = reader_for("clinicaltrials.gov")
TODAY = date(2026, 6, 1)


def studies():
    return READER.read(RAW, "fixture.json")


def by_id():
    return {s.study_id: s for s in studies()}


def test_the_reader_takes_the_v2_fields():
    study = by_id()["NCT09990002"]
    assert study.status == RecruitmentStatus.NOT_YET_RECRUITING
    assert study.phases == ["PHASE1", "PHASE2"]
    assert study.minimum_age_years == 18 and study.maximum_age_years is None
    assert [s.country for s in study.sites] == ["CN", "IN"]
    assert study.sites[0].contacts[0].email == "ov-trial@cancer-beijing.example.invalid"
    assert by_id()["NCT09990007"].sex == "male"


@pytest.mark.parametrize("shape", ["list", "one", "page"])
def test_the_reader_takes_each_download_shape(shape):
    items = json.loads(RAW)["studies"]
    data = {"list": items, "one": items[0], "page": {"studies": items, "nextPageToken": "x"}}
    got = READER.read(json.dumps(data[shape]).encode(), "f.json")
    assert len(got) == (1 if shape == "one" else 8)


def _refused(raw: bytes) -> str:
    with pytest.raises(RegistryFileError) as refused:
        READER.read(raw, "f.json")
    line = str(refused.value)
    assert "\n" not in line
    return line


def test_malformed_and_truncated_files_are_refused_in_one_line():
    assert "truncated" in _refused(RAW[: len(RAW) // 2])
    assert "truncated" in _refused(RAW.rstrip()[:-1])
    assert "not valid JSON" in _refused(b'{"studies": [}]}')
    assert "no studies" in _refused(b'{"studies": []}')
    assert "not UTF-8" in _refused(b"\xff\xfe{}")
    item = json.loads(RAW)["studies"][0]
    item["protocolSection"]["eligibilityModule"]["minimumAge"] = "eighteen"
    assert "studies.0.eligibilityModule.minimumAge" in _refused(json.dumps([item]).encode())
    item = json.loads(RAW)["studies"][0]
    item["protocolSection"]["identificationModule"]["nctId"] = "NCT1"
    assert "identificationModule.nctId" in _refused(json.dumps([item]).encode())
    twice = json.loads(RAW)["studies"][:1] * 2
    assert "appears twice" in _refused(json.dumps(twice).encode())


def test_control_characters_in_registry_text_are_dropped():
    item = json.loads(RAW)["studies"][0]
    item["protocolSection"]["identificationModule"]["briefTitle"] = "A\x1b[31m title\x07"
    study = READER.read(json.dumps([item]).encode(), "f.json")[0]
    assert study.title == "A[31m title"


def test_matching_ranks_explains_and_excludes():
    profile = profile_from_intake(intake(), TODAY)  # H&N SCC, female, 66, CN and IN
    matches = match_case(profile, studies())
    ranked = [m.study_id for m in matches]
    assert ranked == ["NCT09990001", "NCT09990002", "NCT09990003"]
    best = matches[0]
    assert any("MeSH D006258" in r for r in best.reasons)
    assert any("prior radiotherapy" in r for r in best.reasons)
    assert best.trial_types == ["BNCT"]
    assert UNKNOWN_CRITERIA in best.unknowns
    basket = matches[2]
    assert basket.trial_types == ["CAR-T for solid tumours"]
    assert basket.concerns == ["exclusion criteria name prior radiotherapy: ask the trial team"]
    # Completed (5), sites only outside IN/CN (6), male only (7), age limit 55 (8), brain (4).
    for excluded in ("NCT09990004", "NCT09990005", "NCT09990006", "NCT09990007",
                     "NCT09990008"):
        assert excluded not in ranked


def test_a_destination_without_the_site_excludes_the_study():
    profile = profile_from_intake(intake(), TODAY).model_copy(update={"countries": ["IN"]})
    assert match_study(profile, by_id()["NCT09990001"]) is None  # Xiamen only
    match = match_study(profile, by_id()["NCT09990002"])
    assert match is not None and [s.country for s in match.sites] == ["IN"]


def test_every_site_has_a_cited_synonym_table():
    for site in PrimarySite:
        assert SITE_SYNONYMS[site].source


def test_a_referral_target_takes_the_registry_contact_or_the_coordinators():
    study = by_id()["NCT09990002"]
    target = referral_target(study, ["IN"])
    assert target.site.hospital_id == trial_site_id("NCT09990002", 1) == "trial-nct09990002-1"
    # The Mumbai site names no contact: the study's central contact is the recipient.
    assert target.site.contact_email == "central@trials.example.invalid"
    assert site_recipient(study, study.sites[0]) == "ov-trial@cancer-beijing.example.invalid"
    given = referral_target(study, ["CN", "IN"], 1, "desk@onco.example.invalid")
    assert given.site.contact_email == "desk@onco.example.invalid"
    with pytest.raises(ValueError, match="no open site 0 in IN"):
        referral_target(study, ["IN"], 0)
