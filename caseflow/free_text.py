"""Free text from people and hospitals, refused when it carries control characters: an escape
sequence or a bidirectional override stored in a reason would come back out of `case status`, a
terminal, a letter or a page and act there (the team guide: "Free text never carries control
characters"). One annotated type per shape, used by every input model, so the CLI, the API,
the forms and the hospitals' replies all refuse alike, naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator

# Bidirectional embeddings, overrides and isolates (Unicode TR9): they reorder what a reader
# sees ("Trojan Source", CVE-2021-42574). Marks (LRM/RLM) and zero-width joiners stay: scripts
# caseflow serves (Arabic, Devanagari, Tamil) and emoji need them.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_SEPARATORS = set("\u2028\u2029\x85")
_NEWLINES = re.compile(r"\r\n?")


def is_control_character_problem(message: str) -> bool:
    """Whether a validation message is this module's refusal (forms word it for people)."""
    return "control characters" in message


def _refused(value: str, allowed: str) -> str | None:
    for char in value:
        if char in allowed:
            continue
        if char in _BIDI_CONTROLS:
            return "must not contain bidirectional control characters"
        if char in _LINE_SEPARATORS or unicodedata.category(char) == "Cc":
            if allowed:
                return "must not contain control characters (newlines and tabs are kept)"
            return "must be one line without control characters"
    return None


def single_line(value: str) -> str:
    """A name, a site, an id typed by a person: no control character at all."""
    problem = _refused(value, "")
    if problem:
        raise ValueError(problem)
    return value


def multi_line(value: str) -> str:
    """A reason, an opinion, a note: newlines (CR LF made LF) and tabs kept, nothing else."""
    value = _NEWLINES.sub("\n", value)
    problem = _refused(value, "\n\t")
    if problem:
        raise ValueError(problem)
    return value


SingleLineText = Annotated[str, AfterValidator(single_line)]
MultiLineText = Annotated[str, AfterValidator(multi_line)]
