"""The case's next option when the first one fails, and trial screening as a referral.

When the specialist says "not a candidate", or every hospital (or trial team) declines, the case
waits for the coordinator to choose: explore trials, refer to other hospitals, or close with a
stated reason [seed, "Treatment & Trial Navigation": "If this option is not suitable, we help
explore other relevant treatments, clinical trials, or advanced care pathways"]. A trial site is
referred to as a hospital is: its trial team gets the same packet through the same delivery and
answers eligible for screening, not eligible, or needs more [seed: "We communicate with hospitals
or trial teams to assess whether a case may be suitable for further screening"].
"""

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseflow.case_events import HospitalDecision, Note, PersonId, ReviewOutcome, SubmitReview
from caseflow.hospitals import Hospital, Modality
from caseflow.trial_registry import OPEN_TO_ENTRY, TrialSite, TrialStudy

_EVENT_CONFIG = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class NextOption(StrEnum):
    TRIALS = "trials"
    HOSPITALS = "hospitals"
    CLOSE = "close"


class ChooseNextOption(BaseModel):
    """The coordinator's choice for a case whose first option failed, and why."""

    model_config = _EVENT_CONFIG

    option: NextOption
    reason: Note
    chosen_by: PersonId | None = None


class TrialReferralTarget(BaseModel):
    """One study site a case is referred to, as the client built it from the registry snapshot:
    the workflow reads no registry."""

    model_config = _EVENT_CONFIG

    registry: str = Field(min_length=1, max_length=40)
    study_id: str = Field(pattern=r"^[A-Za-z0-9/\-]{4,40}$")
    title: str = Field(min_length=1, max_length=500)
    site: Hospital


class ReferToTrials(BaseModel):
    """The coordinator's pick of studies to refer the case to, one site each."""

    model_config = _EVENT_CONFIG

    targets: list[TrialReferralTarget] = Field(min_length=1, max_length=10)
    referred_by: PersonId | None = None


# How a trial team's answer reads; the reply path and the case keep HospitalDecision.
TRIAL_ANSWER_WORDS: dict[HospitalDecision, str] = {
    HospitalDecision.ACCEPT: "eligible for screening",
    HospitalDecision.DECLINE: "not eligible",
    HospitalDecision.NEEDS_MORE_INFORMATION: "needs more information",
}
TrialAnswer = Literal["eligible", "not_eligible", "needs_more"]
DECISION_FOR_ANSWER: dict[str, HospitalDecision] = {
    "eligible": HospitalDecision.ACCEPT,
    "not_eligible": HospitalDecision.DECLINE,
    "needs_more": HospitalDecision.NEEDS_MORE_INFORMATION,
}
TRIAL_SITE_PREFIX = "trial-"


def trial_site_id(study_id: str, site_index: int) -> str:
    """An opaque-enough, stable id for a study's site: trial-<study id>-<index>, e.g.
    trial-nct09990001-0 (ids from the public registry, never from the patient)."""
    slug = re.sub(r"[^a-z0-9]+", "-", study_id.lower()).strip("-")
    suffix = f"-{site_index}"
    return f"{TRIAL_SITE_PREFIX}{slug}"[: 60 - len(suffix)] + suffix


def is_trial_site(hospital_id: str) -> bool:
    return hospital_id.startswith(TRIAL_SITE_PREFIX)


def site_recipient(study: TrialStudy, site: TrialSite) -> str | None:
    """The trial team's address from the registry: the site's own contact, else the study's
    central contact."""
    for contact in [*site.contacts, *study.central_contacts]:
        if contact.email:
            return contact.email
    return None


def trial_site_hospital(study: TrialStudy, site: TrialSite, recipient: str | None) -> Hospital:
    """The site as the referral machinery knows a hospital: e-mail when there is a recipient,
    else manual delivery by the coordinator. Raises ValueError when the site is outside the
    destinations caseflow serves (India, China)."""
    if site.country not in ("IN", "CN"):
        raise ValueError(
            f"site: study {study.study_id} site {site.site_index} is not in IN or CN"
        )
    return Hospital(
        hospital_id=trial_site_id(study.study_id, site.site_index),
        name=site.facility[:200],
        country=site.country,
        city=(site.city or site.country)[:100],
        languages=["en"],
        modalities=[Modality.CLINICAL_TRIALS],
        channel="email" if recipient else "manual",
        contact_email=recipient,
    )


def screening_review(target: TrialReferralTarget, referred_by: str) -> SubmitReview:
    """What the trial team's letter asks: the reason and question of a referral for screening."""
    return SubmitReview(
        outcome=ReviewOutcome.PROCEED,
        reviewer_id=referred_by,
        modalities=[Modality.CLINICAL_TRIALS],
        target_hospital_ids=[target.site.hospital_id],
        reason=(
            f"Referral for trial screening: {target.registry} study {target.study_id}, "
            f"\"{target.title[:300]}\". The specialist review found no further option in the "
            "first line of care; caseflow's trial matching is advisory."
        ),
        question=(
            f"Is the patient eligible for screening for study {target.study_id}? Please answer "
            "eligible for screening (accept), not eligible (decline) or needs more "
            "information, with what you need."
        ),
    )


def referral_target(
    study: TrialStudy, countries: list[str], site_index: int | None = None,
    recipient: str | None = None,
) -> TrialReferralTarget:
    """The target for a study: the given site, else its first open site in the case's
    destination countries; the recipient given, else the registry's contact. ValueError (one
    line, naming the study) when no such site exists."""
    open_sites = [
        s for s in study.sites
        if s.country in countries and (s.status is None or s.status in OPEN_TO_ENTRY)
    ]
    if site_index is not None:
        chosen = next((s for s in open_sites if s.site_index == site_index), None)
        if chosen is None:
            raise ValueError(f"--site: study {study.study_id} has no open site {site_index} in "
                             f"{', '.join(countries)}")
    elif open_sites:
        chosen = open_sites[0]
    else:
        raise ValueError(f"NCT_ID: study {study.study_id} has no open site in "
                         f"{', '.join(countries)}")
    return TrialReferralTarget(
        registry=study.registry,
        study_id=study.study_id,
        title=study.title,
        site=trial_site_hospital(study, chosen, recipient or site_recipient(study, chosen)),
    )
