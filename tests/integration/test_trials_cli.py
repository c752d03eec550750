"""Trial navigation through the real CLI, dev server, SeaweedFS, worker and SMTP sink (issue 15):
the registry import and its refusals, a "not a candidate" case matched, referred to a study's
trial team by e-mail, answered eligible and taken on to travel."""

from __future__ import annotations

import json
import mailbox
from importlib import resources
from pathlib import Path

import pytest

from caseflow.case_status import CaseStage
from client import cases as case_client
from client import trials as trial_client
from tests.integration.test_case_cli import one_line
from tests.integration.test_case_lifecycle import CaseStack, case_stack, until

pytestmark = pytest.mark.integration
__all__ = ["case_stack"]

FIXTURE = Path(str(resources.files("caseflow").joinpath("fictional_trials.json")))
SITE = "trial-nct09990001-0"
TRIAL_TEAM = "bnct-trials@bnct-xiamen.example.invalid"


async def test_import_refuses_malformed_and_truncated_files_keeping_the_snapshot(
    case_stack: CaseStack, tmp_path
):
    code, out, err = await case_stack.caseflow("trials", "import", str(FIXTURE), "--json")
    assert code == 0, err
    imported = json.loads(out)
    assert imported["study_count"] == 8 and imported["registry"] == "clinicaltrials.gov"

    truncated = tmp_path / "cut.json"
    truncated.write_bytes(FIXTURE.read_bytes()[:5000])
    code, _, err = await case_stack.caseflow("trials", "import", str(truncated))
    one_line(code, err, "cut.json: truncated")
    broken = tmp_path / "broken.json"
    study = json.loads(FIXTURE.read_text())["studies"][0]
    del study["protocolSection"]["identificationModule"]["nctId"]
    broken.write_text(json.dumps([study]))
    code, _, err = await case_stack.caseflow("trials", "import", str(broken))
    one_line(code, err, "studies.0.protocolSection.identificationModule.nctId")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": "world"}))
    code, _, err = await case_stack.caseflow("trials", "import", str(other), "--json")
    assert code == 1 and json.loads(err)["error"].startswith("other.json: not a ClinicalTrials")

    # The first import is still the snapshot in force.
    code, out, err = await case_stack.caseflow("trials", "list", "--studies", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [s["source_sha256"] for s in listed["snapshots"]] == [imported["source_sha256"]]
    assert len(listed["studies"]) == 8


async def test_not_a_candidate_matched_referred_to_a_trial_and_on_to_travel(
    case_stack: CaseStack, tmp_path
):
    from coordinator.demo import DemoCase

    code, _, err = await case_stack.caseflow("trials", "import", str(FIXTURE))
    assert code == 0, err
    case = DemoCase(case_stack.client, case_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"outcome": "not_a_candidate", "reviewer_id": "dr-review"}))
    code, out, err = await case_stack.caseflow("case", "review", case_id, str(review), "--json")
    assert code == 0, err
    assert json.loads(out)["stage"] == "NEXT_OPTION"

    code, out, err = await case_stack.caseflow("case", "trials", case_id, "--json")
    assert code == 0, err
    matches = json.loads(out)
    ranked = [m["study_id"] for m in matches["matches"]]
    assert ranked[0] == "NCT09990001"
    assert "NCT09990005" not in ranked  # completed
    assert "NCT09990006" not in ranked  # no site in IN or CN
    assert "NCT09990007" not in ranked  # male only
    assert "trial team decides" in matches["advisory"]
    code, out, err = await case_stack.caseflow("case", "trials", case_id)
    assert code == 0, err
    assert "criteria in free text: the trial team decides" in out and "MeSH" in out

    code, _, err = await case_stack.caseflow("case", "trial-refer", case_id, "NCT00000000")
    one_line(code, err, "no study NCT00000000")
    code, out, err = await case_stack.caseflow(
        "case", "trial-refer", case_id, "NCT09990001", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["stage"] == "TRIAL_SCREENING"

    async def delivered():
        status = await case_client.case_status(case_stack.client, case_id)
        site = next((h for h in status.hospitals if h.hospital_id == SITE), None)
        return status if site is not None and site.delivered_at else None

    status = await until("the trial packet delivered", delivered, timeout=30)
    assert status.trials[0].study_id == "NCT09990001"
    mails = [m for m in mailbox.Maildir(case_stack.mail.maildir) if TRIAL_TEAM in m["To"]]
    assert len(mails) == 1

    answer = tmp_path / "eligible.json"
    answer.write_text(json.dumps({"decision": "accept", "opinion": "eligible for screening"}))
    code, _, err = await case_stack.caseflow("case", "respond", case_id, SITE, str(answer))
    assert code == 0, err
    code, out, err = await case_stack.caseflow("case", "status", case_id)
    assert code == 0, err
    assert "eligible for screening" in out and "NCT09990001" in out
    code, out, err = await case_stack.caseflow("case", "select", case_id, SITE, "--json")
    assert code == 0, err
    assert json.loads(out)["stage"] == "TRAVEL"
    matches_after = await trial_client.case_trial_matches(
        case_stack.client, case_stack.settings, case_id
    )
    assert matches_after.matches  # matching still reads the case once it has moved on


async def test_next_option_close_says_why(case_stack: CaseStack, tmp_path):
    from coordinator.demo import DemoCase

    case = DemoCase(case_stack.client, case_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    review = tmp_path / "review.json"
    review.write_text(json.dumps({"outcome": "not_a_candidate", "reviewer_id": "dr-review"}))
    code, _, err = await case_stack.caseflow("case", "review", case_id, str(review))
    assert code == 0, err
    code, _, err = await case_stack.caseflow("case", "next-option", case_id, "maybe",
                                             "--reason", "x")
    assert code == 2 and "maybe" in err
    code, out, err = await case_stack.caseflow(
        "case", "next-option", case_id, "close", "--reason", "the patient chose hospice care"
    )
    assert code == 0, err
    code, out, err = await case_stack.caseflow("case", "status", case_id)
    assert code == 0, err
    assert "the patient chose hospice care" in out
