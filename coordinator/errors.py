"""How the CLI turns an exception into the one line a coordinator reads (client.errors words it):
`error: <line>`, or under --json the API's `{"error": "<line>"}`, on stderr either way so stdout
only ever holds a command's result."""

from __future__ import annotations

import json

from typer.exceptions import TyperException

from client.errors import one_line


def one_line_error(error: BaseException) -> tuple[str, int]:
    """The message and exit code for an error: usage errors exit 2, everything else 1."""
    if isinstance(error, TyperException):
        text = error.format_message().strip()
        return (text.splitlines()[0] if text else ""), getattr(error, "exit_code", 1)
    return one_line(error), 1


def wants_json(args: list[str]) -> bool:
    """Whether the command line asked for JSON: decided from the words, because a usage error
    comes before any option is parsed (arguments after `--` are not options)."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def error_output(error: BaseException, json_output: bool) -> tuple[str, int]:
    """The line to print for an error, and the exit code."""
    message, code = one_line_error(error)
    if not message:
        return "", code
    return (json.dumps({"error": message}) if json_output else f"error: {message}"), code
