"""Triage flags, table-driven from the seed's site table and the thresholds and edges that
docs/sources.md lists."""

import re
from datetime import date

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.intake import CaseIntake, add_months
from caseflow.triage import TriageFlag, TriageLevel, cumulative_cord_dmax_gy, triage
from tests.caseflow.test_intake import intake_data

TODAY = date(2026, 3, 15)
A = TriageLevel.AGAINST
C = TriageLevel.CAUTION
F = TriageLevel.FAVOURABLE
I = TriageLevel.INFO  # noqa: E741


def case(months_since_rt: int = 14, days_extra: int = 0, technique: str = "IMRT",
         cord: float | None = None, **clinical) -> CaseIntake:
    data = intake_data()
    course = data["clinical"]["prior_rt_courses"][0]
    completed = add_months(TODAY, -months_since_rt)
    course["completed_on"] = date.fromordinal(completed.toordinal() - days_extra).isoformat()
    course["technique"] = technique
    course["oar_max_doses_gy"] = {} if cord is None else {"spinal_cord": cord}
    data["clinical"]["biomarkers"] = []
    data["clinical"].update(clinical)
    return CaseIntake.model_validate(data)


def levels(flags: list[TriageFlag]) -> dict[str, TriageLevel]:
    return {f.code: f.level for f in flags}


@pytest.mark.parametrize(
    ("months", "days_extra", "code", "level"),
    [
        (0, 0, "RT_FREE_INTERVAL_UNDER_3_MONTHS", A),
        (2, 30, "RT_FREE_INTERVAL_UNDER_3_MONTHS", A),  # a day short of 3 calendar months
        (3, 0, "RT_FREE_INTERVAL_3_TO_6_MONTHS", C),  # exactly 3 months
        (5, 27, "RT_FREE_INTERVAL_3_TO_6_MONTHS", C),
        (6, 0, "RT_FREE_INTERVAL_6_TO_12_MONTHS", I),  # exactly 6 months
        (11, 27, "RT_FREE_INTERVAL_6_TO_12_MONTHS", I),
        (12, 0, "RT_FREE_INTERVAL_12_MONTHS_OR_MORE", F),  # exactly 12 months
        (60, 0, "RT_FREE_INTERVAL_12_MONTHS_OR_MORE", F),
    ],
)
def test_rt_free_interval_bands(months, days_extra, code, level):
    flags = levels(triage(case(months, days_extra), TODAY))
    interval = {c: lv for c, lv in flags.items() if c.startswith("RT_FREE_INTERVAL")}
    assert interval == {code: level}


@pytest.mark.parametrize(
    ("clinical", "present", "absent"),
    [
        # Lesion size edge [seed: <= 5 cm favours SBRT/SRS].
        ({"largest_lesion_cm": 5.0}, {"SMALL_VOLUME_FAVOURS_SBRT_SRS": F}, {"LESION_OVER_5_CM"}),
        ({"largest_lesion_cm": 5.1}, {"LESION_OVER_5_CM": C}, {"SMALL_VOLUME_FAVOURS_SBRT_SRS"}),
        # Oligometastatic threshold 1-5 [seed].
        ({"recurrence_pattern": "distant", "lesion_count": 5}, {"OLIGOMETASTATIC": F},
         {"EXCEEDS_OLIGOMETASTATIC_THRESHOLD"}),
        ({"recurrence_pattern": "distant", "lesion_count": 6},
         {"EXCEEDS_OLIGOMETASTATIC_THRESHOLD": A}, {"OLIGOMETASTATIC"}),
        ({"distant_metastases": True, "lesion_count": 1}, {"OLIGOMETASTATIC": F}, set()),
        ({"recurrence_pattern": "local", "lesion_count": 8}, {},
         {"OLIGOMETASTATIC", "EXCEEDS_OLIGOMETASTATIC_THRESHOLD"}),
        ({"new_sites_outside_prior_field": True}, {"NEW_SITES_OUTSIDE_PRIOR_FIELD": F}, set()),
        ({"diffuse_locoregional": True}, {"DIFFUSE_LOCOREGIONAL": A},
         {"SMALL_VOLUME_FAVOURS_SBRT_SRS"}),
        # Actionable targets and checkpoint inhibitors [seed].
        ({"primary_site": "lung", "histology": "adenocarcinoma", "biomarkers": ["EGFR"]},
         {"ACTIONABLE_TARGET": I}, {"CHECKPOINT_INHIBITOR_HN_SCC"}),
        ({"primary_site": "lung", "histology": "adenocarcinoma", "biomarkers": ["ROS1"]},
         {"ACTIONABLE_TARGET": I}, set()),
        ({"primary_site": "prostate", "histology": "adenocarcinoma", "biomarkers": ["BRCA"]},
         {"ACTIONABLE_TARGET": I, "PROSTATE_PSMA_OPTIONS": I}, set()),
        ({"primary_site": "rectal_pelvic", "histology": "adenocarcinoma",
          "biomarkers": ["dMMR"]}, {"CHECKPOINT_INHIBITOR_MSI_H_DMMR": I}, {"ACTIONABLE_TARGET"}),
        ({"primary_site": "cervix_uterus", "histology": "squamous cell carcinoma",
          "biomarkers": ["PD-L1+"]}, {"CHECKPOINT_INHIBITOR_PD_L1_CERVICAL": I},
         {"CHECKPOINT_INHIBITOR_HN_SCC"}),
        ({"primary_site": "lung", "histology": "adenocarcinoma", "biomarkers": ["PD-L1+"]}, {},
         {"CHECKPOINT_INHIBITOR_PD_L1_CERVICAL"}),
        ({"primary_site": "head_and_neck", "histology": "SCC of the oral tongue"},
         {"CHECKPOINT_INHIBITOR_HN_SCC": I}, set()),
        ({"primary_site": "head_and_neck", "histology": "adenoid cystic carcinoma"}, {},
         {"CHECKPOINT_INHIBITOR_HN_SCC", "BNCT_APPROVED_HN_SCC"}),
        # Spine SINS edge [seed: stabilisation if SINS >= 13].
        ({"primary_site": "spine", "histology": "renal cell carcinoma", "sins": 12}, {},
         {"SINS_SURGICAL_STABILISATION", "SINS_MISSING"}),
        ({"primary_site": "spine", "histology": "renal cell carcinoma", "sins": 13},
         {"SINS_SURGICAL_STABILISATION": C}, set()),
        ({"primary_site": "spine", "histology": "renal cell carcinoma"}, {"SINS_MISSING": I},
         set()),
        # Site options [seed].
        ({"primary_site": "liver", "histology": "hepatocellular carcinoma"},
         {"LIVER_Y90_TARE": I}, {"SITE_SALVAGE_OPTIONS", "BNCT_CANDIDATE"}),
        ({"primary_site": "rectal_pelvic", "histology": "adenocarcinoma"},
         {"SITE_SALVAGE_OPTIONS": I}, {"BNCT_CANDIDATE", "CORD_DOSE_NOT_RECORDED"}),
        # ESTRO/EORTC 2022 [PMID 38859596].
        ({"ecog": 3}, {"POOR_PERFORMANCE_STATUS": C}, set()),
        ({"ecog": 2}, {"ESTRO_EORTC_REIRRADIATION_TYPE": I}, {"POOR_PERFORMANCE_STATUS"}),
    ],
)
def test_flags_from_the_seed_table(clinical, present, absent):
    flags = levels(triage(case(**clinical), TODAY))
    for code, level in present.items():
        assert flags.get(code) == level, (code, flags)
    assert not absent & flags.keys()


@pytest.mark.parametrize(
    ("cord", "site", "code", "level", "source"),
    [
        (50.0, "head_and_neck", "CORD_DOSE_AT_TOLERANCE", A, "seed"),
        (49.9, "head_and_neck", "CORD_DOSE_BELOW_TOLERANCE", I, "PMID 17084560"),
        (None, "head_and_neck", "CORD_DOSE_NOT_RECORDED", I, "seed"),
        (None, "spine", "CORD_DOSE_NOT_RECORDED", I, "seed"),
    ],
)
def test_cumulative_cord_dose(cord, site, code, level, source):
    flags = [f for f in triage(case(cord=cord, primary_site=site), TODAY)
             if f.code.startswith("CORD_")]
    assert [(f.code, f.level, f.source) for f in flags] == [(code, level, source)]


def test_cord_dose_is_summed_over_courses():
    data = intake_data()
    first = data["clinical"]["prior_rt_courses"][0]
    first["oar_max_doses_gy"] = {"spinal cord": 30}
    data["clinical"]["prior_rt_courses"].append(
        {**first, "completed_on": "2025-06-01", "oar_max_doses_gy": {"cord": 20}}
    )
    intake = CaseIntake.model_validate(data)
    assert cumulative_cord_dmax_gy(intake) == 50
    assert "CORD_DOSE_AT_TOLERANCE" in levels(triage(intake, TODAY))


@pytest.mark.parametrize(
    ("overrides", "code", "unmet"),
    [
        ({}, "BNCT_CANDIDATE", None),
        ({"months_since_rt": 3}, "BNCT_CANDIDATE", None),  # >= 3 months: exactly 3 passes
        ({"months_since_rt": 2}, "BNCT_CRITERIA_NOT_MET", "under 3 months since RT"),
        ({"ecog": 2}, "BNCT_CANDIDATE", None),
        ({"ecog": 3}, "BNCT_CRITERIA_NOT_MET", "ECOG above 2"),
        ({"largest_lesion_cm": 12.0}, "BNCT_CANDIDATE", None),
        ({"largest_lesion_cm": 12.1}, "BNCT_CRITERIA_NOT_MET", "tumour over 12 cm"),
        ({"distant_metastases": True}, "BNCT_CRITERIA_NOT_MET", "distant metastases"),
        ({"primary_site": "brain", "histology": "Glioblastoma, IDH-wildtype"}, "BNCT_CANDIDATE",
         None),
        ({"primary_site": "brain", "histology": "breast cancer brain metastasis"}, None, None),
        ({"primary_site": "lung", "histology": "adenocarcinoma"}, None, None),
        ({"technique": "proton PBS"}, None, None),  # no prior photon RT
    ],
)
def test_bnct_suitability(overrides, code, unmet):
    flags = [f for f in triage(case(**overrides), TODAY) if f.code.startswith("BNCT_")
             and f.code != "BNCT_APPROVED_HN_SCC"]
    if code is None:
        assert flags == []
        return
    [flag] = flags
    assert (flag.code, flag.source) == (code, "bnct-trial")
    assert flag.level == (F if code == "BNCT_CANDIDATE" else C)
    if unmet:
        assert unmet in flag.message


def test_bnct_japan_approval_for_locally_recurrent_hn_scc():
    assert levels(triage(case(), TODAY))["BNCT_APPROVED_HN_SCC"] == I
    regional = levels(triage(case(recurrence_pattern="regional"), TODAY))
    assert "BNCT_APPROVED_HN_SCC" not in regional


def test_every_flag_cites_a_domain_source_and_carries_no_patient_data():
    intake = case(primary_site="spine", histology="Renal cell carcinoma", sins=14, cord=52,
                  biomarkers=["MSI-H"], lesion_count=7, recurrence_pattern="distant")
    flags = triage(intake, TODAY)
    sources = {"seed", "PMID 17084560", "bnct-trial", "PMC8265361", "PMID 38859596"}
    assert flags and all(f.source in sources for f in flags)
    identifiers = [intake.patient.given_name, intake.patient.family_name, intake.patient.email,
                   intake.patient.date_of_birth.isoformat(), intake.clinical.histology,
                   intake.clinical.prior_rt_courses[0].site]
    for flag in flags:
        for identifier in filter(None, identifiers):
            assert not re.search(re.escape(identifier), flag.message, re.IGNORECASE)


def test_triage_is_deterministic_and_round_trips():
    intake = case()
    flags = triage(intake, TODAY)
    assert flags == triage(intake, TODAY)
    converter = pydantic_data_converter.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([flags]), [list[TriageFlag]])
    assert back == flags
