"""`caseflow demo`: drive one fictional case through every stage on the running stack.

The case is coordinator/case_script.py's, narrated: each stage and step is printed as it happens.
Its trip is recorded as over a year ago, so every follow-up timer has already fired and the demo
ends in about a minute without shortening them. A live case waits for its timers.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from caseflow.case_status import CaseOutcome, CaseProgress, CaseResult
from caseflow.documents import DocumentKind
from caseflow.settings import CaseflowSettings, get_settings
from client import cases as case_client
from coordinator.case_commands import reach_temporal
from coordinator.case_script import (
    DELIVERY_HOSPITALS,
    OTHER_HOSPITAL,
    SELECTED_HOSPITAL,
    TRIP_DAYS_AGO,
    CaseScript,
    Narration,
    ScriptError,
    fictional_pdf,
)
from coordinator.demo_hospitals import ReplyLinkHospital, SignedCallbackHospital

# The hospital ids stay importable from here for tests/histories/record.py, which predates
# coordinator/case_script.py.
__all__ = ["OTHER_HOSPITAL", "SELECTED_HOSPITAL", "DemoCase", "DemoError", "demo_command"]

DemoError = ScriptError


async def require_worker(client: Client, settings: CaseflowSettings, wait: float = 10.0) -> None:
    """Fail early, in one line, when no worker polls the task queue."""
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal_namespace,
        task_queue=TaskQueue(name=settings.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    deadline = time.monotonic() + wait
    while True:
        response = await client.workflow_service.describe_task_queue(request)
        if response.pollers:
            return
        if time.monotonic() > deadline:
            raise DemoError(
                f"no worker polls task queue {settings.task_queue!r}: "
                "start one with 'caseflow dev up --with-worker'"
            )
        await asyncio.sleep(0.5)


class DemoCase(CaseScript):
    """The demo's case: the scripted case, narrated through `say`, one line per stage and step.
    Hospitals with a webhook or e-mail channel answer through the service's reply path; a
    manual hospital's answer is typed in by the coordinator, as in real life."""

    def __init__(
        self,
        client: Client,
        settings: CaseflowSettings,
        workdir: Path,
        say: Callable[[str], None] = print,
        **options: Any,
    ) -> None:
        super().__init__(client, settings, workdir, Narration(say), **options)

    async def hospitals_respond(self) -> None:
        await self.packets_stored()
        status = await self.status()  # each referral's channel and packet id
        channels = {h.hospital_id: h for h in status.hospitals}
        if all(channels[h].channel == "manual" for h in (self.selected, self.other)):
            await super().hospitals_respond()
            return
        for hospital_id, amount in ((self.selected, 38000), (self.other, 42000)):
            referral = channels[hospital_id]
            answer = {
                "decision": "accept",
                "opinion": "Fictional demo opinion: suitable for re-irradiation.",
                "earliest_admission_date": (self.trip + timedelta(days=20)).isoformat(),
            }
            reference = f"DEMO-{hospital_id[:6].upper()}-0001"
            if referral.channel == "webhook":
                secret = self.settings.hospital_callback_secrets[hospital_id]
                documents = [
                    (DocumentKind.HOSPITAL_OPINION.value, fictional_pdf("hospital opinion")),
                    (DocumentKind.COST_ESTIMATE.value, fictional_pdf("cost estimate")),
                ]
                await SignedCallbackHospital(
                    self.settings.public_url, hospital_id, secret.get_secret_value()
                ).answer(
                    referral.packet_id or "",
                    {
                        **answer,
                        "cost_estimate": {"amount": amount, "currency": "USD"},
                        "visa_invitation_possible": True,
                    },
                    documents,
                    reference,
                )
                how = "by signed callback"
            else:
                await ReplyLinkHospital(self.settings.data_dir / "mail").answer(
                    referral.packet_id or "",
                    {
                        **answer,
                        "cost_estimate.amount": str(amount),
                        "cost_estimate.currency": "USD",
                        "visa_invitation_possible": "yes",
                    },
                    reference,
                )
                how = "through the reply link in its e-mail"
            await self.wait_until(f"{hospital_id}'s answer", _answered(hospital_id))
            self.listener.step_done(f"   {hospital_id} acknowledged and accepted {how}")


def _answered(hospital_id: str) -> Callable[[CaseProgress], bool]:
    def answered(progress: CaseProgress) -> bool:
        return hospital_id in progress.answered

    return answered


async def run_demo(
    settings: CaseflowSettings, say: Callable[[str], None], trial_case: list[str] | None = None
) -> CaseResult:
    client = await reach_temporal(settings)
    await require_worker(client, settings)
    with tempfile.TemporaryDirectory(prefix="caseflow-demo-") as workdir:
        say(
            f"demo: a fictional case; the trip is recorded as {TRIP_DAYS_AGO} days ago so "
            "every follow-up timer has already fired"
        )
        case = DemoCase(client, settings, Path(workdir), say, hospitals=DELIVERY_HOSPITALS)
        result = await case.run()
        if trial_case is not None:  # issue 15: the second case, matched and referred to a trial
            from coordinator.trial_demo import run_trial_case

            say("demo: a second fictional case, not a candidate for re-irradiation")
            trial_case.append(await run_trial_case(client, settings, Path(workdir), say))
    say(
        f"packets: the webhook hospital's in {settings.data_dir / 'webhooks'}, "
        f"the email hospital's in {settings.data_dir / 'mail'}"
    )
    return result


def demo_command(
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document at the end (case id, outcome, links, the steps) "
            "instead of narrating.",
        ),
    ] = False,
) -> None:
    """Drive a fictional case through every stage on the running stack (needs the worker)."""
    console = Console()
    settings = get_settings()
    started = time.monotonic()
    steps: list[str] = []

    def say(text: str) -> None:
        if json_output:
            steps.append(text)
        else:
            console.print(text, highlight=False, soft_wrap=True)

    trial_case: list[str] = []
    result = asyncio.run(run_demo(settings, say, trial_case))
    if result.outcome != CaseOutcome.COMPLETED:
        raise DemoError(f"case {result.case_id} closed as {result.outcome.value}")
    ui = case_client.ui_link(settings, result.case_id)
    console_link = f"{settings.public_url.rstrip('/')}/console/cases/{result.case_id}"
    seconds = time.monotonic() - started
    if json_output:
        print(
            json.dumps(
                {
                    "case_id": result.case_id,
                    "outcome": result.outcome.value,
                    "closed_at": result.closed_at.isoformat(),
                    "seconds": round(seconds, 1),
                    "ui": ui,
                    "console": console_link,
                    "trial_case_id": trial_case[0] if trial_case else None,
                    "steps": steps,
                }
            )
        )
        return
    console.print(
        f"[green]case {result.case_id} CLOSED ({result.outcome.value})[/green] in "
        f"{seconds:.0f} s; its stage history: {ui}; in the console (as coord-demo): "
        f"{console_link}",
        highlight=False,
        soft_wrap=True,
    )
    if trial_case:
        console.print(
            f"[green]case {trial_case[0]} in TRAVEL[/green] after a trial referral; in the "
            f"console: {settings.public_url.rstrip('/')}/console/cases/{trial_case[0]}",
            highlight=False, soft_wrap=True,
        )
