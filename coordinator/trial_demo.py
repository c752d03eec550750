"""The demo's second case (issue 15): not a candidate for re-irradiation, matched against the
fictional registry fixture, referred to the best-ranked study's trial team by e-mail, answered
"eligible for screening" through the reply link in that mail, and taken on to travel. It stays
open in TRAVEL, so the console shows it as a coordinator would find it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from temporalio.client import Client

from caseflow.case_events import ReviewOutcome, SubmitReview
from caseflow.case_status import CaseStage
from caseflow.settings import CaseflowSettings
from client import cases as case_client
from client import trials as trial_client
from coordinator.case_script import CaseScript, Narration, ScriptError
from coordinator.demo_hospitals import ReplyLinkHospital

FIXTURE = "fictional_trials.json"


async def run_trial_case(
    client: Client, settings: CaseflowSettings, workdir: Path, say: Callable[[str], None],
    maildir: Path | None = None,
) -> str:
    """The second case, start to TRAVEL; `maildir` is the SMTP sink's (the stack's by default),
    where the trial team finds its reply link."""
    fixture = Path(str(resources.files("caseflow").joinpath(FIXTURE)))
    summary = trial_client.import_registry_file(settings, fixture)
    say(f"trials: imported {summary.study_count} fictional studies ({summary.registry} v2 format)")
    case = CaseScript(client, settings, workdir, Narration(say))
    case_id = await case.start()
    await case.upload_records()
    await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    review = SubmitReview(
        outcome=ReviewOutcome.NOT_A_CANDIDATE,
        reviewer_id="specialist-demo",
        recommendation="Fictional demo review: cord dose at tolerance; no further photon RT.",
    )
    await case_client.submit_review(client, case_id, review)
    await case.wait_for_stage(CaseStage.NEXT_OPTION)
    say("   review: not a candidate for re-irradiation; the case waits for the next option")
    matches = await trial_client.case_trial_matches(client, settings, case_id)
    for m in matches.matches[:3]:
        say(f"   match {m.study_id} (score {m.score}): {m.title}")
    if not matches.matches:
        raise ScriptError(f"case {case_id}: no study of the fixture matched")
    best = matches.matches[0]
    await trial_client.refer_case_to_trials(
        client, settings, case_id, [best.study_id], referred_by="coord-demo"
    )
    await case.wait_until("the trial packet delivered", lambda p: bool(p.delivered))
    status = await case.status()  # the site's recipients and packet
    site = next(h for h in status.hospitals if h.delivered_at)
    say(f"   referred to {best.study_id} at {site.hospital_id}; packet e-mailed to "
        f"{', '.join(site.recipients)}")
    await ReplyLinkHospital(maildir or settings.data_dir / "mail").answer(
        site.packet_id or "",
        {"decision": "accept",
         "opinion": "Fictional demo answer: eligible for screening; a screening visit is offered."},
        "DEMO-TRIAL-0001",
    )
    await case.wait_until("the trial team's answer", lambda p: bool(p.answered))
    say("   the trial team answered eligible for screening through the reply link")
    await case_client.select_hospital(client, case_id, site.hospital_id)
    await case.wait_for_stage(CaseStage.TRAVEL)
    return case_id
