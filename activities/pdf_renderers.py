"""The PDF renderer pool: letters become PDFs in separate processes.

Typesetting is CPU work that would otherwise hold the GIL and stall the worker's polling and
heartbeats. Typst is loaded only in the renderer processes, never in the worker process or in
anything that imports the activity classes (workflows, the CLI). A renderer dies with the
process that started it (kill -9 included), so none is left behind reparented to pid 1.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import Any

from temporalio.exceptions import ApplicationError

# Well inside the activity's 2-minute start-to-close, including the wait for a free renderer.
PDF_RENDER_TIMEOUT = timedelta(seconds=60)


class CjkFontMissing(RuntimeError):
    """The letter has Chinese text and no CJK font is installed; it would render as boxes.

    Defined here, not beside Typst, so the worker can receive it from a renderer without
    loading Typst itself."""


def default_pdf_workers() -> int:
    """One renderer per core but one, so the worker process keeps a core (1 on 2 cores)."""
    return max(1, (os.cpu_count() or 2) - 1)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_CHECK_SECONDS = 0.5


def die_with_parent(parent: int) -> None:
    """Make this process end when process `parent` does, however it ends.

    Linux sends SIGKILL at once when the parent goes (prctl PR_SET_PDEATHSIG); the parent may
    have died before that call, hence the pid check after it. The kernel ties that signal to the
    *thread* that started this process, which here is one of the worker's long-lived activity
    threads; a watchdog thread also checks the parent pid, for other systems and as a backstop.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _start_renderer(parent: int) -> None:
    # Runs in each renderer process as it starts: tie its life to the worker's, and load Typst,
    # the template and the fonts now, not inside the first letter's timeout.
    die_with_parent(parent)
    from activities.letter_pdf import warm_up

    warm_up()


def _render_in_renderer(content: dict[str, Any], created_at: datetime | None) -> bytes:
    # Runs in a renderer process, which loaded Typst when it started.
    from activities.letter_pdf import render_pdf

    return render_pdf(content, created_at)


def _stop(pool: ProcessPoolExecutor) -> None:
    # No waiting: a garbage collection may run this on the pool's own manager thread.
    pool.shutdown(wait=False, cancel_futures=True)


class PdfRenderers:
    """Renderer processes, started on the first letter and stopped by close()."""

    def __init__(
        self, workers: int | None = None, timeout: timedelta = PDF_RENDER_TIMEOUT
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError("pdf_workers: must be at least 1")
        if timeout <= timedelta(0):
            raise ValueError("pdf_timeout: must be more than 0")
        self._workers = workers or default_pdf_workers()
        self._timeout = timeout
        self._pool: ProcessPoolExecutor | None = None
        self._pool_stop: weakref.finalize | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._drop(self._pool)

    def render(self, content: dict[str, Any], created_at: datetime | None = None) -> bytes:
        """The PDF of a letter's content (activities/letter_content.py); ApplicationError on a
        missing CJK font, a dead renderer (retryable) or a timeout."""
        pool = self._current()
        try:
            future = pool.submit(_render_in_renderer, content, created_at)
            return future.result(timeout=self._timeout.total_seconds())
        except CjkFontMissing as error:
            raise ApplicationError(str(error), type="CjkFontMissing", non_retryable=True) from None
        except BrokenProcessPool:
            # A renderer died (OOM, a crash in Typst): start afresh and let the activity retry.
            with self._lock:
                self._drop(pool)
            raise ApplicationError(
                "PDF renderer process stopped; retrying with a new one", type="PdfRendererFailed"
            ) from None
        except FutureTimeout:
            future.cancel()
            raise ApplicationError(
                f"PDF rendering took longer than {self._timeout.total_seconds():g}s",
                type="PdfRenderTimeout",
            ) from None

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: a fork of a process with gRPC and boto3 threads is not safe.
                pool = ProcessPoolExecutor(
                    max_workers=self._workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_renderer,
                    initargs=(os.getpid(),),
                )
                self._pool = pool
                # Also stopped if this object is dropped without close() (a test's worker).
                self._pool_stop = weakref.finalize(self, _stop, pool)
            return self._pool

    def _drop(self, pool: ProcessPoolExecutor | None) -> None:
        """Stop `pool` if it is still the current one; the next letter starts a fresh one."""
        if pool is None or pool is not self._pool:
            return
        self._pool = None
        if self._pool_stop is not None:
            self._pool_stop.detach()
            self._pool_stop = None
        pool.shutdown(wait=True, cancel_futures=True)
