"""The `caseflow` command: composes the command groups and turns errors into one line."""

from __future__ import annotations

import json
import os
import sys

import typer

from coordinator.audit_commands import audit_command
from coordinator.case_commands import case_app
from coordinator.demo import demo_command
from coordinator.dev_commands import dev_app
from coordinator.erasure_commands import erase_command
from coordinator.identity_commands import tokens_app, users_app
from coordinator.keys_commands import keys_app
from coordinator.schema_command import schema_app
from coordinator.serve_command import serve_command
from coordinator.trials_commands import trials_app
from coordinator.upload_commands import uploads_app
from coordinator.worker_command import worker_command

cli = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(dev_app, name="dev")
cli.command("worker")(worker_command)
cli.command("serve")(serve_command)
case_app.command("audit")(audit_command)
case_app.command("erase")(erase_command)
cli.add_typer(case_app, name="case")
cli.add_typer(keys_app, name="keys")
cli.add_typer(users_app, name="users")
cli.add_typer(tokens_app, name="tokens")
cli.add_typer(schema_app, name="schema")
cli.add_typer(uploads_app, name="uploads")
cli.add_typer(trials_app, name="trials")
cli.command("demo")(demo_command)


INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def run(argv: list[str] | None = None) -> int:
    """Run a command (sys.argv's by default) and return its exit code; a failure becomes one
    line on stderr: `error: ...`, or `{"error": "..."}` (the API's shape) under --json."""
    from coordinator.errors import error_output, wants_json

    args = sys.argv[1:] if argv is None else list(argv)
    try:
        # Outside standalone mode typer *returns* the code of an Exit it caught, including the
        # Exit(130) it makes of Ctrl-C or SIGTERM (coordinator/upload.py), rather than raising it;
        # dropping that return made an interrupted upload exit 0.
        result = cli(args=args, prog_name="caseflow", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except (KeyboardInterrupt, typer.Abort):
        result = INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the CLI's contract is one line, never a traceback
        line, code = error_output(error, wants_json(args))
        if line:  # a bare group name already printed its help
            print(line, file=sys.stderr)
        return code
    code = result if isinstance(result, int) else 0  # commands themselves return None
    if code == INTERRUPTED:
        print(json.dumps({"error": "interrupted"}) if wants_json(args) else "error: interrupted",
              file=sys.stderr)
    return code


def app() -> None:
    """The `caseflow` entry point."""
    code = run()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the Temporal SDK's runtime threads can abort it
    # ("PyGILState_Release", temporalio/sdk-python#300), turning a success into exit 134.
    os._exit(code or 0)
