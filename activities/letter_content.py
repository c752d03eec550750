"""The referral letter as data for the PDF (templates/referral_letter.typ): every string already
in words from the letter's catalogue (activities/letter_words.py), the same words and order as
the HTML letter (templates/referral_letter.html.j2), and nothing the Typst template evaluates.

The Typst template reads this as JSON through `sys.inputs`, so a patient's name is always text:
`#panic("x")`, `]`, `*` or `$` in a name print as themselves. A *span* is `[lang, text, style]`
(lang None for punctuation, style "" | "second" | "strong" | "mono" | "small" | "link"); a
*line* is a list of spans; a *block* is a list of lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from activities.letter_words import (
    LetterWords,
    country_name,
    language_name,
    phrase_text,
    question_text,
    reason_text,
    short_hash,
    translate,
    word,
)
from activities.payloads import ReferralPacketRequest
from caseflow.case_status import TriageFlagEntry

Span = list[Any]
Line = list[Span]
Block = list[Line]


class LetterText:
    """Spans in each of the letter's languages: `say` gives a label inline ("姓名 / Name", the
    second language in grey), `block` gives a sentence one line per language."""

    def __init__(self, language: str) -> None:
        self.words = LetterWords(language)
        self.languages = self.words.languages

    def _inline(self, texts: Iterable[tuple[str, str]], style: str = "") -> Line:
        parts = list(dict(texts).items())
        if len({text for _, text in parts}) == 1:  # ECOG, SINS: both languages write it alike
            parts = parts[:1]
        line: Line = []
        for index, (lang, text) in enumerate(parts):
            if index:
                line.append([None, " / ", style])
            line.append([lang, text, "second" if index else style])
        return line

    def _block(self, texts: Iterable[tuple[str, str]]) -> Block:
        parts = list(dict(texts).items())
        if len({text for _, text in parts}) == 1:  # not translated yet: said once, not twice
            parts = parts[:1]
        return [[[lang, text, "second" if index else ""]]
                for index, (lang, text) in enumerate(parts)]

    def say(self, message: str, style: str = "", **params: object) -> Line:
        return self._inline(((lang, translate(lang, message, **params))
                             for lang in self.languages), style)

    def say_block(self, message: str, **params: object) -> Block:
        return self._block((lang, translate(lang, message, **params)) for lang in self.languages)

    def word(self, table: str, code: str, style: str = "") -> Line:
        return self._inline(((lang, word(lang, table, code)) for lang in self.languages), style)

    def country(self, code: str) -> Line:
        return self._inline((lang, country_name(lang, code)) for lang in self.languages)

    def language_name(self, tag: str) -> Line:
        return self._inline((lang, language_name(lang, tag)) for lang in self.languages)

    def flag(self, flag: TriageFlagEntry) -> Block:
        """A triage flag's message in each language, as LetterWords.flag words it."""
        if not flag.phrases:
            return self.say_block(flag.message)
        return self._block((lang, " ".join(phrase_text(lang, p) for p in flag.phrases))
                           for lang in self.languages)

    def as_is(self, text: str, style: str = "") -> Line:
        """Text the letter quotes as written (names, histology, ids): in the letter's language,
        so CJK characters in it get the CJK face and line breaking."""
        return [[self.words.language, text, style]]


def _label(line: Line) -> Line:
    return [*line, [None, ":", ""]]


def letter_content(request: ReferralPacketRequest, reply_url: str | None) -> dict[str, Any]:
    """The letter's content, in the order the HTML letter shows it."""
    t = LetterText(request.language)
    words = t.words
    intake = request.intake
    patient, clinical = intake.patient, intake.clinical
    hospital, contact = request.hospital, request.coordinator_contact
    written_on = request.written_on

    address: Line = t.as_is(hospital.name)
    from activities.letters import names_city  # the HTML letter's rule, one place

    if not names_city(hospital.name, hospital.city):
        address += t.as_is(", " + hospital.city)
    address += [[None, ", ", ""], *t.country(hospital.country)]
    if contact is not None:
        sender = contact.name + (f", {contact.organisation}" if contact.organisation else "")
        sender_line = t.as_is(sender)
    else:
        sender_line = t.say("caseflow coordinator %(coordinator)s",
                            coordinator=request.coordinator_id)

    reason: Block = (
        [t.as_is(request.reason)] if request.reason
        else t._block((lang, reason_text(lang, intake, written_on)) for lang in t.languages)
    )
    question: Block = (
        [t.as_is(request.question)] if request.question
        else t._block((lang, question_text(lang, request.modalities)) for lang in t.languages)
    )
    asked: list[dict[str, Any]] = [
        {"kind": "paragraph", "label": _label(t.say("Reason for referral", "strong")),
         "body": reason},
        {"kind": "paragraph", "label": _label(t.say("Question", "strong")), "body": question},
    ]
    if request.recommendation:
        asked.append({
            "kind": "paragraph",
            "label": _label(t.say("Specialist review (%(reviewer)s)", "strong",
                                  reviewer=request.reviewer_id or "-")),
            "body": [t.as_is(request.recommendation)],
        })

    recurrence: Block = [
        t.word("pattern", clinical.recurrence_pattern.value),
        t.say("%(count)s lesion(s), largest %(size)s cm", count=clinical.lesion_count,
              size=clinical.largest_lesion_cm),
    ]
    summary: list[list[Any]] = [
        [t.say("Primary site"), [t.word("site", clinical.primary_site.value)]],
        [t.say("Histology"), [t.as_is(clinical.histology)]],
        [t.say("Recurrence"), recurrence],
        [t.say("ECOG performance status"), [t.as_is(str(clinical.ecog))]],
        [t.say("Biomarkers"), [t.as_is(", ".join(clinical.biomarkers))] if clinical.biomarkers
         else [t.say("none reported")]],
    ]
    if clinical.sins is not None:
        summary.append([t.say("Spinal instability score (SINS)"), [t.as_is(str(clinical.sins))]])
    summary.append([t.say("RT-free interval"),
                    [t.say("%(days)s days", days=intake.rt_free_interval_days(written_on))]])

    courses = [
        [
            [t.as_is(course.site)],
            [t.as_is(course.technique)],
            [t.as_is(f"{course.total_dose_gy} Gy")],
            [t.as_is(str(course.fractions))],
            [t.as_is(words.date(course.completed_on))],
            [[*t.word("organ", organ), [None, f": {dose} Gy", ""]]
             for organ, dose in course.oar_max_doses_gy.items()] or [t.as_is("-")],
        ]
        for course in clinical.prior_rt_courses
    ]
    flags = [
        {"level": t.word("level", flag.level, "strong"), "message": t.flag(flag),
         "source": f"[{flag.source}]"}
        for flag in request.triage_flags
    ]
    documents = [
        {
            "n": str(index),
            "kind": t.word("kind", ref.kind.value, "strong"),
            "file": t.as_is(ref.original_filename, "small"),
            "id": t.as_is(ref.document_id, "small"),
            "uploaded": t.as_is(words.date(ref.uploaded_at)),
            "size": t.as_is(words.size(ref.size)),
            "hash": [[None, short_hash(ref.sha256), "mono"]],
        }
        for index, ref in enumerate(request.documents, start=1)
    ]

    sections: list[dict[str, Any]] = [
        {"heading": t.say("Reason for referral and question"), "items": asked},
        {"heading": t.say("Patient"), "items": [{"kind": "facts", "rows": [
            [t.say("Name"), [t.as_is(f"{patient.given_name} {patient.family_name}")]],
            [t.say("Date of birth"), [t.as_is(words.date(patient.date_of_birth))]],
            [t.say("Sex"), [t.word("sex", patient.sex)]],
            [t.say("Country of residence"), [t.country(patient.country_of_residence)]],
            [t.say("Preferred language"), [t.language_name(patient.preferred_language)]],
        ]}]},
        {"heading": t.say("Clinical summary"), "items": [
            {"kind": "facts", "rows": summary},
            {"kind": "subheading", "text": t.say("Prior radiotherapy")},
            {"kind": "grid",
             "header": [t.say(label) for label in ("Site", "Technique", "Dose", "Fractions",
                                                   "Completed", "Organs at risk, Dmax")],
             "rows": courses},
        ]},
        {"heading": t.say("Triage flags (advisory)"), "items": [
            {"kind": "paragraph", "label": None, "body": t.say_block(
                "These flags are an automated pre-screen for coordination only. They are not a "
                "treatment recommendation: a qualified oncologist at the receiving hospital "
                "decides.")},
            {"kind": "flags", "items": flags, "none": t.say("No flags.")},
        ]},
        {"heading": t.say("Documents"), "items": [
            {"kind": "paragraph", "label": None, "body": t.say_block(
                "Each document is listed with the first digits of its SHA-256; manifest.json in "
                "this packet holds the full SHA-256 and a download link for each.")},
            {"kind": "documents",
             "header": [[[None, "#", ""]], t.say("Document"), t.say("Uploaded"), t.say("Size"),
                        [[None, "SHA-256", ""]]],
             "rows": documents, "none": t.say("No documents.")},
        ]},
    ]
    if reply_url:
        sections.append({"heading": t.say("Your reply"), "items": [
            {"kind": "paragraph", "label": None, "body": t.say_block(
                "Acknowledge this referral, send your answer (accept, decline or ask for more "
                "information, with your opinion, proposed treatment, cost estimate, earliest "
                "admission date and whether you can issue a visa invitation) and upload your "
                "documents at this link, which is for %(hospital)s only. It also gives fresh "
                "download links to this packet's files when the original links expire.",
                hospital=hospital.name)},
            {"kind": "link", "url": reply_url},
        ]})
    if contact is not None:
        rows = [[t.say("Name"), [t.as_is(contact.name)]]]
        if contact.organisation:
            rows.append([t.say("Organisation"), [t.as_is(contact.organisation)]])
        rows.append([t.say("E-mail"), [[[None, contact.email, "link"]]]])
        if contact.phone:
            rows.append([t.say("Phone"), [t.as_is(contact.phone)]])
        if reply_url:
            rows.append([t.say("Reply link"), [[[None, reply_url, "link"]]]])
        sections.append({"heading": t.say("Your contact"), "boxed": True, "items": [
            {"kind": "paragraph", "label": None, "body": t.say_block(
                "Write to the referring coordinator with any question about this referral, "
                "quoting case %(case)s.", case=request.case_id)},
            {"kind": "contact", "rows": rows},
        ]})
    else:
        sections.append({"heading": None, "items": [
            {"kind": "paragraph", "label": None, "body": t.say_block(
                "Questions: the referring coordinator (%(coordinator)s), quoting case %(case)s.",
                coordinator=request.coordinator_id, case=request.case_id)},
        ]})

    return {
        "lang": words.language,
        "title": words.plain("Referral, case %(case)s", case=request.case_id),
        "notice": {
            "heading": t.say("Confidential.", "strong"),
            "body": t.say_block(
                "This letter and its documents contain health information about the patient "
                "named below. They are for %(hospital)s only, for the purpose of assessing this "
                "referral. If you received them in error, tell the sender and delete them.",
                hospital=hospital.name),
        },
        "head": [
            [_label(t.say("To")), [t.say("International Patient Department"), address]],
            [_label(t.say("From")), [sender_line]],
            [_label(t.say("Date")), [t.as_is(words.date(written_on))]],
            [_label(t.say("Case")), [t.as_is(request.case_id)]],
        ],
        "heading": t.say_block("Referral for assessment of recurrent cancer after radiotherapy"),
        "sections": sections,
    }
