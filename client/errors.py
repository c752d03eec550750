"""How an exception becomes the one line a person reads: the CLI prints it after `error:`, the web
service returns it as `{"error": ...}`, in the same words."""

from __future__ import annotations

import re

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


# Temporal's words where a call did not pass through client.cases.in_caseflow_words: a person
# reads about cases, not workflows.
_NO_CASE = re.compile(r"workflow not found for ID: case-([a-z2-7]{26})\b")
_NO_WORKFLOW = re.compile(r"workflow not found for ID: (\S+)")
_COMPLETED = re.compile(r"workflow execution already completed", re.IGNORECASE)


def _in_caseflow_words(line: str) -> str:
    if match := _NO_CASE.search(line):
        return f"CASE_ID: no case {match.group(1)}"
    if _NO_WORKFLOW.search(line):
        return "no such case or referral (never started, or erased)"
    if _COMPLETED.search(line):
        return "the case is closed; it takes no more events"
    return line


def field_lines(error: ValidationError) -> list[tuple[str, str]]:
    """(field, line) for each problem, the line as one_line words it; a form shows each line
    next to its field."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"])
        # A rule across fields already names its field inside the message.
        message = item["msg"].removeprefix("Value error, ")
        named = not where or message.startswith(f"{where}:")
        if named and where == "":
            where = message.split(":", 1)[0] if ":" in message else ""
        lines.append((where, message if named else f"{where}: {message}"))
    return lines


def one_line(error: BaseException) -> str:
    """The one line for an error; names the field and the reason, never the value."""
    if isinstance(error, ValidationError):
        return "; ".join(line for _, line in field_lines(error))
    # Temporal wraps activity and update failures; the innermost cause has the useful text.
    cause: BaseException = error
    while (inner := getattr(cause, "cause", None)) is not None:
        cause = inner
    if isinstance(cause, ApplicationError):
        # str() prefixes the error type ("DocumentRejected: ..."); the message alone reads better.
        return _in_caseflow_words(_first_line(cause.message) or cause.type or "rejected")
    return _in_caseflow_words(_first_line(str(cause)) or type(cause).__name__)
