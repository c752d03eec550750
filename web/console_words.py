"""The console's words for the codes a case carries (stages, document kinds, decisions, referral
states, ...): one table per kind, every word marked for `make messages`, translated when a page
shows it (`{{ word("stage", status.stage) }}`), and country names from the CLDR through Babel."""

from __future__ import annotations

from enum import Enum

from babel import Locale
from jinja2 import pass_context
from jinja2.runtime import Context

from activities.letter_words import LETTER_LANGUAGES, SOURCE_LANGUAGE, phrase_text
from caseflow.case_status import ChecklistEntry, TriageFlagEntry
from caseflow.checklist import REQUEST_SOURCE
from caseflow.message_catalogues import translations


def N_(message: str) -> str:
    """Marks a word for extraction (one of pybabel's default keywords); `word` translates it."""
    return message


STAGE = {
    "INTAKE": N_("Intake"),
    "RECORDS": N_("Records"),
    "SPECIALIST_REVIEW": N_("Specialist review"),
    "HOSPITAL_SUBMISSION": N_("Hospital submission"),
    "NEXT_OPTION": N_("Next option"),
    "TRIAL_SCREENING": N_("Trial screening"),
    "TRANSLATION": N_("Translation"),
    "TRAVEL": N_("Travel"),
    "ADMISSION": N_("Admission"),
    "FOLLOW_UP": N_("Follow-up"),
    "CLOSED": N_("Closed"),
}

# caseflow.intake.CaseIntake.pathway: the care pathways a case can follow.
PATHWAY = {
    "recurrent_after_rt": N_("recurrence after radiotherapy"),
}

OUTCOME = {
    "completed": N_("completed"),
    "withdrawn": N_("withdrawn"),
    "not_a_candidate": N_("not a candidate"),
    "declined": N_("inquiry declined"),
    "no_further_option": N_("no further option"),
}

DOCUMENT_KIND = {
    "biopsy_report": N_("biopsy report"),
    "imaging_mri": N_("MRI"),
    "imaging_ct": N_("CT"),
    "imaging_pet_ct": N_("PET-CT"),
    "psma_pet": N_("PSMA PET"),
    "boron_pet": N_("boron PET"),
    "dicom_study": N_("DICOM study"),
    "rt_treatment_summary": N_("RT treatment summary"),
    "rt_dose_plan": N_("RT dose plan"),
    "dvh": N_("dose-volume histograms"),
    "labs": N_("lab results"),
    "performance_status": N_("performance status"),
    "molecular_report": N_("molecular report"),
    "spine_sins_assessment": N_("SINS assessment"),
    "passport": N_("passport"),
    "consent_form": N_("consent form"),
    "hospital_opinion": N_("hospital opinion"),
    "treatment_plan": N_("treatment plan"),
    "cost_estimate": N_("cost estimate"),
    "visa_letter": N_("visa letter"),
    "translation": N_("translation"),
    "other": N_("other document"),
}

DECISION = {
    "accept": N_("accepts"),
    "decline": N_("declines"),
    "needs_more_information": N_("needs more information"),
}

# A trial team's answer (issue 15): the same decision, in the trial's words.
TRIAL_DECISION = {
    "accept": N_("eligible for screening"),
    "decline": N_("not eligible"),
    "needs_more_information": N_("needs more information"),
}

REFERRAL_STATE = {
    "preparing": N_("preparing"),
    "packet_stored": N_("packet stored"),
    "delivery_blocked": N_("delivery blocked"),
    "delivered": N_("delivered"),
    "awaiting_response": N_("awaiting answer"),
    "needs_more_information": N_("needs more information"),
    "accepted": N_("accepted"),
    "declined": N_("declined"),
    "step_failed": N_("a step failed"),
    "cancelled": N_("cancelled"),
    "selected": N_("selected"),
    "not_selected": N_("not selected"),
}

REVIEW_OUTCOME = {
    "proceed": N_("proceed"),
    "need_more_records": N_("need more records"),
    "not_a_candidate": N_("not a candidate"),
}

MODALITY = {
    "bnct": N_("BNCT"),
    "sbrt": N_("SBRT"),
    "srs": N_("SRS"),
    "imrt_reirradiation": N_("IMRT re-irradiation"),
    "lu_psma": N_("Lu-177 PSMA"),
    "y90_tare": N_("Y-90 TARE"),
    "surgery": N_("surgery"),
    "clinical_trials": N_("clinical trials"),
    "immunotherapy": N_("immunotherapy"),
}

CONSENT_PURPOSE = {
    "referral": N_("referral"),
    "translation": N_("translation"),
    "travel": N_("travel"),
}

TRAVEL_KIND = {
    "visa_letter_requested": N_("visa letter requested"),
    "visa_letter_received": N_("visa letter received"),
    "visa_granted": N_("visa granted"),
    "visa_refused": N_("visa refused"),
    "flights_booked": N_("flights booked"),
    "arrived": N_("arrived"),
}

FOLLOW_UP_STATUS = {
    "well": N_("well"),
    "recurrence": N_("recurrence"),
    "toxicity": N_("toxicity"),
    "deceased": N_("deceased"),
    "lost_to_follow_up": N_("lost to follow-up"),
}

WAIT = {
    "inquiry_acceptance": N_("a coordinator to accept the inquiry"),
    "records_upload": N_("records"),
    "specialist_review": N_("specialist review"),
    "hospital_response": N_("hospital's answer"),
    "hospital_acknowledgement": N_("hospital's acknowledgement"),
    "translation": N_("translation"),
    "translation_consent": N_("translation consent"),
    "visa_letter": N_("visa letter"),
    "travel": N_("travel"),
    "admission": N_("admission"),
    "discharge": N_("discharge"),
    "follow_up": N_("follow-up"),
    "step_failure": N_("a failed step"),
    "next_option": N_("the coordinator's next option"),
}

SLA_STEP = {
    "remind": N_("remind"),
    "escalate_coordinator": N_("escalate to the coordinator"),
    "escalate_supervisor": N_("escalate to the supervisor"),
}

PRIMARY_SITE = {
    "head_and_neck": N_("head and neck"),
    "brain": N_("brain"),
    "lung": N_("lung"),
    "prostate": N_("prostate"),
    "spine": N_("spine"),
    "rectal_pelvic": N_("rectal / pelvic"),
    "cervix_uterus": N_("cervix / uterus"),
    "liver": N_("liver"),
    "other": N_("other site"),
}

RECURRENCE_PATTERN = {
    "local": N_("local"),
    "regional": N_("regional"),
    "distant": N_("distant"),
}

SEX = {
    "female": N_("female"),
    "male": N_("male"),
    "other": N_("other"),
    "unknown": N_("unknown"),
}

TRIAGE_LEVEL = {
    "favourable": N_("favourable"),
    "caution": N_("caution"),
    "against": N_("against"),
    "info": N_("info"),
}

CHANNEL = {
    "manual": N_("manual"),
    "email": N_("e-mail"),
    "webhook": N_("webhook"),
}

ROLE = {
    "coordinator": N_("coordinator"),
    "supervisor": N_("supervisor"),
    "ops": N_("ops"),
    "hospital": N_("hospital"),
}

# The checklist's items by id (caseflow/checklist.py): the titles the case carries, in words a
# catalogue can translate. An item the table lacks shows the case's own title.
CHECKLIST_ITEM = {
    "biopsy": N_("Biopsy report of the recurrence"),
    "imaging": N_("Recent MRI, CT or PET-CT"),
    "prior_rt_dosimetry": N_("Prior RT dose plan or DVHs"),
    "prior_rt_summary": N_("Prior RT treatment summary"),
    "performance_status": N_("Performance status assessment"),
    "organ_function": N_("Organ function (labs)"),
    "psma_pet": N_("PSMA PET"),
    "brain_mri": N_("Brain MRI"),
    "spine_mri": N_("Spine MRI"),
    "spine_sins": N_("SINS assessment"),
    "molecular_report": N_("Molecular / biomarker report"),
}

# The timeline's event codes (workflows/case.py `_note`, the referrals' reports prefixed
# `referral_`, travel steps `travel_`, SLA steps `sla_`).
TIMELINE_EVENT = {
    "case_opened": N_("case opened"),
    "stage_entered": N_("stage entered"),
    "coordinator_assigned": N_("coordinator assigned"),
    "document_added": N_("document added"),
    "documents_erased": N_("documents erased"),
    "requirement_waived": N_("item waived"),
    "records_requested": N_("records requested"),
    "review_submitted": N_("review submitted"),
    "referral_started": N_("referral started"),
    "referral_packet_stored": N_("packet stored"),
    "referral_packet_delivered": N_("packet delivered"),
    "referral_packet_skipped": N_("packet skipped"),
    "referral_acknowledged": N_("hospital acknowledged"),
    "referral_consent_missing": N_("consent missing"),
    "referral_delivery_blocked": N_("delivery blocked"),
    "referral_delivery_unblocked": N_("delivery unblocked"),
    "referral_endpoint_disabled": N_("webhook disabled"),
    "delivery_blocked": N_("delivery blocked"),
    "hospital_acknowledged": N_("hospital acknowledged"),
    "hospital_response": N_("hospital answered"),
    "all_hospitals_declined": N_("every hospital declined"),
    "next_option_chosen": N_("next option chosen"),
    "trial_referral_requested": N_("trial referral requested"),
    "trial_referral_started": N_("trial referral started"),
    "all_trial_teams_declined": N_("every trial team declined"),
    "hospital_selected": N_("hospital selected"),
    "consent_recorded": N_("consent recorded"),
    "consent_withdrawn": N_("consent withdrawn"),
    "translation_job_sent": N_("translation sent"),
    "translation_job_not_sent": N_("translation not sent"),
    "translation_received": N_("translation received"),
    "visa_letter_requested": N_("visa letter requested"),
    "visa_letter_uncertain": N_("visa letter uncertain"),
    "travel_visa_letter_requested": N_("visa letter requested"),
    "travel_visa_letter_received": N_("visa letter received"),
    "travel_visa_granted": N_("visa granted"),
    "travel_visa_refused": N_("visa refused"),
    "travel_flights_booked": N_("flights booked"),
    "travel_arrived": N_("arrived"),
    "arrival_after_planned_admission": N_("arrived after the planned admission"),
    "admitted": N_("admitted"),
    "discharged": N_("discharged"),
    "follow_up_due": N_("follow-up due"),
    "follow_up_recorded": N_("follow-up recorded"),
    "hold": N_("put on hold"),
    "resumed": N_("resumed"),
    "step_skip_requested": N_("step skipped"),
    "signal_not_delivered": N_("message not delivered"),
    "withdrawal_requested": N_("withdrawal requested"),
    "withdrawn": N_("withdrawn"),
    "continued_as_new": N_("history continued"),
    "sla_remind": N_("reminder sent"),
    "sla_escalate_coordinator": N_("escalated to the coordinator"),
    "sla_escalate_supervisor": N_("escalated to the supervisor"),
}
# A referral also reports its state changes and its SLA steps (workflows/referral.py `_report`;
# the case prefixes them `referral_`): the words of that state or step, not the raw code.
TIMELINE_EVENT.update({
    **{f"referral_sla_{step}": TIMELINE_EVENT[f"sla_{step}"] for step in SLA_STEP},
    **{f"referral_{state}": words for state, words in REFERRAL_STATE.items()
       if f"referral_{state}" not in TIMELINE_EVENT},
})

TABLES: dict[str, dict[str, str]] = {
    "stage": STAGE,
    "pathway": PATHWAY,
    "outcome": OUTCOME,
    "document_kind": DOCUMENT_KIND,
    "decision": DECISION,
    "trial_decision": TRIAL_DECISION,
    "referral_state": REFERRAL_STATE,
    "review_outcome": REVIEW_OUTCOME,
    "modality": MODALITY,
    "consent_purpose": CONSENT_PURPOSE,
    "travel_kind": TRAVEL_KIND,
    "follow_up_status": FOLLOW_UP_STATUS,
    "wait": WAIT,
    "sla_step": SLA_STEP,
    "primary_site": PRIMARY_SITE,
    "recurrence_pattern": RECURRENCE_PATTERN,
    "sex": SEX,
    "triage_level": TRIAGE_LEVEL,
    "channel": CHANNEL,
    "role": ROLE,
    "checklist_item": CHECKLIST_ITEM,
    "timeline_event": TIMELINE_EVENT,
}


def code_of(code: object) -> str:
    return str(code.value) if isinstance(code, Enum) else str(code)


@pass_context
def word(context: Context, kind: str, code: object, fallback: str | None = None) -> str:
    """The words for a code in the page's language. A code the table lacks (one a later version
    of the workflow adds) shows `fallback`, else the code with spaces for its underscores."""
    found = TABLES[kind].get(code_of(code))
    if found is None:
        return fallback if fallback is not None else code_of(code).replace("_", " ")
    return str(context.call(context.resolve("gettext"), found))


@pass_context
def country_name(context: Context, code: str) -> str:
    """A country's name in the page's language (Babel's CLDR data), e.g. IN -> India."""
    language = str(context.get("language") or "en").replace("-", "_")
    return Locale.parse(language).territories.get(code, code)


@pass_context
def country_names(context: Context, codes: list[str]) -> str:
    return ", ".join(country_name(context, code) for code in codes)


@pass_context
def flag_words(context: Context, flag: TriageFlagEntry) -> str:
    """A triage flag's sentence in the page's language. The flags' translations are the referral
    letter's (activities/letter_words.py), which prints them for the hospital: one translation
    of each flag, for the letter and the console alike. English, a language the letters lack,
    and a case opened before flags carried their phrases show the flag's own message."""
    language = str(context.get("language") or SOURCE_LANGUAGE)
    if language == SOURCE_LANGUAGE or language not in LETTER_LANGUAGES or not flag.phrases:
        return flag.message
    return " ".join(phrase_text(language, p) for p in flag.phrases)


@pass_context
def reason_words(context: Context, item: ChecklistEntry) -> str:
    """Why a checklist item is needed, in the page's language: the checklist's own reasons are in
    the catalogue (caseflow/checklist.py marks them). An item the specialist asked for carries
    their own words, shown as written. The lookup is the catalogue's alone, never the
    template's gettext, whose %-formatting a '%' in someone's words would break."""
    if item.source == REQUEST_SOURCE:
        return item.reason
    language = str(context.get("language") or SOURCE_LANGUAGE)
    return str(translations(language).gettext(item.reason))
