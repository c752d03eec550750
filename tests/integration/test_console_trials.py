"""The case page's trial navigation in a real browser (issue 15): a "not a candidate" case shows
the ranked studies with why and what is unknown, a coordinator ticks one and refers the case, and
choosing to close asks for the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import pytest
from playwright.async_api import expect

from caseflow.case_events import ReviewOutcome, SubmitReview
from caseflow.case_status import CaseStage
from client import cases, trials
from coordinator.demo import DemoCase
from tests.integration.console_stack import (
    ConsoleStack,
    accessibility_problems,
    console_stack,
    screenshot,
)
from tests.integration.test_console_case_page import LIVE, status_when

pytestmark = pytest.mark.integration
FIXTURE = Path(str(resources.files("caseflow").joinpath("fictional_trials.json")))


@pytest.fixture(scope="module")
async def stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[ConsoleStack]:
    async with console_stack(temporal_dev_server, seaweed, tmp_path_factory.mktemp("t")) as s:
        yield s


async def not_a_candidate_case(stack: ConsoleStack, workdir: Path) -> str:
    case = DemoCase(stack.client, stack.settings, workdir, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    await cases.submit_review(stack.client, case_id, SubmitReview(
        outcome=ReviewOutcome.NOT_A_CANDIDATE, reviewer_id="dr-review"))
    await status_when(stack, case_id, lambda s: s.stage == CaseStage.NEXT_OPTION)
    return case_id


async def test_the_case_page_ranks_trials_and_refers_to_one(stack: ConsoleStack, tmp_path):
    trials.import_registry_file(stack.settings, FIXTURE)
    case_id = await not_a_candidate_case(stack, tmp_path)
    page = await stack.page_as("sup-cy")
    await page.goto(f"/console/cases/{case_id}")

    section = page.locator("#trials")
    await expect(section.locator("h2")).to_have_text("Clinical trials")
    first = section.locator("li.trial-match").first
    await expect(first).to_have_id("trial-NCT09990001")
    await expect(first.locator(".reason").first).to_contain_text("MeSH D006258")
    await expect(first.locator(".unknown").last).to_have_text(
        "? criteria in free text: the trial team decides"
    )
    await expect(section).to_contain_text("advisory")
    await expect(page.locator("#form-next-option")).to_be_visible()
    await screenshot(page, "case-page-trials")
    assert await accessibility_problems(page) == []

    # Refusal next to the form: nothing ticked.
    await page.locator("#form-trial-refer button[type=submit]").click()
    await expect(page.locator("#error-trial-refer")).to_have_text(
        "study_ids: tick at least one study"
    )
    await page.goto(f"/console/cases/{case_id}")
    await page.locator("#trial-pick-NCT09990001").check()
    await page.locator("#form-trial-refer button[type=submit]").click()
    await expect(page.locator("#notice")).to_contain_text("referred to NCT09990001")
    await page.goto(f"/console/cases/{case_id}")
    await expect(page.locator("#referral-trial-nct09990001-0 h3")).to_contain_text(
        "NCT09990001", timeout=LIVE
    )
    await expect(page.locator("#trial-pick-NCT09990001")).to_be_disabled()
    status = await cases.case_status(stack.client, case_id)
    assert status.stage == CaseStage.TRIAL_SCREENING
    await screenshot(page, "case-page-trial-referred")


async def test_closing_from_the_next_option_says_why(stack: ConsoleStack, tmp_path):
    case_id = await not_a_candidate_case(stack, tmp_path)
    page = await stack.page_as("sup-cy")
    await page.goto(f"/console/cases/{case_id}")
    form = page.locator("#form-next-option")
    await form.locator("#next-option-close").check()
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#error-next-option")).to_contain_text("reason")
    await page.locator("#form-next-option #next-option-close").check()
    await page.fill("#next-option-reason", "the patient chose care at home")
    await page.locator("#form-next-option button[type=submit]").click()
    await status_when(stack, case_id, lambda s: s.stage == CaseStage.CLOSED)
    await page.goto(f"/console/cases/{case_id}")
    await expect(page.locator("#case-header")).to_contain_text("the patient chose care at home")


async def test_the_demos_second_case_is_referred_to_a_trial_and_travels(
    stack: ConsoleStack, tmp_path
):
    """`caseflow demo`'s second case on a real stack: the trial team answers through the reply
    link in its e-mail."""
    from coordinator.trial_demo import run_trial_case

    said: list[str] = []
    case_id = await run_trial_case(stack.client, stack.settings, tmp_path, said.append,
                                   maildir=stack.mail.maildir)
    status = await cases.case_status(stack.client, case_id)
    assert status.stage == CaseStage.TRAVEL
    assert status.selected_hospital_id == "trial-nct09990001-0"
    site = status.hospitals[0]
    assert site.response is not None and site.response.answered_by == (
        "hospital:trial-nct09990001-0 (reply link)"
    )
    assert any("referred to NCT09990001" in line for line in said), said
