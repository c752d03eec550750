"""Sorts a step activity's failures and keeps it heartbeating: infrastructure errors (S3 or an
endpoint unreachable, 5xx, timeouts, the mail relay down) stay retryable, for as long as the step's
patience lasts (workflows/step_policies.py); anything else is a real failure, raised
non-retryable so the step is parked for retry_step or skip_step at once. Every failure carries
the attempt it ended, so `case status` shows how many were made.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import botocore.exceptions
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

# The type of a retryable failure this module makes from an infrastructure exception.
INFRASTRUCTURE = "InfrastructureUnavailable"
# The type of a real failure made from any other exception (its class is named, never its text,
# which may quote patient data).
STEP_FAILED = "StepFailed"
# S3 error codes that say "try again" rather than "no".
_TRANSIENT_CODES = {
    "InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling",
    "ThrottlingException", "RequestTimeTooSkewed", "503", "500", "502", "504",
}
HEARTBEAT_EVERY = 1.0  # seconds; the workflows' heartbeat timeouts are a few of these

F = TypeVar("F", bound=Callable[..., Any])


def is_infrastructure(error: BaseException) -> bool:
    """Whether another attempt later could succeed without anyone changing anything."""
    if isinstance(error, botocore.exceptions.ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _TRANSIENT_CODES or int(status) >= 500
    # httpx only if something loaded it (workflows import this module, and through them the web
    # service, which need not load httpx at all): unloaded, it raised nothing.
    httpx = sys.modules.get("httpx")
    return isinstance(
        error,
        (
            botocore.exceptions.HTTPClientError,  # connection refused/closed, read/connect timeout
            botocore.exceptions.ConnectionError,
            *((httpx.TransportError,) if httpx is not None else ()),
            OSError,  # sockets, smtplib (SMTPException is an OSError), TimeoutError
        ),
    )


def classified(error: BaseException, attempt: int) -> BaseException:
    """The error to raise in place of `error`: the same kind of failure with its attempt."""
    details = {"attempt": attempt}
    if isinstance(error, ApplicationError):
        if error.details:
            return error
        return ApplicationError(
            error.message,
            details,
            type=error.type,
            non_retryable=error.non_retryable,
            next_retry_delay=error.next_retry_delay,
        )
    if is_infrastructure(error):
        code = ""
        if isinstance(error, botocore.exceptions.ClientError):
            code = f" {error.response.get('Error', {}).get('Code', '')}"
        return ApplicationError(
            f"infrastructure unavailable: {type(error).__name__}{code}", details,
            type=INFRASTRUCTURE,
        )
    return ApplicationError(
        f"step failed: {type(error).__name__}", details, type=STEP_FAILED, non_retryable=True
    )


def step_activity(fn: F) -> F:
    """Decorate an activity method (under @activity.defn): heartbeat while it runs and classify
    what it raises. Works for async and sync (thread-pool) activities."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            beating = asyncio.create_task(_beat_async())
            try:
                return await fn(*args, **kwargs)
            except (CancelledError, asyncio.CancelledError):
                raise
            except Exception as error:
                raise classified(error, activity.info().attempt) from None
            finally:
                beating.cancel()

        return cast(F, run_async)

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        with _beating_thread():
            try:
                return fn(*args, **kwargs)
            except CancelledError:
                raise
            except Exception as error:
                raise classified(error, activity.info().attempt) from None

    return cast(F, run_sync)


async def _beat_async() -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(HEARTBEAT_EVERY)


@contextlib.contextmanager
def _beating_thread() -> Iterator[None]:
    """Heartbeat from a side thread while a sync activity works (its own thread is busy)."""
    stop = threading.Event()
    context = contextvars.copy_context()  # carries the activity's context to the thread

    def beat() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # an activity already finishing
                activity.heartbeat()
            stop.wait(HEARTBEAT_EVERY)

    thread = threading.Thread(target=context.run, args=(beat,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
