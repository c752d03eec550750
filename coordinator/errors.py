"""How the CLI turns an exception into the one line a coordinator reads."""

from __future__ import annotations

from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from typer.exceptions import TyperException


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def one_line_error(error: BaseException) -> tuple[str, int]:
    """The message and exit code for an error: usage errors exit 2, everything else 1."""
    if isinstance(error, TyperException):
        return _first_line(error.format_message()), getattr(error, "exit_code", 1)
    if isinstance(error, ValidationError):
        parts = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            # A rule across fields already names its field inside the message.
            message = item["msg"].removeprefix("Value error, ")
            named = not where or message.startswith(f"{where}:")
            parts.append(message if named else f"{where}: {message}")
        return "; ".join(parts), 1
    # Temporal wraps activity and update failures; the innermost cause has the useful text.
    cause = error
    while getattr(cause, "cause", None) is not None:
        cause = cause.cause
    if isinstance(cause, ApplicationError):
        # str() prefixes the error type ("DocumentRejected: ..."); the message alone reads better.
        return _first_line(cause.message) or cause.type or "rejected", 1
    return _first_line(str(cause)) or type(cause).__name__, 1
