"""`caseflow serve`: the web service (API, hospitals' reply path) in the foreground."""

from __future__ import annotations

from typing import Annotated

import typer


def serve_command(
    port: Annotated[
        int | None, typer.Option("--port", help="Port on 127.0.0.1; CASEFLOW_WEB_PORT otherwise.")
    ] = None,
) -> None:
    """Serve the API, the hospitals' reply path and the ops view on CASEFLOW_WEB_HOST:PORT."""
    from web.server import serve

    serve(port=port)
