"""Every translated catalogue of the console and portal is complete: no entry is left empty or
fuzzy (an empty msgstr shows the reader English mid-page), and each translation carries exactly
the placeholders, brace fields and HTML tags of its msgid (a lost `%(name)s` raises at render)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from caseflow import message_catalogues

# English is the source language: its msgids are the text, so only the others are checked.
TRANSLATED = [name for name in message_catalogues.available_languages()
              if name != message_catalogues.DEFAULT_LANGUAGE]
# %(name)s / %(count)d / %s, {name} / {0} / {}, and HTML tags.
PLACEHOLDER = re.compile(
    r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%[sdifr]|\{[^{}]*\}|</?[a-zA-Z][^<>]*>"
)


def placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


def catalogue(language: str) -> Catalog:
    folder = Path(message_catalogues.LOCALE_DIR) / language / "LC_MESSAGES"
    with (folder / f"{message_catalogues.DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=language)


def problems(catalog: Catalog) -> list[str]:
    """One line per entry that would show the reader English, a guess, or a broken page."""
    found = []
    for message in catalog:
        if not message.id:  # the header
            continue
        found.extend(message_problems(message))
    return found


def message_problems(message: Message) -> list[str]:
    # A plural entry's id is (singular, plural) and its string one per form (msgstr[n]).
    ids = [str(i) for i in (message.id if isinstance(message.id, (tuple, list)) else [message.id])]
    strings = [str(s or "") for s in (message.string if isinstance(message.string, (tuple, list))
                                else [message.string])]
    found = []
    if message.fuzzy:
        found.append(f"fuzzy: {ids[0]!r}")
    if not all(strings):
        found.append(f"untranslated: {ids[0]!r}")
    # A plural form may drop the count in a language with one form, never add or change one.
    expected = placeholders(ids[-1]) if len(ids) > 1 else placeholders(ids[0])
    for string in strings:
        if not string:
            continue
        got = placeholders(string)
        if len(ids) > 1 and not got - expected:
            continue
        if got != expected:
            found.append(f"placeholders differ: {ids[0]!r} has {sorted(expected.elements())}, "
                         f"{string!r} has {sorted(got.elements())}")
    return found


def test_there_is_a_translated_catalogue_to_check():
    assert "zh_CN" in TRANSLATED


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_entry_is_translated_with_its_placeholders(language):
    found = problems(catalogue(language))
    assert not found, f"{language}: {len(found)} entries need work:\n" + "\n".join(found[:40])


def entry(msgid, msgstr, fuzzy=False) -> Catalog:
    catalog = Catalog(locale="zh_CN")
    catalog.add(msgid, msgstr, flags=["fuzzy"] if fuzzy else [])
    return catalog


@pytest.mark.parametrize(("msgid", "msgstr", "fuzzy", "complaint"), [
    ("Hospitals", "", False, "untranslated"),
    ("Hospitals", "医院", True, "fuzzy"),
    ("Case %(case_id)s", "病例", False, "placeholders differ"),
    ("Case %(case_id)s", "病例 %(case)s", False, "placeholders differ"),
    ("%(count)d files", "%(count)s 个文件", False, "placeholders differ"),
    ("Hello {name}", "您好", False, "placeholders differ"),
    ("<strong>Note</strong>: read", "注意：阅读", False, "placeholders differ"),
    (("%(count)s field", "%(count)s fields"), ("",), False, "untranslated"),
    (("%(count)s field", "%(count)s fields"), ("%(n)s 项",), False, "placeholders differ"),
])
def test_the_check_catches_what_a_reader_would_see_broken(msgid, msgstr, fuzzy, complaint):
    found = problems(entry(msgid, msgstr, fuzzy))
    assert any(line.startswith(complaint) for line in found), found


@pytest.mark.parametrize(("msgid", "msgstr"), [
    ("Case %(case_id)s", "病例 %(case_id)s"),
    ("%(purpose)s in %(country)s", "%(country)s：%(purpose)s"),  # order may change
    (("%(count)s field", "%(count)s fields"), ("%(count)s 项",)),
    ("CT", "CT"),  # a code kept as it is counts as translated
])
def test_the_check_accepts_a_faithful_translation(msgid, msgstr):
    assert problems(entry(msgid, msgstr)) == []
