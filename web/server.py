"""Running the service: uvicorn on settings.web_host:web_port (127.0.0.1 by default). Behind a
TLS-terminating proxy in production, whose X-Forwarded-* headers are trusted from loopback only."""

from __future__ import annotations

import logging

import uvicorn

from caseflow.settings import CaseflowSettings, get_settings


def serve(settings: CaseflowSettings | None = None, port: int | None = None) -> None:
    settings = settings or get_settings()
    from web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.web_host,
        port=port or settings.web_port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        # Our own request log names the route template and the identity; uvicorn's would log
        # raw paths, which carry reply-link tokens.
        access_log=False,
        server_header=False,
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the caseflow web service")
    parser.add_argument("--port", type=int, default=None)
    serve(port=parser.parse_args().port)
