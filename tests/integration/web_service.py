"""The real web service for tests: uvicorn serving `create_app(settings)` on a free loopback port,
in a thread of the test process, stopped by the test that started it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from caseflow.settings import CaseflowSettings
from infra.server_process import free_port
from web.access import Authenticator
from web.app import create_app


class ServiceThread:
    def __init__(self, settings: CaseflowSettings, authenticator: Authenticator | None = None):
        port = free_port()
        self.settings = settings.model_copy(
            update={"web_port": port, "public_url": f"http://127.0.0.1:{port}"}
        )
        self.app = create_app(self.settings, authenticator=authenticator)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web-service", daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the web service did not answer /healthz")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def running_service(
    settings: CaseflowSettings, authenticator: Authenticator | None = None
) -> Iterator[ServiceThread]:
    service = ServiceThread(settings, authenticator)
    service.start()
    try:
        yield service
    finally:
        service.stop()
