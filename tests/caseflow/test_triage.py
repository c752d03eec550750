"""Triage flags, table-driven from the seed's site table and the thresholds and edges that
docs/sources.md lists."""

import itertools
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.intake import CaseIntake, add_months
from caseflow.triage import (
    Approach,
    MarginBand,
    TriageFlag,
    TriageLevel,
    cord_margin,
    cumulative_cord_dmax_gy,
    reconcile,
    triage,
)
from tests.caseflow.test_intake import intake_data

TODAY = date(2026, 3, 15)
SOURCES_MD = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
A = TriageLevel.AGAINST
C = TriageLevel.CAUTION
F = TriageLevel.FAVOURABLE
I = TriageLevel.INFO  # noqa: E741


def case(months_since_rt: int = 14, days_extra: int = 0, technique: str = "IMRT",
         cord: float | None = None, fractions: int = 35, **clinical) -> CaseIntake:
    data = intake_data()
    course = data["clinical"]["prior_rt_courses"][0]
    completed = add_months(TODAY, -months_since_rt)
    course["completed_on"] = date.fromordinal(completed.toordinal() - days_extra).isoformat()
    course["technique"] = technique
    course["fractions"] = fractions
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


CORD_SOURCES = "PMID 17084560; doi 10.1007/s00066-021-01772-7"


@pytest.mark.parametrize(
    ("cord", "fractions", "months", "site", "code", "level", "source"),
    [
        # 50 Gy in 2 Gy fractions is 100 Gy2, above the 98 Gy2 per course [PMID 17084560] and
        # at the seed's ~50 Gy: no margin.
        (50.0, 25, 14, "spine", "CORD_MARGIN_NONE", A, "seed; " + CORD_SOURCES),
        # 49 Gy / 25 fx = 97 Gy2: 38.5 Gy2 left under 135.5 after 12 months (recovery allows
        # 98 - 48.5 = 49.5): just above the 37.5 Gy2 narrow edge.
        (49.0, 25, 14, "spine", "CORD_MARGIN_AMPLE", I, CORD_SOURCES),
        # 44.5 Gy / 35 fx = 72.8 Gy2 (the demo case): ample after 14 months, ...
        (44.5, 35, 14, "head_and_neck", "CORD_MARGIN_AMPLE", I, CORD_SOURCES),
        # ... narrow at 4 months (no recovery before 6, 98 - 72.8 = 25.2 Gy2) ...
        (44.5, 35, 4, "spine", "CORD_MARGIN_NARROW", C, CORD_SOURCES),
        # ... ample again at 8 months (25% recovered: 98 - 54.6 = 43.4 Gy2).
        (44.5, 35, 8, "spine", "CORD_MARGIN_AMPLE", I, CORD_SOURCES),
        # 45 Gy / 25 fx = 85.5 Gy2 at 6 months: 98 - 64.1 = 33.9 Gy2, narrow.
        (45.0, 25, 6, "spine", "CORD_MARGIN_NARROW", C, CORD_SOURCES),
        (None, 35, 14, "head_and_neck", "CORD_DOSE_NOT_RECORDED", I, "seed"),
        # In a vertebral recurrence the cord is in the field: an unknown margin is a caution.
        (None, 35, 14, "spine", "CORD_DOSE_NOT_RECORDED", C, "seed"),
    ],
)
def test_cord_margin_bands(cord, fractions, months, site, code, level, source):
    histology = {"spine": "renal cell carcinoma"}.get(site, "squamous cell carcinoma")
    intake = case(months, cord=cord, fractions=fractions, primary_site=site, histology=histology)
    flags = [f for f in triage(intake, TODAY) if f.code.startswith("CORD_")]
    assert [(f.code, f.level, f.source) for f in flags] == [(code, level, source)]
    if cord is not None:
        [flag] = flags
        assert "alpha/beta 2 Gy" in flag.message and "specialist recomputes" in flag.message


def test_a_narrow_cord_margin_qualifies_favourable_re_irradiation():
    """The issue's case: spine, cord in the prior field, little room left, was "info: below
    tolerance" beside "favourable: small volume favours SBRT/SRS"."""
    intake = case(4, cord=44.5, primary_site="spine", histology="renal cell carcinoma", sins=8)
    flags = {f.code: f for f in triage(intake, TODAY)}
    assert flags["CORD_MARGIN_NARROW"].level == C
    assert "about 25 Gy2 (EQD2 about 13 Gy) left" in flags["CORD_MARGIN_NARROW"].message
    small = flags["SMALL_VOLUME_FAVOURS_SBRT_SRS"]
    assert small.level == C and "CORD_MARGIN_NARROW" in small.qualified_by
    assert "narrow spinal cord margin" in small.message


def test_cord_margin_takes_the_smaller_of_nieder_and_recovery():
    # 40 Gy / 20 fx (80 Gy2) 26 months ago, then 20 Gy / 10 fx (40 Gy2).
    def two_courses(second_months_ago: int) -> CaseIntake:
        data = intake_data()
        first = data["clinical"]["prior_rt_courses"][0]
        first.update(fractions=20, completed_on=add_months(TODAY, -26).isoformat(),
                     oar_max_doses_gy={"spinal cord": 40})
        data["clinical"]["prior_rt_courses"].append({
            **first, "fractions": 10, "oar_max_doses_gy": {"cord": 20},
            "completed_on": add_months(TODAY, -second_months_ago).isoformat()})
        return CaseIntake.model_validate(data)

    # 12 months apart: 120 Gy2 in all, 15.5 Gy2 under 135.5 (recovery alone would allow 38).
    apart = cord_margin(two_courses(14), TODAY)
    assert apart is not None
    assert (apart.band, round(apart.prior_bed_gy2, 1), round(apart.remaining_bed_gy2, 1)) == (
        MarginBand.NARROW, 120.0, 15.5)
    # Under 6 months apart they count as one course of 120 Gy2, above 98 Gy2: none.
    close = cord_margin(two_courses(23), TODAY)
    assert close is not None and close.band == MarginBand.NONE and close.course_over_limit
    assert cumulative_cord_dmax_gy(two_courses(14)) == 60


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
                  biomarkers=["MSI-H"], lesion_count=7, recurrence_pattern="distant",
                  systemic_therapy_history=[{"agent_class": "checkpoint_inhibitor"}])
    flags = triage(intake, TODAY)
    documented = SOURCES_MD.read_text()
    assert flags
    for flag in flags:
        for source in flag.source.split("; "):
            assert f"| `{source}` |" in documented, (flag.code, source)
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


# -- reconciliation: no favourable flag stands beside a flag that argues against it ------------

# Written from the issue, by code, so the check does not lean on the flags' own tags: a
# favourable radiotherapy flag must not stand unqualified beside one of these.
RADIATION_FAVOURABLE = {"RT_FREE_INTERVAL_12_MONTHS_OR_MORE", "SMALL_VOLUME_FAVOURS_SBRT_SRS",
                        "OLIGOMETASTATIC", "NEW_SITES_OUTSIDE_PRIOR_FIELD"}
RADIATION_AGAINST = {"RT_FREE_INTERVAL_UNDER_3_MONTHS", "EXCEEDS_OLIGOMETASTATIC_THRESHOLD",
                     "DIFFUSE_LOCOREGIONAL", "CORD_MARGIN_NONE"}
BAND_MONTHS = [0, 2, 3, 5, 6, 11, 12, 60]  # both edges of every interval band
PATTERNS = ["local", "regional", "distant"]


@pytest.mark.parametrize(("months", "pattern"), list(itertools.product(BAND_MONTHS, PATTERNS)))
def test_no_favourable_flag_contradicts_another_in_any_band(months, pattern):
    grid = itertools.product(
        [1, 5, 6],  # lesion counts either side of the oligometastatic threshold
        [3.0, 5.0, 7.0],  # largest lesion either side of 5 cm
        [False, True],  # diffuse locoregional
        [None, (44.5, 35), (50.0, 25)],  # cord: not recorded, margin by interval, none
        [1, 3],  # ECOG
        [None, True, False],  # new sites outside the prior field: derive, yes, no
    )
    for lesions, size, diffuse, cord, ecog, outside in grid:
        dose, fractions = cord or (None, 35)
        extra: dict[str, Any] = (
            {} if outside is None else {"new_sites_outside_prior_field": outside})
        flags = triage(case(months, cord=dose, fractions=fractions, recurrence_pattern=pattern,
                            lesion_count=lesions, largest_lesion_cm=size,
                            diffuse_locoregional=diffuse, ecog=ecog, **extra), TODAY)
        where = (months, pattern, lesions, size, diffuse, cord, ecog, outside)
        by_code = {f.code: f for f in flags}
        against = {f.code for f in flags if f.level == A} & RADIATION_AGAINST
        favourable = {f.code for f in flags if f.level == F}
        assert not (against and favourable & RADIATION_FAVOURABLE), where
        for flag in flags:
            others = [f for f in flags if f is not flag]
            if flag.level == F:  # nothing else argues against or cautions what it favours
                opposed = {a for f in others for a in (*f.against, *f.cautions)}
                assert not opposed & set(flag.favours), (where, flag.code)
            if flag.withdrawn_by:
                assert flag.level == I and "Withdrawn: outweighed by" in flag.message, where
            if flag.qualified_by:
                assert flag.level == C and "Qualified by" in flag.message, where
            for code in (*flag.withdrawn_by, *flag.qualified_by):
                assert by_code[code].as_reason in flag.message, (where, flag.code, code)


@pytest.mark.parametrize(
    ("overrides", "code", "level", "by"),
    [
        # The pairs.
        ({"months_since_rt": 0}, "SMALL_VOLUME_FAVOURS_SBRT_SRS", I,
         ("RT_FREE_INTERVAL_UNDER_3_MONTHS",)),
        ({"recurrence_pattern": "distant", "lesion_count": 6}, "SMALL_VOLUME_FAVOURS_SBRT_SRS", I,
         ("EXCEEDS_OLIGOMETASTATIC_THRESHOLD",)),
        ({"recurrence_pattern": "distant", "lesion_count": 6}, "NEW_SITES_OUTSIDE_PRIOR_FIELD", I,
         ("EXCEEDS_OLIGOMETASTATIC_THRESHOLD",)),
        # New sites lie outside the prior field, so a short interval qualifies them (check the
        # cumulative dose, type 2) rather than withdrawing them.
        ({"months_since_rt": 1, "recurrence_pattern": "distant", "lesion_count": 3},
         "NEW_SITES_OUTSIDE_PRIOR_FIELD", C, ("RT_FREE_INTERVAL_UNDER_3_MONTHS",)),
        ({"months_since_rt": 60, "diffuse_locoregional": True},
         "RT_FREE_INTERVAL_12_MONTHS_OR_MORE", I, ("DIFFUSE_LOCOREGIONAL",)),
        ({"months_since_rt": 4}, "SMALL_VOLUME_FAVOURS_SBRT_SRS", C,
         ("RT_FREE_INTERVAL_3_TO_6_MONTHS",)),
        ({"recurrence_pattern": "distant", "lesion_count": 2, "largest_lesion_cm": 7.0},
         "OLIGOMETASTATIC", C, ("LESION_OVER_5_CM",)),
        ({"ecog": 3}, "SMALL_VOLUME_FAVOURS_SBRT_SRS", C, ("POOR_PERFORMANCE_STATUS",)),
        ({"cord": 50.0, "fractions": 25}, "SMALL_VOLUME_FAVOURS_SBRT_SRS", I,
         ("CORD_MARGIN_NONE",)),
        ({"cord": 50.0, "fractions": 25}, "RT_FREE_INTERVAL_12_MONTHS_OR_MORE", I,
         ("CORD_MARGIN_NONE",)),
        # BNCT bypasses the cumulative photon constraint [seed]: the cord does not outweigh it.
        ({"cord": 50.0, "fractions": 25}, "BNCT_CANDIDATE", F, ()),
        # Lu-PSMA bypasses previously irradiated tissue [seed]: the interval does not either.
        ({"months_since_rt": 0, "primary_site": "prostate", "histology": "adenocarcinoma",
          "biomarkers": ["PSMA+"]}, "PSMA_POSITIVE_LU_PSMA", F, ()),
        ({}, "SMALL_VOLUME_FAVOURS_SBRT_SRS", F, ()),
    ],
)
def test_favourable_flags_are_withdrawn_or_qualified_and_say_why(overrides, code, level, by):
    flags = {f.code: f for f in triage(case(**overrides), TODAY)}
    flag = flags[code]
    assert flag.level == level
    assert (flag.withdrawn_by if level == I else flag.qualified_by) == by
    for other in by:
        assert flags[other].as_reason in flag.message


def test_reconcile_withdraws_only_when_everything_favoured_is_argued_against():
    def flag(code, level, **stance):
        return TriageFlag(code=code, level=level, message=f"{code}.", source="seed",
                          as_reason=code.lower(), **stance)

    both = flag("BOTH", F, favours=(Approach.REIRRADIATION, Approach.SBRT_NEW_SITES))
    no_rt = flag("NO_RT", A, against=(Approach.REIRRADIATION,))
    unrelated = flag("BNCT", F, favours=(Approach.BNCT,))
    out = reconcile([both, no_rt, unrelated])
    assert [f.code for f in out] == ["BOTH", "NO_RT", "BNCT"]
    assert (out[0].level, out[0].qualified_by) == (C, ("NO_RT",))  # half opposed: qualified
    assert out[0].message == "BOTH. Qualified by no_rt."
    assert out[1:] == [no_rt, unrelated]
    no_sbrt = flag("NO_SBRT", A, against=(Approach.SBRT_NEW_SITES,))
    [withdrawn, *_] = reconcile([both, no_rt, no_sbrt])
    assert (withdrawn.level, withdrawn.withdrawn_by) == (I, ("NO_RT", "NO_SBRT"))
    assert withdrawn.message == "BOTH. Withdrawn: outweighed by no_rt and no_sbrt."


# -- overlap with the prior field, derived from the pattern [PMID 38859596] --------------------

@pytest.mark.parametrize(
    ("clinical", "new_sites", "reads"),
    [
        ({"recurrence_pattern": "local"}, False, "In-field recurrence: likely type 1"),
        # Regional nodes may or may not have been in the prior field: not "in-field".
        ({"recurrence_pattern": "regional"}, False, "whether it overlaps the prior field is "
         "not known"),
        ({"recurrence_pattern": "distant"}, True, "Recurrence beyond the prior field"),
        ({"recurrence_pattern": "local", "distant_metastases": True}, True,
         "in the prior field with new sites beyond it"),
        # An explicit answer wins.
        ({"recurrence_pattern": "distant", "new_sites_outside_prior_field": False}, False,
         "In-field recurrence: likely type 1"),
        ({"recurrence_pattern": "regional", "new_sites_outside_prior_field": True}, True,
         "Recurrence beyond the prior field"),
        ({"recurrence_pattern": "local", "new_sites_outside_prior_field": True}, True,
         "in the prior field with new sites beyond it"),
    ],
)
def test_overlap_with_the_prior_field_follows_the_pattern_unless_given(clinical, new_sites,
                                                                        reads):
    flags = {f.code: f for f in triage(case(**clinical), TODAY)}
    assert ("NEW_SITES_OUTSIDE_PRIOR_FIELD" in flags) is new_sites
    assert flags["ESTRO_EORTC_REIRRADIATION_TYPE"].message.startswith(reads) or \
        reads in flags["ESTRO_EORTC_REIRRADIATION_TYPE"].message
    assert flags["ESTRO_EORTC_REIRRADIATION_TYPE"].source == "PMID 38859596"


# -- biomarkers and systemic history [seed] ----------------------------------------------------

@pytest.mark.parametrize(
    ("clinical", "present", "absent"),
    [
        ({"primary_site": "prostate", "histology": "adenocarcinoma", "biomarkers": ["PSMA+"]},
         {"PSMA_POSITIVE_LU_PSMA": F, "PROSTATE_PSMA_OPTIONS": I}, set()),
        ({"primary_site": "prostate", "histology": "adenocarcinoma"},
         {"PROSTATE_PSMA_OPTIONS": I}, {"PSMA_POSITIVE_LU_PSMA"}),
        ({"primary_site": "lung", "histology": "adenocarcinoma", "biomarkers": ["PSMA+"]}, {},
         {"PSMA_POSITIVE_LU_PSMA"}),
        ({"systemic_therapy_history": [{"agent_class": "checkpoint_inhibitor",
                                        "agent": "pembrolizumab"}]},
         {"PRIOR_CHECKPOINT_INHIBITOR": I, "PRIOR_SYSTEMIC_LINES_TRIALS": I,
          "CHECKPOINT_INHIBITOR_HN_SCC": I}, {"PRIOR_TARGETED_AGENT"}),
        ({"primary_site": "lung", "histology": "adenocarcinoma", "biomarkers": ["EGFR"],
          "systemic_therapy_history": [{"agent_class": "targeted", "agent": "osimertinib",
                                        "started_on": "2025-02-01"}]},
         {"ACTIONABLE_TARGET": I, "PRIOR_TARGETED_AGENT": I, "PRIOR_SYSTEMIC_LINES_TRIALS": I},
         {"PRIOR_CHECKPOINT_INHIBITOR"}),
        ({"systemic_therapy_history": [{"agent_class": "targeted"}]},
         {"PRIOR_SYSTEMIC_LINES_TRIALS": I}, {"PRIOR_TARGETED_AGENT"}),
        ({}, {}, {"PRIOR_CHECKPOINT_INHIBITOR", "PRIOR_TARGETED_AGENT",
                  "PRIOR_SYSTEMIC_LINES_TRIALS"}),
    ],
)
def test_biomarkers_and_systemic_history_in_the_flags(clinical, present, absent):
    flags = levels(triage(case(**clinical), TODAY))
    for code, level in present.items():
        assert flags.get(code) == level, (code, flags)
    assert not absent & flags.keys()
