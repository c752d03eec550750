"""The referral letter's words: one gettext catalogue per language (templates/locale/<lang>/
LC_MESSAGES/letters.po, compiled in memory with Babel), the codes a letter shows in words, and
`LetterWords`, which writes each string in every language of the letter (zh-CN, then English).

English is the source language: its catalogue is empty and the msgid is the text. Names of
countries and languages come from the CLDR through Babel; dates and sizes are formatted by it.
"""

from __future__ import annotations

import io
import mimetypes
import re
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from pathlib import Path, PurePath
from urllib.parse import quote

from babel import Locale
from babel.dates import format_date
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from babel.units import format_unit
from markupsafe import Markup, escape

from caseflow.case_status import TriageFlagEntry
from caseflow.intake import CaseIntake
from caseflow.triage import Phrase

LOCALE_DIR = Path(__file__).resolve().parent.parent / "templates" / "locale"
DOMAIN = "letters"
SOURCE_LANGUAGE = "en"
# A letter's language, and the languages it is written in: a Chinese letter is bilingual, each
# string in Chinese followed by English, so staff who read either language read all of it.
LETTER_LANGUAGES: dict[str, tuple[str, ...]] = {"en": ("en",), "zh-CN": ("zh-CN", "en")}


def N_(message: str) -> str:
    """Marks a word for extraction (`make messages`); LetterWords translates it when shown."""
    return message


PRIMARY_SITE = {
    "head_and_neck": N_("head and neck"),
    "brain": N_("brain"),
    "lung": N_("lung"),
    "prostate": N_("prostate"),
    "spine": N_("spine"),
    "rectal_pelvic": N_("rectum and pelvis"),
    "cervix_uterus": N_("cervix and uterus"),
    "liver": N_("liver"),
    "other": N_("other site"),
}
RECURRENCE_PATTERN = {
    "local": N_("local recurrence"),
    "regional": N_("regional recurrence"),
    "distant": N_("distant recurrence"),
}
MODALITY = {
    "bnct": N_("boron neutron capture therapy (BNCT)"),
    "sbrt": N_("stereotactic body radiotherapy (SBRT)"),
    "srs": N_("stereotactic radiosurgery (SRS)"),
    "imrt_reirradiation": N_("IMRT re-irradiation"),
    "lu_psma": N_("Lu-177 PSMA radioligand therapy"),
    "y90_tare": N_("Y-90 radioembolisation (TARE)"),
    "surgery": N_("surgery"),
    "clinical_trials": N_("clinical trials"),
    "immunotherapy": N_("immunotherapy"),
}
DOCUMENT_KIND = {
    "biopsy_report": N_("Biopsy report"),
    "imaging_mri": N_("MRI"),
    "imaging_ct": N_("CT"),
    "imaging_pet_ct": N_("PET-CT"),
    "psma_pet": N_("PSMA PET"),
    "boron_pet": N_("Boron PET"),
    "dicom_study": N_("DICOM study"),
    "rt_treatment_summary": N_("RT treatment summary"),
    "rt_dose_plan": N_("RT dose plan"),
    "dvh": N_("Dose-volume histograms"),
    "labs": N_("Laboratory results"),
    "performance_status": N_("Performance status"),
    "molecular_report": N_("Molecular report"),
    "spine_sins_assessment": N_("SINS assessment"),
    "passport": N_("Passport"),
    "consent_form": N_("Consent form"),
    "hospital_opinion": N_("Hospital opinion"),
    "treatment_plan": N_("Treatment plan"),
    "cost_estimate": N_("Cost estimate"),
    "visa_letter": N_("Visa letter"),
    "translation": N_("Translation"),
    "other": N_("Other document"),
}
TRIAGE_LEVEL = {
    "favourable": N_("favourable"),
    "caution": N_("caution"),
    "against": N_("against"),
    "info": N_("info"),
}
SEX = {
    "female": N_("female"),
    "male": N_("male"),
    "other": N_("other"),
    "unknown": N_("unknown"),
}
ORGAN_AT_RISK = {
    "spinal_cord": N_("spinal cord"),
    "brainstem": N_("brainstem"),
    "optic_chiasm": N_("optic chiasm"),
    "parotid": N_("parotid"),
    "mandible": N_("mandible"),
    "carotid": N_("carotid artery"),
    "lung": N_("lung"),
    "heart": N_("heart"),
    "bowel": N_("bowel"),
    "rectum": N_("rectum"),
    "bladder": N_("bladder"),
}
TABLES = {
    "site": PRIMARY_SITE,
    "pattern": RECURRENCE_PATTERN,
    "modality": MODALITY,
    "kind": DOCUMENT_KIND,
    "level": TRIAGE_LEVEL,
    "sex": SEX,
    "organ": ORGAN_AT_RISK,
}
# A download's extension by content type; the original file's own extension wins when it is
# one of these spellings of the same type (.jpeg, .tiff).
EXTENSIONS = {
    "application/pdf": (".pdf",),
    "application/dicom": (".dcm", ".dicom"),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/tiff": (".tif", ".tiff"),
    "application/zip": (".zip",),
    "text/plain": (".txt",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
}


def _folder(language: str) -> str:
    """pybabel's folder (zh_CN) for a language tag (zh-CN)."""
    return language.replace("-", "_")


@cache
def translations(language: str) -> Translations:
    """The catalogue for a language, compiled in memory from its .po file (no .mo in the repo)."""
    po_file = LOCALE_DIR / _folder(language) / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=_folder(language))
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def letter_languages(language: str) -> tuple[str, ...]:
    """The languages a letter in `language` is written in; unknown languages get English."""
    return LETTER_LANGUAGES.get(language, LETTER_LANGUAGES[SOURCE_LANGUAGE])


def translate(language: str, message: str, **params: object) -> str:
    """One message in one language, with %(name)s parameters filled in."""
    text = translations(language).gettext(message)
    return text % params if params else text


def word(language: str, table: str, code: str) -> str:
    """A code in words (`word("zh-CN", "site", "head_and_neck")`); an unknown code as itself,
    underscores as spaces, so a new code reads as words until the catalogue names it."""
    source = TABLES[table].get(code)
    return translate(language, source) if source else code.replace("_", " ")


def country_name(language: str, code: str) -> str:
    return Locale.parse(_folder(language)).territories.get(code, code)


def language_name(language: str, tag: str) -> str:
    """A BCP 47 tag's name: "zh-CN" is 中文 or Chinese (the country is not the point)."""
    names = Locale.parse(_folder(language)).languages
    return names.get(_folder(tag)) or names.get(tag.split("-")[0]) or tag


def long_date(language: str, value: date | datetime) -> str:
    day = value.date() if isinstance(value, datetime) else value
    return format_date(day, format="long", locale=_folder(language))


def human_size(language: str, size: int) -> str:
    """Bytes in kB/MB/GB (decimal, as file managers show them), one decimal at most."""
    for unit, scale in (("digital-gigabyte", 10**9), ("digital-megabyte", 10**6),
                        ("digital-kilobyte", 10**3)):
        if size >= scale:
            return format_unit(size / scale, unit, length="short", format="#,##0.#",
                               locale=_folder(language))
    return format_unit(size, "digital-byte", length="short", locale=_folder(language))


def phrase_text(language: str, phrase: Phrase) -> str:
    """A flag's sentence in one language: its numbers as given, its reasons translated and
    listed as that language lists things ("a、b和c"). English is the flag's own message."""
    if language == SOURCE_LANGUAGE:
        return phrase.english()
    values: dict[str, object] = dict(phrase.params)
    if phrase.reasons:
        values["reasons"] = format_list([translate(language, r) for r in phrase.reasons],
                                        locale=_folder(language))
    return translate(language, phrase.text, **values)


def short_hash(sha256: str) -> str:
    """The first 12 hex digits: enough to tell files apart by eye; the manifest has the rest."""
    return sha256[:12] + "…"


def download_name(language: str, kind: str, document_id: str, content_type: str,
                  original_filename: str) -> str:
    """The name a presigned download saves as: the kind in words and the document id, with the
    file's extension. Not the original name, which may name the patient: it would travel in
    the presigned URL's query string, and URLs never carry patient data."""
    known = EXTENSIONS.get(content_type) or (mimetypes.guess_extension(content_type) or "",)
    own = PurePath(original_filename).suffix.lower()
    extension = own if own in known else known[0]
    stem = re.sub(r"[^\w]+", "-", word(language, "kind", kind)).strip("-").lower()
    return f"{stem}-{document_id}{extension}"


def content_disposition(filename: str) -> str:
    """`attachment` with the name for every client: an ASCII `filename` fallback and, for
    non-ASCII names, the UTF-8 `filename*` of RFC 6266 / RFC 5987."""
    fallback = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.encode("ascii", "ignore").decode())
    fallback = fallback.strip("_") or "document"
    if filename.isascii() and fallback == filename:
        return f'attachment; filename="{filename}"'
    if fallback.startswith("-") or fallback.startswith("."):
        fallback = "document" + fallback
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def question_text(language: str, modalities: list[str]) -> str:
    if not modalities:
        return translate(language, QUESTION)
    joiner = "、" if language.startswith("zh") else ", "
    offered = joiner.join(word(language, "modality", code) for code in modalities)
    return translate(language, QUESTION_OFFERING, modalities=offered)


def reason_text(language: str, intake: CaseIntake, today: date) -> str:
    """The default reason for referral in one language: site, histology, pattern and the
    RT-free interval (the letter's, and in English the FHIR bundle's)."""
    clinical = intake.clinical
    return translate(
        language,
        REASON,
        histology=clinical.histology,
        site=word(language, "site", clinical.primary_site.value),
        pattern=word(language, "pattern", clinical.recurrence_pattern.value),
        days=intake.rt_free_interval_days(today),
    )


REASON = N_(
    "Recurrent %(histology)s (%(site)s, %(pattern)s) after radiotherapy; RT-free interval "
    "%(days)s days."
)
QUESTION = N_(
    "Can you offer salvage treatment for this patient? If so, please give your opinion, the "
    "proposed treatment, a cost estimate, the earliest admission date and whether you can issue "
    "a visa invitation letter."
)
QUESTION_OFFERING = N_(
    "Can you offer salvage treatment (%(modalities)s) for this patient? If so, please give your "
    "opinion, the proposed treatment, a cost estimate, the earliest admission date and whether "
    "you can issue a visa invitation letter."
)


class LetterWords:
    """The words of one letter: every string in each of its languages, first language first.
    Templates call `say("Date")` for a label ("日期 / Date") and `say(..., block=True)` for a
    sentence (one line per language); `words` gives codes in words the same way."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LETTER_LANGUAGES else SOURCE_LANGUAGE
        self.languages = letter_languages(self.language)

    @property
    def bilingual(self) -> bool:
        return len(self.languages) > 1

    def _join(self, texts: Iterable[tuple[str, str]], block: bool) -> Markup:
        parts = list(texts)
        if not self.bilingual:
            return Markup(escape(parts[0][1]))
        # One language per line for sentences; the second language is set apart as a
        # translation, so a reader of either language finds their line at a glance.
        spans = [
            Markup('<span lang="{}" class="{}">{}</span>').format(
                lang, "first" if index == 0 else "second", text
            )
            for index, (lang, text) in enumerate(parts)
        ]
        if block:
            return Markup("<br>").join(spans)
        if parts[0][1] == parts[1][1]:  # a name both languages write alike (ECOG, SINS)
            return spans[0]
        return Markup(" / ").join(spans)

    def say(self, message: str, block: bool = False, **params: object) -> Markup:
        return self._join(((lang, translate(lang, message, **params)) for lang in self.languages),
                          block)

    def plain(self, message: str, **params: object) -> str:
        """Text without markup (a <title>, a mail subject): the languages joined by " / "."""
        return " / ".join(self.lines(message, **params))

    def lines(self, message: str, **params: object) -> list[str]:
        """A sentence of a plain-text mail: one line per language, first language first."""
        return list(dict.fromkeys(translate(lang, message, **params) for lang in self.languages))

    def plain_words(self, table: str, code: str) -> str:
        return " / ".join(dict.fromkeys(word(lang, table, code) for lang in self.languages))

    def reason(self, intake: CaseIntake, today: date) -> Markup:
        return self._join(((lang, reason_text(lang, intake, today)) for lang in self.languages),
                          True)

    def question(self, modalities: Iterable[str]) -> Markup:
        """The default question: can the hospital offer these modalities, and on what terms."""
        codes = list(modalities)
        return self._join(
            ((lang, question_text(lang, codes)) for lang in self.languages), True
        )

    def flag(self, flag: TriageFlagEntry) -> Markup:
        """A triage flag's message in each language; one recorded before flags kept their
        phrases is looked up whole, as it was."""
        if not flag.phrases:
            return self.say(flag.message, block=True)
        return self._join(
            ((lang, " ".join(phrase_text(lang, p) for p in flag.phrases))
             for lang in self.languages),
            True,
        )

    def words(self, table: str, code: str) -> Markup:
        return self._join(((lang, word(lang, table, code)) for lang in self.languages), False)

    def country(self, code: str) -> Markup:
        return self._join(((lang, country_name(lang, code)) for lang in self.languages), False)

    def language_name(self, tag: str) -> Markup:
        return self._join(((lang, language_name(lang, tag)) for lang in self.languages), False)

    def date(self, value: date | datetime) -> str:
        """Dates in the letter's language only: 2025年6月1日 reads in both."""
        return long_date(self.language, value)

    def size(self, size: int) -> str:
        return human_size(self.language, size)
