"""Triage: the advisory pre-screen of an intake, as flags with a level, a message and a source.

Decision support only; a qualified oncologist decides. Pure: `today` is passed in (in a workflow,
`workflow.now().date()`). Messages are fixed texts, so they never carry patient identifiers.
"""

import re
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from caseflow.intake import Biomarker, CaseIntake, PrimarySite, RecurrencePattern

SEED = "seed"
NIEDER_2006 = "PMID 17084560"
BNCT_TRIAL = "bnct-trial"
BNCT_JAPAN_APPROVAL = "PMC8265361"
ESTRO_EORTC_2022 = "PMID 38859596"

# Thresholds, each from the source named beside it.
INTERVAL_VERY_HIGH_RISK_MONTHS = 3  # seed
INTERVAL_MINIMUM_MONTHS = 6  # seed
INTERVAL_FAVOURABLE_MONTHS = 12  # seed
SBRT_MAX_LESION_CM = 5.0  # seed: lesions <= 5 cm favour SBRT/SRS
OLIGOMETASTATIC_MAX_LESIONS = 5  # seed: 1-5 new lesions
CORD_TOLERANCE_GY = 50.0  # seed: spinal cord Dmax ~50 Gy total
SINS_STABILISATION = 13  # seed: surgical stabilisation if SINS >= 13
BNCT_MIN_MONTHS = 3  # bnct-trial
BNCT_MAX_ECOG = 2  # bnct-trial
BNCT_MAX_TUMOUR_CM = 12.0  # bnct-trial

CORD_KEYS = frozenset({"spinal_cord", "cord"})


class TriageLevel(StrEnum):
    FAVOURABLE = "favourable"
    CAUTION = "caution"
    AGAINST = "against"
    INFO = "info"


class TriageFlag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    level: TriageLevel
    message: str
    source: str


def _flag(code: str, level: TriageLevel, message: str, source: str) -> TriageFlag:
    return TriageFlag(code=code, level=level, message=message, source=source)


# The seed's "Salvage options by tumour site" table, one line per site.
SALVAGE_OPTIONS: dict[PrimarySite, str] = {
    PrimarySite.HEAD_AND_NECK: "SBRT re-irradiation 20-24 Gy / 2-3 fx or SRS for small volume; "
    "salvage surgery; cetuximab; BNCT for diffuse or previously irradiated recurrence.",
    PrimarySite.BRAIN: "SRS 16-20 Gy single fraction or FSRT 25 Gy / 5 fx; re-resection; "
    "bevacizumab (GBM); BNCT for GBM recurrence.",
    PrimarySite.LUNG: "SBRT re-irradiation 40-50 Gy / 4-5 fx if lung volume allows; "
    "osimertinib or immunotherapy by mutation; trials, SBRT with immunotherapy.",
    PrimarySite.PROSTATE: "Salvage or PSMA-directed SBRT; salvage prostatectomy in select cases; "
    "ADT; Lu-177 PSMA radioligand therapy.",
    PrimarySite.SPINE: "Re-irradiation SBRT 20-24 Gy / 2-3 fx within the cumulative cord "
    "constraint; kyphoplasty or vertebroplasty; stabilisation if SINS >= 13.",
    PrimarySite.RECTAL_PELVIC: "Selective IMRT re-irradiation 30-39 Gy / 10-13 fx; exenteration "
    "for localised pelvic recurrence; IORT at specialist centres.",
    PrimarySite.CERVIX_UTERUS: "Brachytherapy re-implantation or SBRT for small local "
    "recurrence; pembrolizumab for MSI-H/PD-L1+; HIPEC for peritoneal recurrence.",
}

_SQUAMOUS = re.compile(r"squamous|\bscc\b", re.IGNORECASE)
_GBM = re.compile(r"glioblastoma|\bgbm\b", re.IGNORECASE)
# BNCT's case rests on prior *photon* RT; particle or neutron courses are not that.
_NOT_PHOTON = re.compile(r"proton|carbon|heavy.?ion|particle|bnct|neutron", re.IGNORECASE)


def triage(intake: CaseIntake, today: date) -> list[TriageFlag]:
    """All flags for an intake, in a fixed order (interval, volume, spread, targets, dose,
    BNCT, site, consensus)."""
    months = intake.rt_free_interval_months(today)
    return [
        *_interval_flags(months),
        *_volume_flags(intake),
        *_spread_flags(intake),
        *_target_flags(intake),
        *_cord_flags(intake),
        *_bnct_flags(intake, months),
        *_site_flags(intake),
        *_consensus_flags(intake),
    ]


def _interval_flags(months: int) -> list[TriageFlag]:
    # [seed] RT-free interval bands; whole calendar months since the latest course ended.
    if months < INTERVAL_VERY_HIGH_RISK_MONTHS:
        return [_flag("RT_FREE_INTERVAL_UNDER_3_MONTHS", TriageLevel.AGAINST,
                      "RT-free interval under 3 months: very high toxicity risk for "
                      "re-irradiation.", SEED)]
    if months < INTERVAL_MINIMUM_MONTHS:
        return [_flag("RT_FREE_INTERVAL_3_TO_6_MONTHS", TriageLevel.CAUTION,
                      "RT-free interval of 3 to 6 months: high toxicity risk; re-irradiation "
                      "needs conservative dose planning.", SEED)]
    if months < INTERVAL_FAVOURABLE_MONTHS:
        return [_flag("RT_FREE_INTERVAL_6_TO_12_MONTHS", TriageLevel.INFO,
                      "RT-free interval of 6 to 12 months: meets the minimum for safer "
                      "re-irradiation; longer intervals are safer.", SEED)]
    return [_flag("RT_FREE_INTERVAL_12_MONTHS_OR_MORE", TriageLevel.FAVOURABLE,
                  "RT-free interval of 12 months or more allows partial organ-at-risk recovery: "
                  "favourable for re-irradiation.", SEED)]


def _volume_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    flags = []
    if clinical.largest_lesion_cm > SBRT_MAX_LESION_CM:
        flags.append(_flag("LESION_OVER_5_CM", TriageLevel.CAUTION,
                           "Largest lesion over 5 cm: beyond the size where SBRT/SRS "
                           "re-irradiation is favoured.", SEED))
    elif not clinical.diffuse_locoregional:
        flags.append(_flag("SMALL_VOLUME_FAVOURS_SBRT_SRS", TriageLevel.FAVOURABLE,
                           "Small-volume recurrence (5 cm or less): SBRT/SRS re-irradiation "
                           "is favoured, within dosimetric constraints.", SEED))
    if clinical.diffuse_locoregional:
        flags.append(_flag("DIFFUSE_LOCOREGIONAL", TriageLevel.AGAINST,
                           "Diffuse locoregional recurrence: volume too large for focused "
                           "re-irradiation; systemic salvage is favoured.", SEED))
    return flags


def _spread_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    flags = []
    if clinical.has_distant_disease:
        if clinical.lesion_count > OLIGOMETASTATIC_MAX_LESIONS:
            flags.append(_flag("EXCEEDS_OLIGOMETASTATIC_THRESHOLD", TriageLevel.AGAINST,
                               "More than 5 lesions exceed the oligometastatic SBRT threshold "
                               "(1-5): systemic therapy is preferred.", SEED))
        else:
            flags.append(_flag("OLIGOMETASTATIC", TriageLevel.FAVOURABLE,
                               "Oligometastatic recurrence (1-5 lesions): SBRT to each lesion "
                               "can extend disease control, with systemic therapy.", SEED))
    if clinical.new_sites_outside_prior_field:
        flags.append(_flag("NEW_SITES_OUTSIDE_PRIOR_FIELD", TriageLevel.FAVOURABLE,
                           "New sites outside the prior field: full-dose SBRT remains open "
                           "there.", SEED))
    return flags


def _target_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    markers = set(clinical.biomarkers)
    flags = []
    if markers & {Biomarker.EGFR, Biomarker.ALK, Biomarker.ROS1, Biomarker.BRCA}:
        flags.append(_flag("ACTIONABLE_TARGET", TriageLevel.INFO,
                           "Actionable target reported (EGFR, ALK/ROS1 fusion or BRCA): "
                           "targeted agents offer durable disease control.", SEED))
    if markers & {Biomarker.MSI_H, Biomarker.DMMR}:
        flags.append(_flag("CHECKPOINT_INHIBITOR_MSI_H_DMMR", TriageLevel.INFO,
                           "MSI-H/dMMR: checkpoint inhibitors are active regardless of site.",
                           SEED))
    if (Biomarker.PD_L1_POSITIVE in markers
            and clinical.primary_site == PrimarySite.CERVIX_UTERUS):
        flags.append(_flag("CHECKPOINT_INHIBITOR_PD_L1_CERVICAL", TriageLevel.INFO,
                           "PD-L1+ recurrent cervical cancer: pembrolizumab is an option.", SEED))
    if (clinical.primary_site == PrimarySite.HEAD_AND_NECK
            and _SQUAMOUS.search(clinical.histology)):
        flags.append(_flag("CHECKPOINT_INHIBITOR_HN_SCC", TriageLevel.INFO,
                           "Recurrent/metastatic head and neck SCC: checkpoint inhibitors "
                           "(pembrolizumab, nivolumab) have established activity.", SEED))
    return flags


def cumulative_cord_dmax_gy(intake: CaseIntake) -> float | None:
    """Spinal cord Dmax summed over prior courses (None if no course reports it).

    Summing maxima is conservative: the hot spots of two plans may not coincide.
    """
    doses = [
        dose
        for course in intake.clinical.prior_rt_courses
        for organ, dose in course.oar_max_doses_gy.items()
        if organ in CORD_KEYS
    ]
    return sum(doses) if doses else None


def _cord_flags(intake: CaseIntake) -> list[TriageFlag]:
    cord = cumulative_cord_dmax_gy(intake)
    if cord is None:
        if intake.clinical.primary_site in (PrimarySite.SPINE, PrimarySite.HEAD_AND_NECK):
            return [_flag("CORD_DOSE_NOT_RECORDED", TriageLevel.INFO,
                          "No prior spinal cord dose recorded: prior dosimetry is mandatory to "
                          "plan re-irradiation near the cord.", SEED)]
        return []
    if cord >= CORD_TOLERANCE_GY:
        return [_flag("CORD_DOSE_AT_TOLERANCE", TriageLevel.AGAINST,
                      "Cumulative spinal cord Dmax already at tolerance (about 50 Gy): further "
                      "RT near the cord carries unacceptable risk.", SEED)]
    return [_flag("CORD_DOSE_BELOW_TOLERANCE", TriageLevel.INFO,
                  "Cumulative spinal cord Dmax below about 50 Gy. With an interval of 6 months "
                  "or more and each course at most 98 Gy2, myelopathy risk stays small up to a "
                  "cumulative BED of 135.5 Gy2.", NIEDER_2006)]


def _bnct_site(intake: CaseIntake) -> bool:
    clinical = intake.clinical
    if clinical.primary_site == PrimarySite.HEAD_AND_NECK:
        return True
    return clinical.primary_site == PrimarySite.BRAIN and bool(_GBM.search(clinical.histology))


def _bnct_flags(intake: CaseIntake, months: int) -> list[TriageFlag]:
    clinical = intake.clinical
    had_photon = any(not _NOT_PHOTON.search(c.technique) for c in clinical.prior_rt_courses)
    if not (_bnct_site(intake) and had_photon):
        return []
    unmet = []
    if months < BNCT_MIN_MONTHS:
        unmet.append("under 3 months since RT")
    if clinical.ecog > BNCT_MAX_ECOG:
        unmet.append("ECOG above 2")
    if clinical.largest_lesion_cm > BNCT_MAX_TUMOUR_CM:
        unmet.append("tumour over 12 cm")
    if clinical.has_distant_disease:
        unmet.append("distant metastases")
    flags = []
    if unmet:
        flags.append(_flag("BNCT_CRITERIA_NOT_MET", TriageLevel.CAUTION,
                           "BNCT suits recurrence after photon RT, but trial entry criteria are "
                           "not met: " + ", ".join(unmet) + ".", BNCT_TRIAL))
    else:
        flags.append(_flag("BNCT_CANDIDATE", TriageLevel.FAVOURABLE,
                           "BNCT candidate after prior photon RT: trial entry criteria met (3+ "
                           "months since RT, ECOG 0-2, tumour 12 cm or less, no distant "
                           "metastases). The centre may ask for a boron PET with T/N ratio "
                           "above 2.5.", BNCT_TRIAL))
    if (clinical.primary_site == PrimarySite.HEAD_AND_NECK
            and clinical.recurrence_pattern == RecurrencePattern.LOCAL
            and _SQUAMOUS.search(clinical.histology)):
        flags.append(_flag("BNCT_APPROVED_HN_SCC", TriageLevel.INFO,
                           "BNCT was approved in Japan in 2020 for unresectable locally "
                           "recurrent head and neck SCC.", BNCT_JAPAN_APPROVAL))
    return flags


def _site_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    site = clinical.primary_site
    flags = []
    if site == PrimarySite.SPINE:
        if clinical.sins is None:
            flags.append(_flag("SINS_MISSING", TriageLevel.INFO,
                               "No SINS given: spinal stability must be scored before "
                               "re-irradiation.", SEED))
        elif clinical.sins >= SINS_STABILISATION:
            flags.append(_flag("SINS_SURGICAL_STABILISATION", TriageLevel.CAUTION,
                               "SINS 13 or more: surgical stabilisation should be considered.",
                               SEED))
    if site == PrimarySite.PROSTATE:
        flags.append(_flag("PROSTATE_PSMA_OPTIONS", TriageLevel.INFO,
                           "Prostate recurrence after RT: PSMA-directed SBRT, or Lu-177 PSMA "
                           "radioligand therapy (available in India and China).", SEED))
    if site == PrimarySite.LIVER:
        flags.append(_flag("LIVER_Y90_TARE", TriageLevel.INFO,
                           "Liver recurrence: Y-90 TARE is an option.", SEED))
    if site in SALVAGE_OPTIONS:
        flags.append(_flag("SITE_SALVAGE_OPTIONS", TriageLevel.INFO, SALVAGE_OPTIONS[site], SEED))
    return flags


def _consensus_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    flags = []
    if clinical.ecog >= 3:
        flags.append(_flag("POOR_PERFORMANCE_STATUS", TriageLevel.CAUTION,
                           "ECOG 3-4: performance status and expected survival weigh against "
                           "aggressive re-irradiation.", ESTRO_EORTC_2022))
    in_field = (clinical.recurrence_pattern != RecurrencePattern.DISTANT
                and not clinical.new_sites_outside_prior_field)
    flags.append(_flag(
        "ESTRO_EORTC_REIRRADIATION_TYPE", TriageLevel.INFO,
        ("In-field recurrence: likely type 1 re-irradiation (overlapping volumes)."
         if in_field else
         "Recurrence beyond the prior field: check for type 2 re-irradiation (cumulative dose "
         "concern without overlap).")
        + " Performance status, expected survival and response to the first course weigh in.",
        ESTRO_EORTC_2022,
    ))
    return flags
