"""The work queue and the new-case form in a real browser against the real stack: a case started
from the form (after a field error that started nothing) appears in its coordinator's queue under
the patient's name, which visibility holds only as ciphertext; another coordinator never sees it;
a second case for the same person is flagged before it starts."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, expect
from temporalio.client import Client

from caseflow.case_events import Withdraw
from caseflow.intake import CaseIntake
from client import cases
from tests.integration.console_stack import accessibility_problems, console_stack, screenshot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "intake.json"
GIVEN, FAMILY, BORN = "Quenby", "Console-Canary", "1958-02-11"


@pytest_asyncio.fixture(scope="module")
async def stack(temporal_dev_server, seaweed, tmp_path_factory):
    async with console_stack(temporal_dev_server, seaweed, tmp_path_factory.mktemp("c")) as s:
        yield s


async def fill_intake(page: Page, *, born: str = BORN) -> None:
    await page.fill('[name="patient.given_name"]', GIVEN)
    await page.fill('[name="patient.family_name"]', FAMILY)
    await page.fill('[name="patient.date_of_birth"]', born)
    await page.select_option('[name="patient.sex"]', "female")
    await page.fill('[name="patient.country_of_residence"]', "KE")
    await page.fill('[name="patient.preferred_language"]', "en")
    await page.select_option('[name="clinical.primary_site"]', "head_and_neck")
    await page.fill('[name="clinical.histology"]', "squamous cell carcinoma")
    await page.select_option('[name="clinical.recurrence_pattern"]', "local")
    await page.fill('[name="clinical.lesion_count"]', "1")
    await page.fill('[name="clinical.largest_lesion_cm"]', "3.2")
    await page.fill('[name="clinical.ecog"]', "1")
    await page.fill('[name="clinical.prior_rt_courses.0.site"]', "oropharynx")
    await page.fill('[name="clinical.prior_rt_courses.0.technique"]', "IMRT")
    await page.fill('[name="clinical.prior_rt_courses.0.total_dose_gy"]', "70")
    await page.fill('[name="clinical.prior_rt_courses.0.fractions"]', "35")
    await page.fill('[name="clinical.prior_rt_courses.0.completed_on"]', "2024-09-10")
    await page.fill('[name="clinical.prior_rt_courses.0.oar_max_doses_gy"]', "spinal_cord: 44.5")
    await page.check("#f-country-IN")
    await page.check("#f-consent-IN-referral")


async def open_cases_of(client: Client, coordinator: str) -> list[cases.NamedCaseEntry]:
    return await cases.list_cases(
        client, coordinator_id=coordinator, open_only=True, with_names=True
    )


async def wait_for_row(page: Page, text: str) -> None:
    # The table polls every 5 s; visibility lags the start by up to a second.
    await expect(page.locator("table.queue")).to_contain_text(text, timeout=20_000)


async def test_start_from_the_form_and_find_the_patient_in_the_queue(stack):
    page = await stack.page_as("coord-ana")
    await page.goto("/console/cases/new")
    await screenshot(page, "console-new-case-form")
    assert await accessibility_problems(page) == []
    # A second course without JavaScript's help: the form comes back with one more, kept.
    await page.fill('[name="clinical.prior_rt_courses.0.site"]', "kept across the round trip")
    await page.click("text=Add another course")
    await expect(page.locator('[name="clinical.prior_rt_courses.1.site"]')).to_be_visible()
    assert await page.input_value('[name="clinical.prior_rt_courses.0.site"]') == (
        "kept across the round trip"
    )
    await page.click("text=Remove the last course")
    await expect(page.locator('[name="clinical.prior_rt_courses.1.site"]')).to_have_count(0)

    # A date of birth in the future: the CLI's words next to the field, and nothing started.
    future = (date.today() + timedelta(days=30)).isoformat()
    await fill_intake(page, born=future)
    await page.click("button:has-text('Start the case')")
    error = page.locator("#f-patient-date_of_birth-error")
    await expect(error).to_have_text(
        f"patient.date_of_birth: date of birth is in the future (today is {date.today()})"
    )
    assert await page.get_attribute("#f-patient-date_of_birth", "aria-describedby") == (
        "f-patient-date_of_birth-error"
    )
    assert await page.input_value('[name="patient.family_name"]') == FAMILY  # kept as typed
    assert await page.input_value('[name="patient.date_of_birth"]') == future
    await screenshot(page, "console-new-case-form-error")
    assert await accessibility_problems(page) == []
    await asyncio.sleep(1.5)
    # (Other modules' cases for coord-ana share the dev server: look for this patient's only.)
    started = [
        row
        for row in await open_cases_of(stack.client, "coord-ana")
        if row.patient_name and FAMILY in row.patient_name
    ]
    assert started == []

    await page.fill('[name="patient.date_of_birth"]', BORN)
    await page.click("button:has-text('Start the case')")
    await page.wait_for_url("**/console/cases/*")
    case_id = page.url.rsplit("/", 1)[-1]
    assert case_id not in (GIVEN, FAMILY) and FAMILY not in page.url

    await page.goto("/console")
    await wait_for_row(page, f"{GIVEN} {FAMILY}")
    row = page.locator("table.queue tr", has_text=FAMILY)
    await expect(row.locator("a")).to_have_attribute("href", f"/console/cases/{case_id}")
    await expect(page.locator("#queue-live")).to_have_attribute("aria-live", "polite")
    await expect(page.locator("#queue-live")).to_have_attribute("hx-trigger", "every 5s")
    await screenshot(page, "console-queue")
    assert await accessibility_problems(page) == []

    # The name is in the memo only, and only as ciphertext to a client without the codec.
    plain = await Client.connect(stack.settings.temporal_address)
    raw = await plain.get_workflow_handle(f"case-{case_id}").describe()
    memo = raw.raw_description.workflow_execution_info.memo.fields[cases.PATIENT_MEMO]
    assert memo.metadata["encoding"] == b"binary/encrypted"
    assert FAMILY.encode() not in memo.data and FAMILY.encode() not in memo.SerializeToString()
    assert FAMILY not in str(raw.typed_search_attributes) and FAMILY not in raw.id
    # The API's and the CLI's list stay name-free.
    token = stack.api_token("coord-ana")
    listed = httpx.get(
        f"{stack.url}/api/v1/cases", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert listed.status_code == 200 and FAMILY not in listed.text
    await page.context.close()


async def test_a_coordinator_never_sees_another_coordinators_case(stack):
    intake = json.loads(EXAMPLE.read_text())
    intake["coordinator_id"] = "coord-ana"
    intake["patient"] |= {"given_name": "Ana-Only", "family_name": "Private-Patient"}
    case_id = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today()
    )
    ana = await stack.page_as("coord-ana")
    await ana.goto("/console")
    await wait_for_row(ana, "Ana-Only Private-Patient")

    ben = await stack.page_as("coord-ben")
    await ben.goto("/console")
    await expect(ben.locator("h1")).to_have_text("My cases")
    await asyncio.sleep(6)  # one more poll of the live table
    assert "Private-Patient" not in await ben.content()
    assert case_id not in await ben.content()
    # Asking for coord-ana's queue by URL is refused.
    refused = await ben.goto("/console?coordinator=coord-ana")
    assert refused is not None and refused.status == 403
    refused = await ben.goto("/console/live?coordinator=coord-ana")
    assert refused is not None and refused.status == 403
    # Her case's page too (the case page's own check, web/case_pages.py, once it is in).
    opened = await ben.goto(f"/console/cases/{case_id}")
    assert opened is not None
    if opened.status == 404:
        pytest.skip("the case page is not on this branch yet")
    assert opened.status == 403
    assert "Private-Patient" not in await ben.content()

    # A supervisor sees both coordinators' cases; ops staff get the 403 page.
    cy = await stack.page_as("sup-cy")
    await cy.goto("/console?coordinator=coord-ana")
    await wait_for_row(cy, "Ana-Only Private-Patient")
    di = await stack.page_as("ops-di")
    denied = await di.goto("/console")
    assert denied is not None and denied.status == 403
    await expect(di.locator("p.error")).to_contain_text("coordinators and supervisors")
    for page in (ana, ben, cy, di):
        await page.context.close()


async def test_a_second_case_for_the_same_person_is_flagged_first(stack):
    intake = json.loads(EXAMPLE.read_text())
    intake["coordinator_id"] = "coord-ben"
    intake["patient"] |= {"given_name": "Dup", "family_name": "Twice-Seen",
                          "date_of_birth": "1970-05-05"}
    first = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today()
    )
    while not any(r.case_id == first for r in await open_cases_of(stack.client, "coord-ben")):
        await asyncio.sleep(0.3)
    page = await stack.page_as("coord-ben")
    await page.goto("/console/cases/new")
    await fill_intake(page)
    await page.fill('[name="patient.given_name"]', "dup ")  # case and spacing do not hide it
    await page.fill('[name="patient.family_name"]', "Twice-Seen")
    await page.fill('[name="patient.date_of_birth"]', "1970-05-05")
    await page.click("button:has-text('Start the case')")
    flag = page.locator("#duplicate")
    await expect(flag).to_contain_text("Possible duplicate")
    await expect(flag.locator(f'a[href="/console/cases/{first}"]')).to_be_visible()
    await screenshot(page, "console-new-case-duplicate")
    before = len(await open_cases_of(stack.client, "coord-ben"))
    await page.click("button:has-text('Start anyway')")
    await page.wait_for_url("**/console/cases/*")
    second = page.url.rsplit("/", 1)[-1]
    assert second != first
    # Sending the same form again finds its case instead of starting a third.
    for _ in range(50):
        rows = await open_cases_of(stack.client, "coord-ben")
        if len(rows) == before + 1:
            break
        await asyncio.sleep(0.2)
    assert len(rows) == before + 1
    await page.context.close()


async def test_closed_cases_show_when_asked(stack):
    """A case that has closed (the demo's, one withdrawn) leaves the open queue; 'closed cases
    too' finds it again."""
    intake = json.loads(EXAMPLE.read_text())
    intake["coordinator_id"] = "coord-ana"
    intake["patient"] |= {"given_name": "Closed-Once", "family_name": "Withdrawn-Patient"}
    case_id = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today()
    )
    await cases.withdraw(stack.client, case_id, Withdraw(reason="patient chose local care"))
    await cases.case_handle(stack.client, case_id).result()
    ana = await stack.page_as("coord-ana")
    await ana.goto("/console?closed=1")
    await wait_for_row(ana, "Closed-Once Withdrawn-Patient")
    await ana.goto("/console")
    await expect(ana.locator("table.queue")).not_to_contain_text("Closed-Once")
