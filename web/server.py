"""Running the service: uvicorn on settings.web_host:web_port (127.0.0.1 by default). Behind a
TLS-terminating proxy in production, whose X-Forwarded-* headers are trusted from loopback only."""

from __future__ import annotations

import ctypes
import logging

import uvicorn
from pydantic import BaseModel

from caseflow.settings import CaseflowSettings, get_settings

# glibc's mallopt parameters (malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def bound_malloc() -> None:
    """Keep glibc's malloc from holding memory the service no longer uses (issue 10: under
    150 MiB during a 1 GiB upload; bench/portal_upload.py measured 2-3 MiB less at peak): two
    arenas rather than one per thread that ever allocated (boto3's worker threads, Temporal's
    runtime), and blocks of 256 KiB or more (the verifying read's) mapped and returned one by
    one rather than left in an arena. Must run before any thread starts; a no-op off glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_ARENA_MAX, 2)
    mallopt(M_MMAP_THRESHOLD, 256 * 1024)


def defer_model_builds() -> None:
    """Build each pydantic model's validator when the service first uses it, not when its class
    is defined: the service imports the worker's payload, event and workflow-state models for
    their types and validates few of them (bench/portal_upload.py: 4 MiB less). Must run before
    the app's modules are imported; a model that sets defer_build itself keeps its choice."""
    BaseModel.model_config["defer_build"] = True


def serve(settings: CaseflowSettings | None = None, port: int | None = None) -> None:
    bound_malloc()
    defer_model_builds()
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
