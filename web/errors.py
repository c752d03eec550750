"""Every refusal as `{"error": "<one line>"}` with the right status, in the CLI's words
(client.errors), never with patient data or a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from client.cases import CaseClosed, CaseNotFound
from client.errors import one_line
from web.access import Forbidden, NotAuthenticated

log = logging.getLogger("caseflow.web")


class RequestTooLarge(Exception):
    """A body over its limit; nothing of it is kept."""


def error_response(status: int, message: str, headers: dict[str, str] | None = None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_line(error: RequestValidationError) -> str:
    parts = []
    for item in error.errors():
        # FastAPI puts "body"/"query"/"path" first; the CLI names the field alone.
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc)
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if item.get("type") == "json_invalid":
            message, where = "the body is not valid JSON", ""
        named = not where or message.startswith(f"{where}:")
        parts.append(message if named else f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError):
        return error_response(400, _validation_line(error))

    @app.exception_handler(ValidationError)
    async def invalid_model(_request: Request, error: ValidationError):
        return error_response(400, one_line(error))

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(_request: Request, error: NotAuthenticated):
        return error_response(401, str(error), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Forbidden)
    async def forbidden(_request: Request, error: Forbidden):
        return error_response(403, str(error))

    @app.exception_handler(CaseNotFound)
    async def not_found(_request: Request, error: CaseNotFound):
        return error_response(404, str(error))

    @app.exception_handler(CaseClosed)
    async def closed(_request: Request, error: CaseClosed):
        return error_response(409, str(error))

    @app.exception_handler(LookupError)
    async def lookup(_request: Request, error: LookupError):
        return error_response(404, one_line(error))

    @app.exception_handler(ValueError)
    async def bad_value(_request: Request, error: ValueError):
        return error_response(400, one_line(error))

    @app.exception_handler(RequestTooLarge)
    async def too_large(_request: Request, error: RequestTooLarge):
        return error_response(413, str(error))

    @app.exception_handler(WorkflowUpdateFailedError)
    async def refused(_request: Request, error: WorkflowUpdateFailedError):
        # The workflow's validator said no: the event never reached history.
        return error_response(409, one_line(error))

    @app.exception_handler(ApplicationError)
    async def application(_request: Request, error: ApplicationError):
        # A document the store refused, or a rule the client layer applies.
        return error_response(400 if error.non_retryable else 503, one_line(error))

    @app.exception_handler(RPCError)
    async def temporal(_request: Request, error: RPCError):
        if error.status == RPCStatusCode.NOT_FOUND:
            return error_response(404, one_line(error))
        log.warning("temporal call failed: %s", error.status.name if error.status else "?")
        return error_response(503, "the case service is unavailable; try again shortly")

    @app.exception_handler(StarletteHTTPException)
    async def http(_request: Request, error: StarletteHTTPException):
        detail = error.detail if isinstance(error.detail, str) else "request refused"
        return error_response(error.status_code, detail, getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        # The type only: an exception's text may carry what the request held.
        log.error("unhandled %s on %s", type(error).__name__, request.url.path)
        return error_response(500, "internal error; the request id is in the response headers")
