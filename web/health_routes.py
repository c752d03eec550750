"""Liveness and readiness: `/healthz` says the process serves; `/readyz` that Temporal and S3
answer. Neither needs a login, and neither says anything about a case."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _s3_answers(settings) -> None:
    from activities.s3_client import build_s3_client

    build_s3_client(settings, read_timeout=3).head_bucket(Bucket=settings.s3_bucket)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    checks: dict[str, str] = {}
    try:
        client = await asyncio.wait_for(request.app.state.temporal.client(), timeout=5)
        await asyncio.wait_for(client.service_client.check_health(), timeout=5)
        checks["temporal"] = "ok"
    except Exception as error:  # noqa: BLE001 - readiness reports, it does not raise
        checks["temporal"] = f"unreachable ({type(error).__name__})"
    try:
        await asyncio.wait_for(asyncio.to_thread(_s3_answers, settings), timeout=10)
        checks["s3"] = "ok"
    except Exception as error:  # noqa: BLE001
        checks["s3"] = f"unreachable ({type(error).__name__})"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)
