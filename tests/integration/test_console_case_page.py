"""The console's case page in a real browser (Debian's chromium through Playwright) against the
real stack: upload with the progress bar, waive and review through the forms, referrals and
answers appearing without a reload, choosing between two answers, refusals next to the form."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from caseflow.case_events import CostEstimate, HospitalDecision, HospitalResponse, WaiveRequirement
from caseflow.case_status import CaseStage, CaseStatus
from caseflow.intake import CaseIntake
from client import cases
from coordinator.case_script import fictional_pdf
from tests.integration.console_stack import (
    PASSWORD,
    SCREENSHOTS,
    ConsoleStack,
    accessibility_problems,
    console_stack,
    screenshot,
)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# A manual and an e-mail hospital: both take their packets on the test stack.
TARGETS = ("cn-beijing-cancer", "in-chennai-proton")
# The live fragment polls every few seconds; a change shows within this.
LIVE = 20_000


@pytest.fixture(scope="module")
async def stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[ConsoleStack]:
    async with console_stack(temporal_dev_server, seaweed, tmp_path_factory.mktemp("c")) as s:
        yield s


async def start_case(stack: ConsoleStack, coordinator_id: str = "coord-ana") -> str:
    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["coordinator_id"] = coordinator_id
    case_id = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today()
    )
    await status_when(stack, case_id, lambda s: s.stage == CaseStage.RECORDS)
    return case_id


async def status_when(
    stack: ConsoleStack, case_id: str, ready: Callable[[CaseStatus], bool], seconds: float = 60
) -> CaseStatus:
    for _ in range(int(seconds * 5)):
        status = await cases.case_status(stack.client, case_id)
        if ready(status):
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"case {case_id} did not get there; it is in {status.stage}")


async def open_case(page: Page, case_id: str) -> None:
    await page.goto(f"/console/cases/{case_id}")
    # A marker that a reload would lose: the page must change without one.
    await page.evaluate("window.notReloaded = true")


async def test_the_case_page_from_records_to_a_chosen_hospital(stack: ConsoleStack, tmp_path):
    case_id = await start_case(stack)
    page = await stack.page_as("coord-ana")
    await open_case(page, case_id)

    header = page.locator("#case-header")
    await expect(header.locator("h1")).to_contain_text(case_id)
    await expect(header.locator('[aria-current="step"]')).to_have_text("Records")
    await expect(page.locator("#triage .advisory")).to_have_text("advisory: a specialist decides")
    await expect(page.locator("#checklist code").first).to_have_text("seed:FAQ-workup")

    # Upload a document: the progress bar fills, and the item turns satisfied.
    pdf = tmp_path / "biopsy report.pdf"
    pdf.write_bytes(fictional_pdf("biopsy report") + b"%" * 2_000_000)
    await page.set_input_files("#file-biopsy", str(pdf))
    await page.locator("#item-biopsy [data-upload-start]").click()
    await page.wait_for_function(
        "() => { const p = document.querySelector('#progress-biopsy');"
        " return p && !p.hidden && p.max > 1 && p.value === p.max; }"
    )
    await expect(page.locator("#item-biopsy")).to_have_attribute(
        "data-item-state", "satisfied", timeout=LIVE
    )
    await expect(page.locator("#progress-biopsy")).to_have_attribute(
        "aria-label", "Upload of Biopsy report of the recurrence"
    )
    await screenshot(page, "case-page-records")
    assert await accessibility_problems(page) == []

    # A rejection from the workflow's validator: one line next to the form, the choice kept.
    consent = page.locator("#form-consent")
    await consent.locator("select[name=country]").select_option("IN")
    await consent.locator("select[name=hospital_id]").select_option("cn-beijing-cancer")
    await consent.locator("button[type=submit]").click()
    await expect(page.locator("#error-consent")).to_have_text(
        "hospital_id: hospital cn-beijing-cancer is not in IN"
    )
    await expect(page.locator("#form-consent select[name=hospital_id]")).to_have_value(
        "cn-beijing-cancer"
    )
    await expect(page.locator("#consent-country")).to_have_attribute(
        "aria-describedby", "error-consent"
    )
    await screenshot(page, "case-page-rejection")
    await consent.screenshot(path=str(SCREENSHOTS / "case-page-rejection-form.png"))

    # Erase refuses a wrongly retyped case id, and nothing changes.
    await page.fill("#erase-confirm", "not-the-case-id")
    await page.fill("#erase-withdraw-reason", "test")
    await page.locator("#form-erase button[type=submit]").click()
    await expect(page.locator("#error-erase")).to_contain_text("retype the case id")
    assert (await cases.case_status(stack.client, case_id)).stage == CaseStage.RECORDS

    # Waive through the form.
    await page.select_option("#waive-item", "imaging")
    await page.fill("#waive-reason", "Fictional: the scans were lost in a flood")
    await page.locator("#form-waive button[type=submit]").click()
    await expect(page.locator("#item-imaging")).to_have_attribute(
        "data-item-state", "waived", timeout=LIVE
    )
    await expect(page.locator("#notice")).to_contain_text("imaging waived")

    # The rest as another coordinator's tool would (the client layer): the page follows live.
    status = await cases.case_status(stack.client, case_id)
    for item in status.checklist:
        if not item.satisfied_by and not item.waived_reason:
            await cases.waive_requirement(
                stack.client, case_id,
                WaiveRequirement(item_id=item.item_id, reason="Fictional test waiver"),
            )
    await expect(page.locator('#case-header [aria-current="step"]')).to_have_text(
        "Specialist review", timeout=LIVE
    )

    # The review through the form; the referrals appear without a reload.
    await expect(page.locator("#form-review")).to_be_visible(timeout=LIVE)
    await page.fill("#review-reviewer", "specialist-demo")
    for hospital_id in TARGETS:
        await page.check(f"#review-target-{hospital_id}")
    await page.check("#review-modality-sbrt")
    await page.locator("#form-review button[type=submit]").click()
    for hospital_id in TARGETS:
        await expect(page.locator(f"#referral-{hospital_id}")).to_be_visible(timeout=LIVE)
    await expect(page.locator('#case-header [aria-current="step"]')).to_have_text(
        "Hospital submission", timeout=LIVE
    )

    # Two hospitals answer (as their reply path would, through the client layer).
    await status_when(
        stack, case_id,
        lambda s: {h.hospital_id for h in s.hospitals if h.packet_prefix} >= set(TARGETS),
    )
    offers = (("cn-beijing-cancer", 42000, 30), ("in-chennai-proton", 38000, 21))
    for hospital_id, amount, days in offers:
        await cases.record_hospital_response(
            stack.client, case_id,
            HospitalResponse(
                hospital_id=hospital_id,
                decision=HospitalDecision.ACCEPT,
                opinion="Fictional opinion: suitable for re-irradiation.",
                proposed_treatment=f"Fictional plan from {hospital_id}: SBRT in five fractions",
                cost_estimate=CostEstimate(amount=amount, currency="USD"),
                earliest_admission_date=date.today() + timedelta(days=days),
                visa_invitation_possible=True,
            ),
        )
    answers = page.locator("#answers article")
    await expect(answers).to_have_count(2, timeout=LIVE)
    await expect(page.locator("#answer-cn-beijing-cancer")).to_contain_text("42,000 USD")
    await expect(page.locator("#referral-in-chennai-proton")).to_contain_text("Fictional plan")
    await expect(page.locator("#referral-cn-beijing-cancer a")).to_have_attribute(
        "href", f"/console/cases/{case_id}/packets/cn-beijing-cancer"
    )
    await screenshot(page, "case-page-hospital-submission")
    await page.locator("#referrals").screenshot(path=str(SCREENSHOTS / "case-page-referrals.png"))

    # Choose one of them with its button.
    chennai = await hospital_name(page, "in-chennai-proton")
    await page.get_by_role("button", name=f"Select {chennai}").click()
    await expect(page.locator('#case-header [aria-current="step"]')).not_to_have_text(
        "Hospital submission", timeout=LIVE
    )
    status = await cases.case_status(stack.client, case_id)
    assert status.selected_hospital_id == "in-chennai-proton"
    assert await page.evaluate("window.notReloaded === true")
    await screenshot(page, "case-page-selected")


async def hospital_name(page: Page, hospital_id: str) -> str:
    return (await page.locator(f"#answer-title-{hospital_id}").inner_text()).strip()


async def test_the_packet_page_lists_fresh_links(stack: ConsoleStack):
    case_id = await start_case(stack)
    page = await stack.page_as("coord-ana")
    response = await page.goto(f"/console/cases/{case_id}/packets/cn-beijing-cancer")
    assert response is not None and response.status == 404
    await expect(page.locator(".error")).to_contain_text("no referral to 'cn-beijing-cancer'")


async def test_another_coordinators_case_and_no_login(stack: ConsoleStack):
    case_id = await start_case(stack, "coord-ana")
    page = await stack.page_as("coord-ben")
    response = await page.goto(f"/console/cases/{case_id}")
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_have_text("Not allowed")
    await expect(page.locator("[role=alert]")).to_have_text(
        f"case {case_id} is not assigned to you"
    )
    assert "Example-Patient" not in await page.content()
    supervisor = await stack.page_as("sup-cy")
    response = await supervisor.goto(f"/console/cases/{case_id}")
    assert response is not None and response.status == 200
    await expect(supervisor.locator("#case-header h1")).to_contain_text("Fictional Example-Patient")

    context = await stack.browser.new_context(base_url=stack.url)
    anonymous = await context.new_page()
    await anonymous.goto(f"/console/cases/{case_id}")
    assert anonymous.url.endswith(f"/login?next=/console/cases/{case_id}")


async def test_the_forms_work_without_javascript(stack: ConsoleStack):
    """A plain form post: a refusal renders the page with the line next to the form (409), an
    accepted action redirects back to the page with its message."""
    case_id = await start_case(stack)
    context = await stack.browser.new_context(base_url=stack.url, java_script_enabled=False)
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("input[name=login]", "coord-ana")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.goto(f"/console/cases/{case_id}")
    await page.select_option("#consent-country", "IN")
    await page.select_option("#consent-hospital", "cn-beijing-cancer")
    async with page.expect_navigation() as refused:
        await page.locator("#form-consent button[type=submit]").click()
    assert (await refused.value).status == 409
    await expect(page.locator("#error-consent")).to_have_text(
        "hospital_id: hospital cn-beijing-cancer is not in IN"
    )
    await page.fill("#hold-reason", "Fictional: the patient asked for a week")
    await page.locator("#form-hold button[type=submit]").click()
    await expect(page.locator("#notice")).to_contain_text("hold:")
    assert page.url.endswith(f"/console/cases/{case_id}#actions")
    await expect(page.locator("#form-resume")).to_be_visible()
    assert (await cases.case_status(stack.client, case_id)).on_hold
    await context.close()


async def test_the_case_page_works_from_the_keyboard(stack: ConsoleStack):
    """Tab moves through the first action form's fields in order, focus is visible, and each
    field is found by its role and label."""
    case_id = await start_case(stack)
    page = await stack.page_as("coord-ana")
    await open_case(page, case_id)
    waive = page.get_by_role("form", name="Waive a checklist item")
    item = waive.get_by_role("combobox", name="Item")
    reason = waive.get_by_role("textbox", name="Reason")
    button = waive.get_by_role("button", name="Waive")
    await item.focus()
    order = []
    for _ in range(3):
        focused = "document.activeElement.id || document.activeElement.textContent"
        order.append(await page.evaluate(focused))
        outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), f"no visible focus on {order[-1]}"
        await page.keyboard.press("Tab")
    assert order == ["waive-item", "waive-reason", "Waive"]
    await item.select_option("imaging")
    await reason.focus()
    await page.keyboard.type("Fictional: waived from the keyboard")
    await button.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#item-imaging")).to_have_attribute(
        "data-item-state", "waived", timeout=LIVE
    )
    # The live notice is polite and says what happened.
    await expect(page.get_by_role("status").first).to_contain_text("imaging waived")


async def test_the_front_door_leads_to_the_console(stack: ConsoleStack):
    context = await stack.browser.new_context(base_url=stack.url)
    page = await context.new_page()
    await page.goto("/")
    assert page.url.endswith("/login?next=/console")
    await page.fill("input[name=login]", "coord-ana")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console")
    await expect(page.locator("h1")).to_have_text("My cases")
    await page.goto("/login")  # a login without `next` lands on the console too
    await page.fill("input[name=login]", "coord-ana")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console")
    await page.goto("/")
    assert page.url.endswith("/console")
    await context.close()
