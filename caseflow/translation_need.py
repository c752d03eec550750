"""Whether a case's records need translating for the selected hospital, decided from languages.

The hospital's first listed language is the one its clinical team works in (caseflow/hospitals.json
lists the international desk's other languages after it); records already in that language, or
from a patient whose language it is, need no translation. A caseflow rule: no source in
docs/sources.md sets one. Pure, so the workflow decides with it.
"""

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from caseflow.hospitals import Hospital


class TranslationNeed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    needed: bool
    target_language: str
    why: str  # one line for the timeline; language tags and the hospital id only


def same_language(a: str, b: str) -> bool:
    """BCP 47 tags naming the same language: equal, or one is the bare language of the other
    (`en` and `en-GB`). `zh-CN` and `zh-TW` differ (script), so they do not match."""
    a, b = a.lower(), b.lower()
    return a == b or a == b.split("-")[0] or b == a.split("-")[0]


def translation_need(
    patient_language: str, document_languages: Sequence[str], hospital: Hospital
) -> TranslationNeed:
    """Documents' languages when known, else the patient's, against the hospital's working one."""
    target = hospital.languages[0]
    sources = list(dict.fromkeys(document_languages)) or [patient_language]
    whose = "documents' language" if document_languages else "patient's language"
    shown = ", ".join(sources)
    if all(same_language(source, target) for source in sources):
        return TranslationNeed(
            needed=False, target_language=target,
            why=f"not needed: the {whose} {shown} is the working language of "
                f"hospital {hospital.hospital_id}",
        )
    return TranslationNeed(
        needed=True, target_language=target,
        why=f"into {target}: the {whose} {shown} is not the working language of "
            f"hospital {hospital.hospital_id}",
    )


def translation_language_error(language: str, hospital: Hospital) -> str | None:
    """Why a translation in `language` does not suit the hospital, or None when it does."""
    if any(same_language(language, known) for known in hospital.languages):
        return None
    return (
        f"language {language} is not one that hospital {hospital.hospital_id} reads "
        f"({', '.join(hospital.languages)})"
    )
