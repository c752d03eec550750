"""The message catalogues (Babel .po files under web/locale/<lang>/LC_MESSAGES) and which of them
suits a language tag: the web pages and the patient's e-mails read the same catalogues.

Directories use Babel's names (`zh_CN`); people and intakes use BCP 47 tags (`zh-CN`, `zh`,
`zh-Hans-CN`). Both spellings reach the same catalogue here. A third language is one more
directory with one .po file.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

# Beside the templates that use most of the strings; the worker reads them too (patient mail).
LOCALE_DIR = Path(__file__).resolve().parent.parent / "web" / "locale"
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"


def catalogue_name(language: str) -> str:
    """A tag as a catalogue directory names it: zh-CN -> zh_CN."""
    return language.replace("-", "_")


def available_languages() -> list[str]:
    """The catalogues there are, by directory name (en, zh_CN, ...)."""
    return sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())


def best_language(*preferred: str) -> str | None:
    """The catalogue (directory name) that best suits the tags, in order of preference: an exact
    match, then the same language in another region or script (zh -> zh_CN); None if none."""
    available = available_languages()
    tags = [catalogue_name(t.strip()) for t in preferred if t and t.strip()]
    found = negotiate_locale(tags, available)
    if found:
        return found
    for tag in tags:
        base = tag.split("_")[0].lower()
        for name in available:
            if name.split("_")[0].lower() == base:
                return name
    return None


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue for a language (either spelling), compiled in memory from its .po file (no
    .mo in the repo); English, the source language, for a language with no catalogue."""
    name = catalogue_name(language)
    po_file = LOCALE_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_file.is_file():
        return NullTranslations()
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=name)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)

