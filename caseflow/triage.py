"""Triage: the advisory pre-screen of an intake, as flags with a level, a message and a source.

Decision support only; a qualified oncologist decides. Pure: `today` is passed in (in a workflow,
`workflow.now().date()`). Messages are fixed texts, plus doses computed from the intake's numbers,
so they never carry patient identifiers or free text.

Each flag names the approaches it argues for (`favours`), against (`against`) or urges caution
on (`cautions`). One pass at the end (`reconcile`) keeps the flags from contradicting each other:
a favourable flag is withdrawn when another flag argues against everything it favours, and
qualified (level caution) when another flag argues against or urges caution on part of it; either
way its message says which flag outweighs it.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from caseflow.intake import (
    Biomarker,
    CaseIntake,
    PrimarySite,
    PriorRtCourse,
    RecurrencePattern,
    SystemicAgentClass,
    whole_months_between,
)

SEED = "seed"
NIEDER_2006 = "PMID 17084560"
CORD_RECOVERY_2021 = "doi 10.1007/s00066-021-01772-7"
BNCT_TRIAL = "bnct-trial"
BNCT_JAPAN_APPROVAL = "PMC8265361"
ESTRO_EORTC_2022 = "PMID 38859596"

# Thresholds, each from the source named beside it.
INTERVAL_VERY_HIGH_RISK_MONTHS = 3  # seed
INTERVAL_MINIMUM_MONTHS = 6  # seed
INTERVAL_FAVOURABLE_MONTHS = 12  # seed
SBRT_MAX_LESION_CM = 5.0  # seed: lesions <= 5 cm favour SBRT/SRS
OLIGOMETASTATIC_MAX_LESIONS = 5  # seed: 1-5 new lesions
SINS_STABILISATION = 13  # seed: surgical stabilisation if SINS >= 13
BNCT_MIN_MONTHS = 3  # bnct-trial
BNCT_MAX_ECOG = 2  # bnct-trial
BNCT_MAX_TUMOUR_CM = 12.0  # bnct-trial

# Spinal cord tolerance, in BED at alpha/beta = 2 Gy ("Gy2"), the unit Nieder 2006 uses.
CORD_ALPHA_BETA_GY = 2.0  # assumption stated in every cord message; the usual value for cord
# [PMID 17084560] each course <= 98 Gy2. The seed's "Dmax ~50 Gy total" is the same tolerance
# (50 Gy in 2 Gy fractions is 100 Gy2), so a course above 98 Gy2 leaves the cord at tolerance.
CORD_COURSE_LIMIT_GY2 = 98.0
# [PMID 17084560] with >= 6 months between courses, risk stays small up to 135.5 Gy2 cumulative.
CORD_CUMULATIVE_LIMIT_GY2 = 135.5
CORD_COURSE_GAP_MONTHS = 6  # [PMID 17084560]; closer courses count as one course
# [doi 10.1007/s00066-021-01772-7] recovery of the prior cord dose: about 25% at 6 months and
# 50% at 12 months; none is credited before 6 months and no more than 50% later.
CORD_RECOVERY_BY_MONTHS = ((12, 0.50), (6, 0.25))
# Narrow: less room than Nieder's limits leave after a first course at the per-course limit
# (135.5 - 98 = 37.5 Gy2), i.e. less than the least a re-irradiation in that series could get.
CORD_NARROW_BELOW_GY2 = CORD_CUMULATIVE_LIMIT_GY2 - CORD_COURSE_LIMIT_GY2

CORD_KEYS = frozenset({"spinal_cord", "cord"})


class TriageLevel(StrEnum):
    FAVOURABLE = "favourable"
    CAUTION = "caution"
    AGAINST = "against"
    INFO = "info"


class Approach(StrEnum):
    """What a flag argues for or against; the unit `reconcile` compares flags by."""

    REIRRADIATION = "reirradiation"  # photon re-RT of the prior field (SBRT/SRS, IMRT re-RT)
    SBRT_NEW_SITES = "sbrt_new_sites"  # full-dose SBRT to sites outside the prior field
    BNCT = "bnct"
    RADIOLIGAND = "radioligand"  # Lu-177 PSMA
    SYSTEMIC = "systemic"  # targeted agents, checkpoint inhibitors, chemotherapy


def N_(message: str) -> str:
    """Marks a name for the letter's catalogue (`make messages`); the letter translates it."""
    return message


class Phrase(BaseModel):
    """One sentence of a flag as the letter's catalogue knows it: a message with %(name)s
    parameters (numbers, in any language's digits), and `reasons`, names of other flags or
    unmet criteria, each translated and listed in the reader's language. The letter writes a
    flag in every language from its phrases; `english()` is the message the CLI and console show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    params: dict[str, str] = {}
    reasons: tuple[str, ...] = ()

    def english(self) -> str:
        values = dict(self.params)
        if self.reasons:
            values["reasons"] = english_list(self.reasons)
        return self.text % values if values else self.text


def phrase(text: str, *, reasons: Sequence[str] = (), **params: str) -> Phrase:
    """A Phrase; also the keyword `make messages` extracts the text by."""
    return Phrase(text=text, params=params, reasons=tuple(reasons))


def english_list(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class TriageFlag(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    level: TriageLevel
    message: str
    source: str
    # The message as the catalogue knows it, for the letter's other languages.
    phrases: tuple[Phrase, ...] = ()
    favours: tuple[Approach, ...] = ()
    against: tuple[Approach, ...] = ()
    cautions: tuple[Approach, ...] = ()
    # How this flag is named when it outweighs another ("more than 5 lesions").
    as_reason: str = ""
    # Codes of the flags that withdrew or qualified this one (reconcile sets them).
    withdrawn_by: tuple[str, ...] = ()
    qualified_by: tuple[str, ...] = ()


def _flag(code: str, level: TriageLevel, message: str | Sequence[Phrase], source: str, *,
          favours: Iterable[Approach] = (), against: Iterable[Approach] = (),
          cautions: Iterable[Approach] = (), as_reason: str = "") -> TriageFlag:
    phrases = (phrase(message),) if isinstance(message, str) else tuple(message)
    return TriageFlag(code=code, level=level, message=" ".join(p.english() for p in phrases),
                      source=source, phrases=phrases, favours=tuple(favours),
                      against=tuple(against), cautions=tuple(cautions), as_reason=as_reason)


REIRRADIATION = Approach.REIRRADIATION
SBRT_NEW_SITES = Approach.SBRT_NEW_SITES
SYSTEMIC = Approach.SYSTEMIC


# The seed's "Salvage options by tumour site" table, one line per site.
SALVAGE_OPTIONS: dict[PrimarySite, str] = {
    PrimarySite.HEAD_AND_NECK: N_("SBRT re-irradiation 20-24 Gy / 2-3 fx or SRS for small volume; "
    "salvage surgery; cetuximab; BNCT for diffuse or previously irradiated recurrence."),
    PrimarySite.BRAIN: N_("SRS 16-20 Gy single fraction or FSRT 25 Gy / 5 fx; re-resection; "
    "bevacizumab (GBM); BNCT for GBM recurrence."),
    PrimarySite.LUNG: N_("SBRT re-irradiation 40-50 Gy / 4-5 fx if lung volume allows; "
    "osimertinib or immunotherapy by mutation; trials, SBRT with immunotherapy."),
    PrimarySite.PROSTATE: N_("Salvage or PSMA-directed SBRT; salvage prostatectomy in select "
    "cases; ADT; Lu-177 PSMA radioligand therapy."),
    PrimarySite.SPINE: N_("Re-irradiation SBRT 20-24 Gy / 2-3 fx within the cumulative cord "
    "constraint; kyphoplasty or vertebroplasty; stabilisation if SINS >= 13."),
    PrimarySite.RECTAL_PELVIC: N_("Selective IMRT re-irradiation 30-39 Gy / 10-13 fx; exenteration "
    "for localised pelvic recurrence; IORT at specialist centres."),
    PrimarySite.CERVIX_UTERUS: N_("Brachytherapy re-implantation or SBRT for small local "
    "recurrence; pembrolizumab for MSI-H/PD-L1+; HIPEC for peritoneal recurrence."),
}

_SQUAMOUS = re.compile(r"squamous|\bscc\b", re.IGNORECASE)
_GBM = re.compile(r"glioblastoma|\bgbm\b", re.IGNORECASE)
# BNCT's case rests on prior *photon* RT; particle or neutron courses are not that.
_NOT_PHOTON = re.compile(r"proton|carbon|heavy.?ion|particle|bnct|neutron", re.IGNORECASE)


def triage(intake: CaseIntake, today: date) -> list[TriageFlag]:
    """All flags for an intake, in a fixed order (interval, volume, spread, targets, systemic
    history, dose, BNCT, site, consensus), reconciled so none contradicts another."""
    months = intake.rt_free_interval_months(today)
    return reconcile([
        *_interval_flags(months),
        *_volume_flags(intake),
        *_spread_flags(intake),
        *_target_flags(intake),
        *_history_flags(intake),
        *_cord_flags(intake, today),
        *_bnct_flags(intake, months),
        *_site_flags(intake),
        *_consensus_flags(intake),
    ])


def reconcile(flags: list[TriageFlag]) -> list[TriageFlag]:
    """Withdraw or qualify each favourable flag that another flag argues against.

    The one rule: a favourable flag is withdrawn (level info) when other flags argue against
    every approach it favours, and qualified (level caution) when another flag argues against,
    or urges caution on, any approach it favours. Its message then names the flags that
    outweigh it, so a reader sees why. Other flags pass unchanged, in the same order.
    """
    reconciled = []
    for flag in flags:
        if flag.level != TriageLevel.FAVOURABLE or not flag.favours:
            reconciled.append(flag)
            continue
        favours = set(flag.favours)
        others = [f for f in flags if f is not flag]
        opposed = {a for f in others for a in f.against} & favours
        against = [f for f in others if favours & set(f.against)]
        cautions = [f for f in others if favours & set(f.cautions) and f not in against]
        if against and opposed == favours:
            why = phrase("Withdrawn: outweighed by %(reasons)s.", reasons=_reasons(against))
            reconciled.append(flag.model_copy(update={
                "level": TriageLevel.INFO,
                "message": f"{flag.message} {why.english()}",
                "phrases": (*flag.phrases, why),
                "withdrawn_by": tuple(f.code for f in against),
            }))
        elif against or cautions:
            by = against + cautions
            why = phrase("Qualified by %(reasons)s.", reasons=_reasons(by))
            reconciled.append(flag.model_copy(update={
                "level": TriageLevel.CAUTION,
                "message": f"{flag.message} {why.english()}",
                "phrases": (*flag.phrases, why),
                "qualified_by": tuple(f.code for f in by),
            }))
        else:
            reconciled.append(flag)
    return reconciled


def _reasons(flags: list[TriageFlag]) -> list[str]:
    return [f.as_reason or f.code for f in flags]


def _interval_flags(months: int) -> list[TriageFlag]:
    # [seed] RT-free interval bands; whole calendar months since the latest course ended. The
    # interval is about tissue the prior field reached; at new sites it still asks for a check
    # of the cumulative dose to organs at risk both fields reach (type 2) [PMID 38859596].
    if months < INTERVAL_VERY_HIGH_RISK_MONTHS:
        return [_flag("RT_FREE_INTERVAL_UNDER_3_MONTHS", TriageLevel.AGAINST,
                      "RT-free interval under 3 months: very high toxicity risk for "
                      "re-irradiation.", SEED, against=[REIRRADIATION],
                      cautions=[SBRT_NEW_SITES],
                      as_reason=N_("the RT-free interval under 3 months"))]
    if months < INTERVAL_MINIMUM_MONTHS:
        return [_flag("RT_FREE_INTERVAL_3_TO_6_MONTHS", TriageLevel.CAUTION,
                      "RT-free interval of 3 to 6 months: high toxicity risk; re-irradiation "
                      "needs conservative dose planning.", SEED, cautions=[REIRRADIATION],
                      as_reason=N_("the RT-free interval of 3 to 6 months (conservative "
                      "planning)"))]
    if months < INTERVAL_FAVOURABLE_MONTHS:
        return [_flag("RT_FREE_INTERVAL_6_TO_12_MONTHS", TriageLevel.INFO,
                      "RT-free interval of 6 to 12 months: meets the minimum for safer "
                      "re-irradiation; longer intervals are safer.", SEED)]
    return [_flag("RT_FREE_INTERVAL_12_MONTHS_OR_MORE", TriageLevel.FAVOURABLE,
                  "RT-free interval of 12 months or more allows partial organ-at-risk recovery: "
                  "favourable for re-irradiation.", SEED, favours=[REIRRADIATION])]


def _volume_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    flags = []
    if clinical.largest_lesion_cm > SBRT_MAX_LESION_CM:
        flags.append(_flag("LESION_OVER_5_CM", TriageLevel.CAUTION,
                           "Largest lesion over 5 cm: beyond the size where SBRT/SRS "
                           "re-irradiation is favoured.", SEED,
                           cautions=[REIRRADIATION, SBRT_NEW_SITES],
                           as_reason=N_("the largest lesion over 5 cm")))
    elif not clinical.diffuse_locoregional:
        # [seed, "Favour re-irradiation when"] small-volume, localised recurrence.
        flags.append(_flag("SMALL_VOLUME_FAVOURS_SBRT_SRS", TriageLevel.FAVOURABLE,
                           "Small-volume recurrence (5 cm or less): SBRT/SRS re-irradiation "
                           "is favoured, within dosimetric constraints.", SEED,
                           favours=[REIRRADIATION]))
    if clinical.diffuse_locoregional:
        flags.append(_flag("DIFFUSE_LOCOREGIONAL", TriageLevel.AGAINST,
                           "Diffuse locoregional recurrence: volume too large for focused "
                           "re-irradiation; systemic salvage is favoured.", SEED,
                           favours=[SYSTEMIC], against=[REIRRADIATION],
                           # Systemic therapy addresses spread disease [seed]; SBRT to new
                           # sites leaves it untreated, so it is qualified, not withdrawn.
                           cautions=[SBRT_NEW_SITES],
                           as_reason=N_("the diffuse locoregional recurrence")))
    return flags


def _spread_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    flags = []
    if clinical.has_distant_disease:
        if clinical.lesion_count > OLIGOMETASTATIC_MAX_LESIONS:
            flags.append(_flag("EXCEEDS_OLIGOMETASTATIC_THRESHOLD", TriageLevel.AGAINST,
                               "More than 5 lesions exceed the oligometastatic SBRT threshold "
                               "(1-5): systemic therapy is preferred.", SEED,
                               favours=[SYSTEMIC], against=[REIRRADIATION, SBRT_NEW_SITES],
                               as_reason=N_("more than 5 lesions (beyond the oligometastatic "
                               "threshold)")))
        else:
            flags.append(_flag("OLIGOMETASTATIC", TriageLevel.FAVOURABLE,
                               "Oligometastatic recurrence (1-5 lesions): SBRT to each lesion "
                               "can extend disease control, with systemic therapy.", SEED,
                               favours=[SBRT_NEW_SITES]))
    # Explicit, or derived from the pattern (distant sites lie outside the prior field).
    if clinical.outside_prior_field:
        flags.append(_flag("NEW_SITES_OUTSIDE_PRIOR_FIELD", TriageLevel.FAVOURABLE,
                           "New sites outside the prior field: full-dose SBRT remains open "
                           "there.", SEED, favours=[SBRT_NEW_SITES]))
    return flags


def _target_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    markers = set(clinical.biomarkers)
    flags = []
    if markers & {Biomarker.EGFR, Biomarker.ALK, Biomarker.ROS1, Biomarker.BRCA}:
        flags.append(_flag("ACTIONABLE_TARGET", TriageLevel.INFO,
                           "Actionable target reported (EGFR, ALK/ROS1 fusion or BRCA): "
                           "targeted agents offer durable disease control.", SEED,
                           favours=[SYSTEMIC]))
    if markers & {Biomarker.MSI_H, Biomarker.DMMR}:
        flags.append(_flag("CHECKPOINT_INHIBITOR_MSI_H_DMMR", TriageLevel.INFO,
                           "MSI-H/dMMR: checkpoint inhibitors are active regardless of site.",
                           SEED, favours=[SYSTEMIC]))
    if (Biomarker.PD_L1_POSITIVE in markers
            and clinical.primary_site == PrimarySite.CERVIX_UTERUS):
        flags.append(_flag("CHECKPOINT_INHIBITOR_PD_L1_CERVICAL", TriageLevel.INFO,
                           "PD-L1+ recurrent cervical cancer: pembrolizumab is an option.", SEED,
                           favours=[SYSTEMIC]))
    if (clinical.primary_site == PrimarySite.HEAD_AND_NECK
            and _SQUAMOUS.search(clinical.histology)):
        flags.append(_flag("CHECKPOINT_INHIBITOR_HN_SCC", TriageLevel.INFO,
                           "Recurrent/metastatic head and neck SCC: checkpoint inhibitors "
                           "(pembrolizumab, nivolumab) have established activity.", SEED,
                           favours=[SYSTEMIC]))
    if Biomarker.PSMA_POSITIVE in markers and clinical.primary_site == PrimarySite.PROSTATE:
        # [seed, "Radioligand therapy"] Lu-PSMA reaches PSMA-expressing metastases and
        # bypasses previously irradiated tissue, so no re-irradiation flag outweighs it.
        flags.append(_flag("PSMA_POSITIVE_LU_PSMA", TriageLevel.FAVOURABLE,
                           "PSMA-expressing prostate recurrence: Lu-177 PSMA radioligand "
                           "therapy treats PSMA-expressing metastases while bypassing previously "
                           "irradiated tissue (available in India and China).", SEED,
                           favours=[Approach.RADIOLIGAND]))
    return flags


def _history_flags(intake: CaseIntake) -> list[TriageFlag]:
    clinical = intake.clinical
    classes = {line.agent_class for line in clinical.systemic_therapy_history}
    flags = []
    if SystemicAgentClass.CHECKPOINT_INHIBITOR in classes:
        flags.append(_flag("PRIOR_CHECKPOINT_INHIBITOR", TriageLevel.INFO,
                           "A checkpoint inhibitor is already in the systemic history: any "
                           "checkpoint-inhibitor option above may have been used; rechallenge, "
                           "combination with SBRT or a next-generation checkpoint trial is the "
                           "specialist's call.", SEED))
    if (SystemicAgentClass.TARGETED in classes and set(clinical.biomarkers)
            & {Biomarker.EGFR, Biomarker.ALK, Biomarker.ROS1, Biomarker.BRCA}):
        flags.append(_flag("PRIOR_TARGETED_AGENT", TriageLevel.INFO,
                           "A targeted agent is already in the systemic history: the targeted "
                           "option for the reported target may be in use or exhausted.", SEED))
    if classes:
        # [seed, "Clinical trial access"] recurrence after prior lines of therapy.
        flags.append(_flag("PRIOR_SYSTEMIC_LINES_TRIALS", TriageLevel.INFO,
                           "Recurrence after prior lines of systemic therapy: the primary "
                           "population for investigational trials; trial matching applies.",
                           SEED))
    return flags


def cumulative_cord_dmax_gy(intake: CaseIntake) -> float | None:
    """Spinal cord Dmax summed over prior courses (None if no course reports it).

    Summing maxima is conservative: the hot spots of two plans may not coincide.
    """
    doses = [d for d in (_course_cord_gy(c) for c in intake.clinical.prior_rt_courses)
             if d is not None]
    return sum(doses) if doses else None


def _course_cord_gy(course: PriorRtCourse) -> float | None:
    doses = [dose for organ, dose in course.oar_max_doses_gy.items() if organ in CORD_KEYS]
    return max(doses) if doses else None


def cord_bed_gy2(dose_gy: float, fractions: int) -> float:
    """BED at alpha/beta 2 Gy, taking the course's fraction count for the cord's Dmax."""
    return dose_gy * (1 + dose_gy / fractions / CORD_ALPHA_BETA_GY)


class MarginBand(StrEnum):
    AMPLE = "ample"
    NARROW = "narrow"
    NONE = "none"


class CordMargin(BaseModel):
    """The room left under the spinal cord's cumulative tolerance, in Gy2 (BED, alpha/beta 2).

    An estimate for the pre-screen; the specialist recomputes it from the dose plans.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    prior_bed_gy2: float
    remaining_bed_gy2: float
    band: MarginBand
    course_over_limit: bool  # a prior course (or courses under 6 months apart) above 98 Gy2


def cord_margin(intake: CaseIntake, today: date) -> CordMargin | None:
    """Remaining cord margin from the prior courses' cord Dmax; None if none reports it.

    Assumptions, each conservative: every course's cord Dmax falls on the same voxel (summed);
    the cord received it over the course's fractions; a course started about fractions/5 weeks
    before it ended. Two limits must both hold, and the smaller room counts:
    - [PMID 17084560] courses under 6 months apart count as one course of at most 98 Gy2;
      with 6 months or more between them, the cumulative BED stays within 135.5 Gy2;
    - [doi 10.1007/s00066-021-01772-7] each prior course's BED, less the recovery its interval
      earns (25% from 6 months, 50% from 12), plus the new course stays within 98 Gy2.
    """
    courses = sorted(
        ((course, dose) for course in intake.clinical.prior_rt_courses
         if (dose := _course_cord_gy(course)) is not None),
        key=lambda pair: pair[0].completed_on,
    )
    if not courses:
        return None
    groups: list[float] = []  # BED of courses under 6 months apart, merged
    previous_end: date | None = None
    remembered = 0.0  # prior BED less recovery
    for course, dose in courses:
        bed = cord_bed_gy2(dose, course.fractions)
        started = course.completed_on - timedelta(weeks=-(-course.fractions // 5))
        if previous_end is not None and (
                whole_months_between(previous_end, started) < CORD_COURSE_GAP_MONTHS):
            groups[-1] += bed
        else:
            groups.append(bed)
        previous_end = course.completed_on
        remembered += bed * (1 - _cord_recovery(whole_months_between(course.completed_on, today)))
    prior = sum(groups)
    since_latest = whole_months_between(courses[-1][0].completed_on, today)
    joins_latest = since_latest < CORD_COURSE_GAP_MONTHS
    nieder = min(CORD_CUMULATIVE_LIMIT_GY2 - prior,
                 CORD_COURSE_LIMIT_GY2 - (groups[-1] if joins_latest else 0.0))
    recovery = CORD_COURSE_LIMIT_GY2 - remembered
    remaining = max(0.0, min(nieder, recovery))
    over = any(bed > CORD_COURSE_LIMIT_GY2 for bed in groups)
    if over or remaining <= 0:
        band = MarginBand.NONE
    elif remaining < CORD_NARROW_BELOW_GY2:
        band = MarginBand.NARROW
    else:
        band = MarginBand.AMPLE
    return CordMargin(prior_bed_gy2=prior, remaining_bed_gy2=0.0 if over else remaining,
                      band=band, course_over_limit=over)


def _cord_recovery(months: int) -> float:
    return next((share for after, share in CORD_RECOVERY_BY_MONTHS if months >= after), 0.0)


_CORD_ASSUMPTION = N_("Estimated at alpha/beta 2 Gy from each course's cord Dmax and fractions; "
                    "the specialist recomputes it from the dose plans.")
_CORD_SOURCES = f"{NIEDER_2006}; {CORD_RECOVERY_2021}"


def _cord_flags(intake: CaseIntake, today: date) -> list[TriageFlag]:
    site = intake.clinical.primary_site
    margin = cord_margin(intake, today)
    if margin is None:
        if site == PrimarySite.SPINE:
            # The cord lies in any vertebral field: no recorded dose means no known margin
            # [seed:FAQ-workup: without prior dosimetry, safe planning is not possible].
            return [_flag("CORD_DOSE_NOT_RECORDED", TriageLevel.CAUTION,
                          "No prior spinal cord dose recorded for a vertebral recurrence: the "
                          "margin under the cord's cumulative tolerance is unknown until the "
                          "prior dose plan is reviewed.", SEED, cautions=[REIRRADIATION],
                          as_reason=N_("no recorded prior cord dose"))]
        if site == PrimarySite.HEAD_AND_NECK:
            return [_flag("CORD_DOSE_NOT_RECORDED", TriageLevel.INFO,
                          "No prior spinal cord dose recorded: prior dosimetry is mandatory to "
                          "plan re-irradiation near the cord.", SEED)]
        return []
    # Numbers as parameters, so each language's catalogue writes the sentence around them.
    doses = {"prior": f"{margin.prior_bed_gy2:.0f}", "left": f"{margin.remaining_bed_gy2:.0f}",
             "left_eqd2": f"{margin.remaining_bed_gy2 / 2:.0f}"}
    assumption = phrase(_CORD_ASSUMPTION)
    if margin.band == MarginBand.NONE:
        reached = (
            phrase("Spinal cord at its cumulative tolerance (prior cord BED about %(prior)s Gy2: "
                   "a prior course above the per-course 98 Gy2, the seed's ~50 Gy): further RT "
                   "near the cord carries unacceptable risk.", **doses)
            if margin.course_over_limit else
            phrase("Spinal cord at its cumulative tolerance (prior cord BED about %(prior)s Gy2: "
                   "the cumulative limit of 135.5 Gy2, 98 Gy2 for courses under 6 months apart, "
                   "less recovery, reached): further RT near the cord carries unacceptable "
                   "risk.", **doses)
        )
        return [_flag("CORD_MARGIN_NONE", TriageLevel.AGAINST, [reached, assumption],
                      f"{SEED}; {_CORD_SOURCES}", against=[REIRRADIATION],
                      cautions=[SBRT_NEW_SITES],
                      as_reason=N_("no margin left for the spinal cord"))]
    if margin.band == MarginBand.NARROW:
        narrow = phrase("Narrow spinal cord margin: about %(left)s Gy2 (EQD2 about %(left_eqd2)s "
                        "Gy) left under the cumulative tolerance (prior cord BED about %(prior)s "
                        "Gy2), less than the 37.5 Gy2 left after a course at 98 Gy2. "
                        "Re-irradiation near the cord needs a cord-sparing plan.", **doses)
        return [_flag("CORD_MARGIN_NARROW", TriageLevel.CAUTION, [narrow, assumption],
                      _CORD_SOURCES, cautions=[REIRRADIATION],
                      as_reason=N_("the narrow spinal cord margin"))]
    ample = phrase("Spinal cord margin: about %(left)s Gy2 (EQD2 about %(left_eqd2)s Gy) left "
                   "under the cumulative tolerance (prior cord BED about %(prior)s Gy2). Risk "
                   "stays small up to 135.5 Gy2 cumulative with each course at most 98 Gy2 and "
                   "6 months or more between; the cord recovers about 25%% by 6 months and 50%% "
                   "by 12.", **doses)
    return [_flag("CORD_MARGIN_AMPLE", TriageLevel.INFO, [ample, assumption], _CORD_SOURCES)]


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
        unmet.append(N_("under 3 months since RT"))
    if clinical.ecog > BNCT_MAX_ECOG:
        unmet.append(N_("ECOG above 2"))
    if clinical.largest_lesion_cm > BNCT_MAX_TUMOUR_CM:
        unmet.append(N_("tumour over 12 cm"))
    if clinical.has_distant_disease:
        unmet.append(N_("distant metastases"))
    flags = []
    # BNCT bypasses the cumulative photon constraint [seed], so only its own trial criteria
    # [bnct-trial] weigh on it, not the re-irradiation flags.
    if unmet:
        # Built apart from the _flag call: pybabel does not extract a phrase nested in it.
        not_met = phrase("BNCT suits recurrence after photon RT, but trial entry criteria are "
                         "not met: %(reasons)s.", reasons=unmet)
        flags.append(_flag("BNCT_CRITERIA_NOT_MET", TriageLevel.CAUTION, [not_met],
                           BNCT_TRIAL,
                           cautions=[Approach.BNCT], as_reason=N_("unmet BNCT trial criteria")))
    else:
        flags.append(_flag("BNCT_CANDIDATE", TriageLevel.FAVOURABLE,
                           "BNCT candidate after prior photon RT: trial entry criteria met (3+ "
                           "months since RT, ECOG 0-2, tumour 12 cm or less, no distant "
                           "metastases). The centre may ask for a boron PET with T/N ratio "
                           "above 2.5.", BNCT_TRIAL, favours=[Approach.BNCT]))
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
                               SEED, cautions=[REIRRADIATION],
                               as_reason=N_("SINS 13 or more (stabilisation first)")))
    if site == PrimarySite.PROSTATE:
        flags.append(_flag("PROSTATE_PSMA_OPTIONS", TriageLevel.INFO,
                           "Prostate recurrence after RT: PSMA-directed SBRT, or Lu-177 PSMA "
                           "radioligand therapy (available in India and China); both need "
                           "PSMA-expressing disease on the PSMA PET.", SEED))
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
                           "aggressive re-irradiation.", ESTRO_EORTC_2022,
                           cautions=[REIRRADIATION, SBRT_NEW_SITES],
                           as_reason=N_("ECOG 3-4")))
    # Overlap from the intake's explicit answer, else from the pattern (`outside_prior_field`).
    outside = clinical.outside_prior_field
    if outside is None:
        kind = N_("Regional recurrence: whether it overlaps the prior field is not known "
                  "(regional nodes may have been in it); the prior plan decides between type 1 "
                  "(overlapping volumes) and type 2 (cumulative dose concern without overlap).")
    elif not outside:
        kind = N_("In-field recurrence: likely type 1 re-irradiation (overlapping volumes).")
    elif clinical.recurrence_pattern != RecurrencePattern.LOCAL:
        kind = N_("Recurrence beyond the prior field: check for type 2 re-irradiation (cumulative "
                  "dose concern without overlap).")
    else:
        kind = N_("Recurrence in the prior field with new sites beyond it: type 1 re-irradiation "
                  "where volumes overlap; check the new sites for type 2 (cumulative dose concern "
                  "without overlap).")
    weigh_in = phrase("Performance status, expected survival and response to the first course "
                      "weigh in.")
    flags.append(_flag(
        "ESTRO_EORTC_REIRRADIATION_TYPE", TriageLevel.INFO, [phrase(kind), weigh_in],
        ESTRO_EORTC_2022,
    ))
    return flags
