"""What a patient reads about their case, in plain words: the stages, the records checklist, the
document kinds and the consents. English here is the catalogue's source text (marked with N_ so
`make messages` extracts it); the portal pages and the patient's e-mails translate it with the
reader's catalogue (caseflow/message_catalogues.py).

Never the intake schema's names or file ids: "your biopsy report", not `biopsy_report`.
"""

from __future__ import annotations

from collections.abc import Callable

from caseflow.case_status import CaseStage
from caseflow.documents import DocumentKind


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it yet."""
    return message


Translate = Callable[[str], str]

# The stage in words: what is happening now, as the patient would ask "where are we?".
STAGE_WORDS: dict[CaseStage, str] = {
    CaseStage.INTAKE: N_("We have your request. A coordinator will contact you soon."),
    CaseStage.RECORDS: N_("We are collecting your medical records."),
    CaseStage.SPECIALIST_REVIEW: N_("A specialist is reviewing your records."),
    CaseStage.HOSPITAL_SUBMISSION: N_(
        "Your records have gone to the hospitals, and we are waiting for their answers."
    ),
    CaseStage.NEXT_OPTION: N_(
        "Your coordinator is looking at the next option for you: other hospitals or clinical "
        "trials."
    ),
    CaseStage.TRIAL_SCREENING: N_(
        "Your records have gone to clinical trial teams, and we are waiting for their answers."
    ),
    CaseStage.TRANSLATION: N_("Your records are being translated for the hospital."),
    CaseStage.TRAVEL: N_("We are preparing your travel to the hospital."),
    CaseStage.ADMISSION: N_("You are expected at, or staying in, the hospital."),
    CaseStage.FOLLOW_UP: N_("We are in touch with you after your treatment."),
    CaseStage.CLOSED: N_("Your case is closed."),
}

# Short stage names for a progress list.
STAGE_NAMES: dict[CaseStage, str] = {
    CaseStage.INTAKE: N_("Request received"),
    CaseStage.RECORDS: N_("Medical records"),
    CaseStage.SPECIALIST_REVIEW: N_("Specialist review"),
    CaseStage.HOSPITAL_SUBMISSION: N_("Hospitals"),
    CaseStage.NEXT_OPTION: N_("Next option"),
    CaseStage.TRIAL_SCREENING: N_("Clinical trials"),
    CaseStage.TRANSLATION: N_("Translation"),
    CaseStage.TRAVEL: N_("Travel"),
    CaseStage.ADMISSION: N_("Hospital stay"),
    CaseStage.FOLLOW_UP: N_("Follow-up"),
    CaseStage.CLOSED: N_("Closed"),
}

# Each kind of document as a patient would name it.
KIND_WORDS: dict[DocumentKind, str] = {
    DocumentKind.BIOPSY_REPORT: N_("Biopsy report"),
    DocumentKind.IMAGING_MRI: N_("MRI scan"),
    DocumentKind.IMAGING_CT: N_("CT scan"),
    DocumentKind.IMAGING_PET_CT: N_("PET-CT scan"),
    DocumentKind.PSMA_PET: N_("PSMA PET scan"),
    DocumentKind.BORON_PET: N_("Boron PET scan"),
    DocumentKind.DICOM_STUDY: N_("Scan images (DICOM files)"),
    DocumentKind.RT_TREATMENT_SUMMARY: N_("Summary of your earlier radiotherapy"),
    DocumentKind.RT_DOSE_PLAN: N_("Radiotherapy plan from your earlier treatment"),
    DocumentKind.DVH: N_("Radiotherapy dose charts (DVH)"),
    DocumentKind.LABS: N_("Blood test results"),
    DocumentKind.PERFORMANCE_STATUS: N_("Doctor's note on how you manage daily activities"),
    DocumentKind.MOLECULAR_REPORT: N_("Tumour gene or marker test report"),
    DocumentKind.SPINE_SINS_ASSESSMENT: N_("Spine stability assessment"),
    DocumentKind.PASSPORT: N_("Passport"),
    DocumentKind.CONSENT_FORM: N_("Signed consent form"),
    DocumentKind.HOSPITAL_OPINION: N_("Hospital's opinion"),
    DocumentKind.TREATMENT_PLAN: N_("Hospital's treatment plan"),
    DocumentKind.COST_ESTIMATE: N_("Cost estimate"),
    DocumentKind.VISA_LETTER: N_("Visa invitation letter"),
    DocumentKind.TRANSLATION: N_("Translated document"),
    DocumentKind.OTHER: N_("Other document"),
}

# The checklist's items (caseflow/checklist.py): what we still need, in plain words.
CHECKLIST_WORDS: dict[str, str] = {
    "biopsy": N_("A biopsy report of the cancer that came back"),
    "imaging": N_("A recent MRI, CT or PET-CT scan"),
    "prior_rt_dosimetry": N_("The plan of your earlier radiotherapy (dose plan or dose charts)"),
    "prior_rt_summary": N_("The summary of your earlier radiotherapy"),
    "performance_status": N_("A doctor's note on how you manage daily activities"),
    "organ_function": N_("Recent blood test results"),
    "psma_pet": N_("A PSMA PET scan"),
    "brain_mri": N_("An MRI scan of the brain"),
    "spine_mri": N_("An MRI scan of the spine"),
    "spine_sins": N_("A spine stability assessment"),
    "molecular_report": N_("A tumour gene or marker test report"),
    "boron_pet": N_("A boron PET scan"),
}
# A "need more records" item for a kind with no item of its own is `more_<kind>`.
REQUESTED_PREFIX = "more_"
REQUESTED_TEMPLATE = N_("Asked for by the specialist: %(kind)s")

PURPOSE_WORDS: dict[str, str] = {
    "records_review": N_("Reviewing your records with our specialists"),
    "referral": N_("Sending your records to hospitals for their opinion"),
    "translation": N_("Translating your records"),
    "travel": N_("Arranging your travel and stay"),
}

COUNTRY_WORDS: dict[str, str] = {
    "IN": N_("India"),
    "CN": N_("China"),
}


def stage_words(stage: CaseStage, _: Translate) -> str:
    return _(STAGE_WORDS[stage])


def kind_words(kind: DocumentKind | str, _: Translate) -> str:
    return _(KIND_WORDS[DocumentKind(kind)])


def checklist_words(item_id: str, accepts: list[DocumentKind], _: Translate) -> str:
    """An item in plain words: its own words, else (a specialist's request for a kind) "asked
    for by the specialist: <kind>", else the first kind it accepts."""
    if item_id in CHECKLIST_WORDS:
        return _(CHECKLIST_WORDS[item_id])
    if item_id.startswith(REQUESTED_PREFIX):
        kind = item_id.removeprefix(REQUESTED_PREFIX)
        if kind in {k.value for k in DocumentKind}:
            return _(REQUESTED_TEMPLATE) % {"kind": kind_words(kind, _)}
    return kind_words(accepts[0], _) if accepts else _(KIND_WORDS[DocumentKind.OTHER])


def purpose_words(purpose: str, _: Translate) -> str:
    return _(PURPOSE_WORDS[purpose])


def country_words(country: str, _: Translate) -> str:
    return _(COUNTRY_WORDS[country]) if country in COUNTRY_WORDS else country
