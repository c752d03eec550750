"""How the CLI turns an exception into the one line a coordinator reads (client.errors words it)."""

from __future__ import annotations

from typer.exceptions import TyperException

from client.errors import one_line


def one_line_error(error: BaseException) -> tuple[str, int]:
    """The message and exit code for an error: usage errors exit 2, everything else 1."""
    if isinstance(error, TyperException):
        text = error.format_message().strip()
        return (text.splitlines()[0] if text else ""), getattr(error, "exit_code", 1)
    return one_line(error), 1
