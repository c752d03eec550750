"""The `caseflow` command: composes the command groups and turns errors into one line."""

from __future__ import annotations

import sys

import typer

from coordinator.case_commands import case_app
from coordinator.demo import demo_command
from coordinator.dev_commands import dev_app
from coordinator.schema_command import schema_app
from coordinator.worker_command import worker_command

cli = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
cli.add_typer(dev_app, name="dev")
cli.command("worker")(worker_command)
cli.add_typer(case_app, name="case")
cli.add_typer(schema_app, name="schema")
cli.command("demo")(demo_command)


def app() -> None:
    """Entry point. Expected failures print one line to stderr and exit non-zero."""
    from coordinator.errors import one_line_error

    try:
        cli(standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the CLI's contract is one line, never a traceback
        message, code = one_line_error(error)
        if message:  # a bare group name already printed its help
            print(f"error: {message}", file=sys.stderr)
        sys.exit(code)
