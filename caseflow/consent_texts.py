"""The consent texts patients read on the portal: one versioned catalogue per language
(caseflow/consent_texts/<language>.json), each text with its purpose and the law it answers to.

What a patient consented to is the exact text shown, so the ledger keeps the rendered text, its
SHA-256, id, version and language (PIPL art. 29/39, DPDP s.5/6; domain.md "Consent and
erasure"). A text never changes under its version: a new wording is a new version. A third
language is one more JSON file here.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CATALOGUE_DIR = Path(__file__).resolve().parent / "consent_texts"
DEFAULT_LANGUAGE = "en"

# What a patient consents to: the records review (required to send an inquiry) and the three
# deliverable purposes of caseflow.consent.
TextPurpose = Literal["records_review", "referral", "translation", "travel"]

_CONFIG = ConfigDict(extra="forbid", frozen=True)


class ConsentText(BaseModel):
    model_config = _CONFIG

    text_id: str = Field(pattern=r"^[a-z_]{1,40}$")
    version: str = Field(pattern=r"^[0-9A-Za-z.-]{1,20}$")
    purpose: TextPurpose
    legal_source: str = Field(min_length=1)
    text: str = Field(min_length=1)


class ConsentCatalogue(BaseModel):
    model_config = _CONFIG

    language: str
    country_names: dict[str, str]
    texts: list[ConsentText]

    def text(self, purpose: str) -> ConsentText:
        for text in self.texts:
            if text.purpose == purpose:
                return text
        raise KeyError(f"no consent text for {purpose!r} in {self.language}")


class ShownConsent(BaseModel):
    """A consent text as one person saw it: rendered for a country and its hospitals."""

    model_config = _CONFIG

    text_id: str
    version: str
    language: str
    purpose: TextPurpose
    country: str | None = None
    legal_source: str
    text: str

    @property
    def sha256(self) -> str:
        return text_digest(self.text)


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def available_languages() -> list[str]:
    return sorted(path.stem for path in CATALOGUE_DIR.glob("*.json"))


@cache
def catalogue(language: str) -> ConsentCatalogue:
    """The catalogue for a BCP 47 tag (zh-CN, zh_CN and zh-Hans-CN all find zh-CN); English
    for a language without one."""
    wanted = language.replace("_", "-")
    known = available_languages()
    chosen = next(
        (tag for tag in known if tag.lower() == wanted.lower()),
        next((tag for tag in known if tag.split("-")[0] == wanted.split("-")[0]),
             DEFAULT_LANGUAGE),
    )
    return ConsentCatalogue.model_validate_json((CATALOGUE_DIR / f"{chosen}.json").read_text())


def shown(
    language: str, purpose: str, country: str | None = None, hospitals: list[str] | None = None
) -> ShownConsent:
    """The exact text a person reads for `purpose` (and, for a referral, `country` with the
    names of its hospitals), in their language."""
    found = catalogue(language)
    text = found.text(purpose)
    body = text.text
    if country is not None:
        body = body.replace("{country_name}", found.country_names.get(country, country))
        body = body.replace("{hospitals}", ", ".join(hospitals or []) or "-")
    return ShownConsent(
        text_id=text.text_id,
        version=text.version,
        language=found.language,
        purpose=text.purpose,
        country=country,
        legal_source=text.legal_source,
        text=body,
    )
