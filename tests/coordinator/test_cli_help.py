"""The CLI's help as a person reads it on an 80-column terminal: every option says what it is
for, and a list of choices is never broken in the middle of a word."""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterator

import pytest
import typer
from typer import Context
from typer.testing import CliRunner

from coordinator.cli import cli, run


def _commands() -> Iterator[tuple[list[str], typing.Any]]:
    root = typer.main.get_command(cli)

    def walk(command, path: list[str], ctx) -> Iterator[tuple[list[str], typing.Any]]:
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                yield from walk(sub, [*path, name], Context(sub, parent=ctx, info_name=name))
        else:
            yield path, command

    yield from walk(root, [], Context(root, info_name="caseflow"))


COMMANDS = list(_commands())


def _options(command) -> list:
    return [p for p in command.params if p.param_type_name == "option" and p.name != "help"]


def _enum_of(option) -> type[enum.Enum] | None:
    annotation = option.type_descriptor.annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    return None


def _help(path: list[str]) -> str:
    with CliRunner().isolation(env={"COLUMNS": "80", "TERMINAL_WIDTH": None}) as (out, _, _):
        assert run([*path, "--help"]) == 0
        return out.getvalue().decode()


def test_every_option_has_help_text():
    assert len(COMMANDS) > 30
    missing = [
        f"caseflow {' '.join(path)} {option.opts[0]}"
        for path, command in COMMANDS
        for option in _options(command)
        if not (option.help or "").strip()
    ]
    assert missing == []


CHOICE_COMMANDS = [
    (path, option) for path, command in COMMANDS for option in _options(command)
    if _enum_of(option) is not None
]


@pytest.mark.parametrize(
    ("path", "option"),
    CHOICE_COMMANDS,
    ids=[" ".join(p) + " " + o.opts[0] for p, o in CHOICE_COMMANDS],
)
def test_choices_read_whole_at_80_columns(path, option):
    text = _help(path)
    # The rendered help, its box drawing and padding taken out, one line at a time.
    lines = [re.sub(r"[│╭╮╰╯─]", " ", line).strip() for line in text.splitlines()]
    enumeration = _enum_of(option)
    assert enumeration is not None
    if "caseflow case kinds" in (option.help or ""):
        return  # too many to list: the help names the command that lists them, one a line
    for member in enumeration:
        assert any(re.search(rf"(?<![\w-]){re.escape(member.value)}(?![\w-])", line)
                   for line in lines), f"{member.value!r} is not whole in:\n{text}"


def test_paragraphs_are_wrapped_to_the_terminal_not_to_the_source():
    text = _help(["case", "upload"])
    # The docstring's own line breaks used to survive inside the terminal's wrapping.
    assert "uploading the\n" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
