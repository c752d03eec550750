"""The trial navigation API (issue 15): the registry snapshot in force, a case's ranked studies,
its referral to studies, and its next option, calling client/trials.py as the CLI does."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from caseflow.case_status import EventAck
from caseflow.trial_referrals import ChooseNextOption
from caseflow.trial_registry import SnapshotSummary
from client import trials
from web.access import Staff
from web.app import temporal_client
from web.case_routes import _authorized, _with_actor, actor_id

router = APIRouter(prefix="/api/v1", tags=["trials"])
TemporalClient = Annotated[Client, Depends(temporal_client)]


class TrialReferralBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    study_ids: list[str] = Field(min_length=1, max_length=10)
    site: int | None = Field(default=None, ge=0)
    to: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Snapshots(BaseModel):
    snapshots: list[SnapshotSummary]


@router.get("/trials")
async def snapshots(request: Request, principal: Staff) -> Snapshots:
    """The trial registry snapshot in force per registry (public data: no case access needed)."""
    found = await asyncio.to_thread(trials.snapshot_summaries, request.app.state.settings)
    return Snapshots(snapshots=found)


@router.get("/cases/{case_id}/trials")
async def case_trials(
    request: Request, case_id: str, principal: Staff, client: TemporalClient
) -> trials.CaseTrialMatches:
    await _authorized(request, client, case_id, principal, "trials")
    return await trials.case_trial_matches(client, request.app.state.settings, case_id)


@router.post("/cases/{case_id}/trial-referrals")
async def trial_referrals(
    request: Request,
    case_id: str,
    body: TrialReferralBody,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "trial-refer")
    return await trials.refer_case_to_trials(
        client, request.app.state.settings, case_id, body.study_ids,
        site_index=body.site, recipient=body.to,
        referred_by=actor_id(principal),
    )


@router.post("/cases/{case_id}/next-option")
async def next_option(
    request: Request,
    case_id: str,
    event: ChooseNextOption,
    principal: Staff,
    client: TemporalClient,
) -> EventAck:
    await _authorized(request, client, case_id, principal, "next-option")
    return await trials.choose_next_option(
        client, case_id, _with_actor(event, "chosen_by", principal)
    )
