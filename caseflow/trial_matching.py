"""Advisory trial matching: which registry studies a case might be screened for, and why.

Like the triage, matching is decision support: it ranks on what the case knows and says what it
cannot know, and the trial team decides eligibility [seed, "Clinical Trial Access": "CancerFax
performs systematic trial matching"]. Pure: the profile comes from the intake, the studies from
a registry snapshot.
"""

import re
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from caseflow.intake import CaseIntake, PrimarySite, RecurrencePattern
from caseflow.trial_registry import OPEN_TO_ENTRY, RecruitmentStatus, TrialSite, TrialStudy

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True)

UNKNOWN_CRITERIA = "criteria in free text: the trial team decides"


class TrialMatchProfile(BaseModel):
    """What matching reads of a case: no name, no date of birth, no contact."""

    model_config = _MODEL_CONFIG

    primary_site: PrimarySite
    histology: str
    age_years: int
    sex: str
    recurrence_pattern: RecurrencePattern
    prior_rt_courses: int
    countries: list[str]
    biomarkers: list[str] = Field(default_factory=list)


def profile_from_intake(intake: CaseIntake, today: date) -> TrialMatchProfile:
    born = intake.patient.date_of_birth
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    clinical = intake.clinical
    return TrialMatchProfile(
        primary_site=clinical.primary_site,
        histology=clinical.histology,
        age_years=age,
        sex=intake.patient.sex,
        recurrence_pattern=clinical.recurrence_pattern,
        prior_rt_courses=len(clinical.prior_rt_courses),
        countries=list(intake.destinations.countries),
        biomarkers=[str(b) for b in clinical.biomarkers],
    )


class Synonyms(BaseModel):
    model_config = _MODEL_CONFIG

    terms: tuple[str, ...]
    source: str


# Condition words per primary site. Terms are the MeSH heading and entry terms ClinicalTrials.gov
# indexes conditions with (the MeSH id is the source), plus the abbreviations the seed's "Salvage
# options by tumour site" table uses (NPC, SCC, GBM, NSCLC) [seed].
SITE_SYNONYMS: dict[PrimarySite, Synonyms] = {
    PrimarySite.HEAD_AND_NECK: Synonyms(
        terms=("head and neck", "head & neck", "hnscc", "scchn", "oropharyn", "nasopharyn",
               "npc", "laryn", "hypopharyn", "oral cavity", "oral cancer", "tongue"),
        source="MeSH D006258 Head and Neck Neoplasms; D000077195; D000077274; seed",
    ),
    PrimarySite.BRAIN: Synonyms(
        terms=("brain", "glioblastoma", "gbm", "glioma", "astrocytoma", "cns tumo",
               "central nervous system"),
        source="MeSH D001932 Brain Neoplasms; D005909 Glioblastoma; seed",
    ),
    PrimarySite.LUNG: Synonyms(
        terms=("lung", "nsclc", "non-small cell", "non small cell", "pulmonary"),
        source="MeSH D008175 Lung Neoplasms; D002289 Carcinoma, Non-Small-Cell Lung; seed",
    ),
    PrimarySite.PROSTATE: Synonyms(
        terms=("prostat", "crpc", "psma"),
        source="MeSH D011471 Prostatic Neoplasms; seed",
    ),
    PrimarySite.SPINE: Synonyms(
        terms=("spine", "spinal", "vertebra", "bone metasta"),
        source="MeSH D013120 Spinal Neoplasms; seed",
    ),
    PrimarySite.RECTAL_PELVIC: Synonyms(
        terms=("rectal", "rectum", "colorectal", "pelvic", "anal canal"),
        source="MeSH D012004 Rectal Neoplasms; seed",
    ),
    PrimarySite.CERVIX_UTERUS: Synonyms(
        terms=("cervical cancer", "cervix", "uterine", "endometri", "gynecolog", "gynaecolog"),
        source="MeSH D002583 Uterine Cervical Neoplasms; D014594 Uterine Neoplasms; seed",
    ),
    PrimarySite.LIVER: Synonyms(
        terms=("liver", "hepatocellular", "hcc", "hepatic"),
        source="MeSH D008113 Liver Neoplasms; seed",
    ),
    PrimarySite.OTHER: Synonyms(terms=(), source="caseflow default"),
}

# Histology words, matched against the study's conditions, title and keywords.
HISTOLOGY_SYNONYMS: dict[str, Synonyms] = {
    "squamous cell carcinoma": Synonyms(
        terms=("squamous", "scc", "hnscc", "scchn"),
        source="MeSH D002294 Carcinoma, Squamous Cell; seed (SCC)",
    ),
    "adenocarcinoma": Synonyms(terms=("adenocarcinoma",), source="MeSH D000230 Adenocarcinoma"),
    "glioblastoma": Synonyms(
        terms=("glioblastoma", "gbm"), source="MeSH D005909 Glioblastoma; seed (GBM)"
    ),
    "nasopharyngeal carcinoma": Synonyms(
        terms=("nasopharyngeal", "npc"),
        source="MeSH D000077274 Nasopharyngeal Carcinoma; seed (NPC)",
    ),
    "non-small cell": Synonyms(
        terms=("non-small cell", "non small cell", "nsclc"),
        source="MeSH D002289 Carcinoma, Non-Small-Cell Lung; seed (NSCLC)",
    ),
    "hepatocellular": Synonyms(
        terms=("hepatocellular", "hcc"), source="MeSH D006528 Carcinoma, Hepatocellular"
    ),
}
# A study open to any solid tumour (a basket trial) matches every site, more weakly.
SOLID_TUMOUR_TERMS = ("solid tumor", "solid tumour", "solid neoplasm", "advanced cancer",
                      "malignant neoplasm")

# The investigational trial types the seed names for recurrence after prior lines of therapy
# [seed, "Clinical Trial Access"], and BNCT [seed, "BNCT"; bnct-trial].
TRIAL_TYPES: dict[str, re.Pattern[str]] = {
    "oncolytic virus": re.compile(r"oncolytic|\bt-vec\b|talimogene|\bh101\b|virotherap", re.I),
    "CAR-T for solid tumours": re.compile(r"\bcar[- ]?t\b|chimeric antigen receptor", re.I),
    "neoantigen vaccine": re.compile(r"neoantigen|neo-antigen|personali[sz]ed (cancer )?vaccine",
                                     re.I),
    "checkpoint combination": re.compile(
        r"pd-?1|pd-?l1|ctla-?4|pembrolizumab|nivolumab|toripalimab|camrelizumab|sintilimab|"
        r"tislelizumab|atezolizumab|durvalumab|ipilimumab", re.I),
    "BNCT": re.compile(r"boron neutron capture|\bbnct\b", re.I),
}
TRIAL_TYPE_SOURCE = "seed, \"Clinical Trial Access\""

_RECURRENT = re.compile(r"recurren|relapse|progress(ed|ion) after", re.I)
_PRIOR_RT = re.compile(
    r"(prior|previous(ly)?|history of)\s+(\w+\s+){0,2}(radiotherapy|radiation|irradiat)|"
    r"re-?irradiat|previously irradiated", re.I)
_NEWLY_DIAGNOSED = re.compile(r"newly diagnosed|treatment[- ]na[iï]ve|no prior (therapy|treatment)",
                              re.I)
_EXCLUSION = re.compile(r"exclusion criteria", re.I)


class TrialSiteMatch(BaseModel):
    model_config = _MODEL_CONFIG

    site_index: int
    facility: str
    city: str | None
    country: str
    status: RecruitmentStatus | None
    has_contact_email: bool


class TrialMatch(BaseModel):
    """One study offered for a case: why it matched, what speaks against it, what is unknown."""

    model_config = _MODEL_CONFIG

    study_id: str
    registry: str
    title: str
    status: RecruitmentStatus
    phases: list[str]
    score: int
    trial_types: list[str]
    reasons: list[str]
    concerns: list[str]
    unknowns: list[str]
    sites: list[TrialSiteMatch]


def _hits(text: str, terms: tuple[str, ...]) -> str | None:
    return next((t for t in terms if re.search(rf"(?<![a-z]){re.escape(t)}", text)), None)


def _histology_synonyms(histology: str) -> list[tuple[str, Synonyms]]:
    lowered = histology.lower()
    return [
        (name, syn) for name, syn in HISTOLOGY_SYNONYMS.items()
        if name in lowered or _hits(lowered, syn.terms)
    ]


def _sections(criteria: str) -> tuple[str, str]:
    """(inclusion, exclusion) text, split at the 'Exclusion Criteria' heading."""
    split = _EXCLUSION.search(criteria)
    if split is None:
        return criteria, ""
    return criteria[: split.start()], criteria[split.start():]


def _open_sites(study: TrialStudy, countries: list[str]) -> list[TrialSite]:
    return [
        site for site in study.sites
        if site.country in countries and (site.status is None or site.status in OPEN_TO_ENTRY)
    ]


def match_study(profile: TrialMatchProfile, study: TrialStudy) -> TrialMatch | None:
    """The study as a match for the case, or None when it is closed, has no open site in the
    case's destination countries, names none of the case's conditions, or its stated age or
    sex exclude the case."""
    if study.status not in OPEN_TO_ENTRY:
        return None
    sites = _open_sites(study, profile.countries)
    if not sites:
        return None
    reasons: list[str] = []
    concerns: list[str] = []
    unknowns: list[str] = []
    score = 0
    # Conditions: the site's synonyms, the histology's, or a basket of solid tumours.
    conditions = " | ".join([*study.conditions, *study.keywords, study.title]).lower()
    site_syn = SITE_SYNONYMS[profile.primary_site]
    site_term = _hits(conditions, site_syn.terms)
    basket = _hits(conditions, SOLID_TUMOUR_TERMS)
    if site_term is not None:
        score += 3
        reasons.append(f"condition names {site_term!r}: {profile.primary_site.value} "
                       f"[{site_syn.source}]")
    elif basket is not None:
        score += 1
        reasons.append(f"open to {basket}s, any site [{TRIAL_TYPE_SOURCE}]")
    else:
        return None
    for name, syn in _histology_synonyms(profile.histology):
        term = _hits(conditions, syn.terms)
        if term is not None:
            score += 2
            reasons.append(f"histology {name} matches {term!r} [{syn.source}]")
            break
    else:
        unknowns.append("histology: the study's conditions do not name the case's")
    # Age and sex, where the registry states them.
    low, high = study.minimum_age_years, study.maximum_age_years
    if (low is not None and profile.age_years < low) or (
        high is not None and profile.age_years > high
    ):
        return None
    if low is None and high is None:
        unknowns.append("age: no limits stated")
    else:
        score += 1
        span = f"{_years(low) if low is not None else 'any'} to "
        span += _years(high) if high is not None else "any"
        reasons.append(f"age {profile.age_years} within {span}")
    if study.sex != "all":
        if profile.sex != study.sex:
            return None
        score += 1
        reasons.append(f"sex {profile.sex}, as the study requires")
    # Recurrence and prior RT, only where the criteria state them.
    inclusion, exclusion = _sections(study.criteria or "")
    if _RECURRENT.search(inclusion) or _RECURRENT.search(conditions):
        score += 2
        reasons.append(f"criteria or conditions ask for recurrent disease; the case has a "
                       f"{profile.recurrence_pattern.value} recurrence")
    if _PRIOR_RT.search(inclusion):
        score += 2
        reasons.append(f"inclusion criteria name prior radiotherapy; the case had "
                       f"{profile.prior_rt_courses} course(s)")
    if _PRIOR_RT.search(exclusion):
        score -= 2
        concerns.append("exclusion criteria name prior radiotherapy: ask the trial team")
    if _NEWLY_DIAGNOSED.search(inclusion):
        score -= 3
        concerns.append("inclusion criteria ask for newly diagnosed or untreated disease")
    if not study.criteria:
        unknowns.append("criteria: none published in the registry")
    # The seed's trial types.
    text = " ".join(
        [study.title, study.official_title or "", *study.keywords,
         *(f"{i.name} {i.description or ''}" for i in study.interventions)]
    )
    types = [name for name, pattern in TRIAL_TYPES.items() if pattern.search(text)]
    if types:
        score += len(types)
        reasons.append(f"trial type: {', '.join(types)} [{TRIAL_TYPE_SOURCE}]")
    if study.status == RecruitmentStatus.RECRUITING:
        score += 1
    unknowns.append("performance status, organ function, prior systemic therapy: not checked")
    unknowns.append(UNKNOWN_CRITERIA)
    return TrialMatch(
        study_id=study.study_id,
        registry=study.registry,
        title=study.title,
        status=study.status,
        phases=list(study.phases),
        score=score,
        trial_types=types,
        reasons=reasons,
        concerns=concerns,
        unknowns=unknowns,
        sites=[
            TrialSiteMatch(
                site_index=s.site_index, facility=s.facility, city=s.city,
                country=s.country or "", status=s.status,
                has_contact_email=any(c.email for c in s.contacts),
            )
            for s in sites
        ],
    )


def _years(value: float) -> str:
    return f"{value:g}"


def match_case(profile: TrialMatchProfile, studies: list[TrialStudy]) -> list[TrialMatch]:
    """Every study that matches, best first: score, then recruiting before not yet, then id."""
    matches = [m for s in studies if (m := match_study(profile, s)) is not None]
    return sorted(
        matches,
        key=lambda m: (-m.score, m.status != RecruitmentStatus.RECRUITING, m.study_id),
    )
