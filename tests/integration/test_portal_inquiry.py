"""The patient's inquiry in a real browser on the real stack: a patient fills the form in Chinese
(an error first, in Chinese, next to its field), confirms from the mail in the SMTP sink (subject
without name or clinical words), and the coordinator finds the inquiry first in the queue, flagged
as a possible duplicate of an open case for the same person, and accepts it into RECORDS; a
second click on the link changes nothing; a burst of posts from one address is refused."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from datetime import date

import httpx
import pytest_asyncio
from playwright.async_api import Page, expect

from caseflow.case_status import CaseStage
from caseflow.inquiry import INQUIRY_POOL
from client import cases
from tests.integration.console_stack import console_stack, screenshot
from tests.workflows.cases import intake as fictional_intake

GIVEN, FAMILY, BORN = "Meiling", "Portal-Canary", "1961-04-02"
EMAIL = "meiling.portal@example.invalid"
ZH = {"locale": "zh-CN", "extra_http_headers": {"Accept-Language": "zh-CN,zh;q=0.9"}}


@pytest_asyncio.fixture(scope="module")
async def stack(temporal_dev_server, seaweed, tmp_path_factory):
    async with console_stack(temporal_dev_server, seaweed, tmp_path_factory.mktemp("p")) as s:
        yield s


async def fill_inquiry(page: Page, *, email_address: str = EMAIL) -> None:
    await page.check("#by-patient")
    await page.fill('[name="patient.given_name"]', GIVEN)
    await page.fill('[name="patient.family_name"]', FAMILY)
    await page.fill('[name="patient.date_of_birth"]', BORN)
    await page.select_option('[name="patient.sex"]', "female")
    await page.select_option('[name="patient.country_of_residence"]', "KE")
    await page.fill('[name="patient.email"]', email_address)
    await page.select_option('[name="clinical.primary_site"]', "head_and_neck")
    await page.check("#pattern-local")
    await page.fill('[name="clinical.lesion_count"]', "1")
    await page.fill('[name="clinical.largest_lesion_cm"]', "2.5")
    await page.check("#ecog-1")
    await page.fill('[name="clinical.prior_rt_courses.0.site"]', "oropharynx")
    await page.fill('[name="clinical.prior_rt_courses.0.total_dose_gy"]', "70")
    await page.fill('[name="clinical.prior_rt_courses.0.fractions"]', "35")
    await page.fill('[name="clinical.prior_rt_courses.0.completed_on"]', "2023-03-01")
    await page.check("#dest-CN")
    await page.check("#consent-records_review")
    await page.check("#consent-referral-CN")


def confirmation_mail(stack) -> email.message.EmailMessage:
    for path in stack.mail.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == EMAIL:
            return message
    raise LookupError("no mail yet")


async def wait_for_mail(stack) -> email.message.EmailMessage:
    for _ in range(200):
        try:
            return confirmation_mail(stack)
        except LookupError:
            await asyncio.sleep(0.1)
    raise AssertionError("no confirmation mail in the sink")


async def test_a_patient_inquires_in_chinese_and_a_coordinator_accepts(stack):
    # An open case for the same person: the inquiry must be flagged as a possible duplicate.
    earlier = fictional_intake().model_copy(update={"coordinator_id": "coord-ben"})
    earlier = earlier.model_copy(update={"patient": earlier.patient.model_copy(update={
        "given_name": GIVEN, "family_name": FAMILY, "date_of_birth": date.fromisoformat(BORN)})})
    earlier_case = await cases.start_case(stack.client, stack.settings, earlier, date.today())

    english = await (await stack.browser.new_context(base_url=stack.url, locale="en-GB")).new_page()
    await english.goto("/portal/inquiry")
    await expect(english.locator("h1")).to_have_text("Ask about treatment abroad")
    await screenshot(english, "portal-inquiry-en")

    context = await stack.browser.new_context(base_url=stack.url, **ZH)
    page = await context.new_page()
    await page.goto("/portal/inquiry")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("h1")).to_have_text("咨询境外治疗")
    await screenshot(page, "portal-inquiry-zh")

    await fill_inquiry(page, email_address="not-an-address")
    await page.click("button.primary")
    error = page.locator("#patient-email-error")
    await expect(error).to_have_text("请填写有效的电子邮箱，例如 name@example.com。")
    await expect(page.locator("#patient-email")).to_have_attribute(
        "aria-describedby", "patient-email-error")
    await expect(page.locator('[name="patient.given_name"]')).to_have_value(GIVEN)
    await screenshot(page, "portal-inquiry-zh-error")

    await page.fill('[name="patient.email"]', EMAIL)
    await page.click("button.primary")
    await expect(page.locator("h1")).to_have_text("请查看您的电子邮件")

    mail = await wait_for_mail(stack)
    subject = str(mail["Subject"])
    assert subject == "请确认您的咨询"
    for word in (GIVEN, FAMILY, "cancer", "癌", "放疗", "oropharynx", "head"):
        assert word.lower() not in subject.lower()
    part = mail.get_body(("plain",))
    assert part is not None
    found = re.search(r"(http://\S+/portal/confirm/\S+)", part.get_content())
    assert found is not None
    link = found.group(1)
    assert GIVEN not in link and "@" not in link

    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("谢谢：您的咨询已确认")
    await screenshot(page, "portal-inquiry-confirmed")
    # The confirmed mailbox may send records at once, to the new case's uploader.
    records = page.locator("a[href='/portal/records']")
    await expect(records).to_be_visible()
    await records.click()
    await expect(page.locator("section.uploader")).to_be_visible()

    # The coordinator sees it first, flagged, and accepts it.
    coordinator = await stack.page_as("coord-ana")
    section = coordinator.locator("section.inquiries")
    for _ in range(60):
        await coordinator.goto("/console")
        if await section.count() and await section.get_by_text(f"{GIVEN} {FAMILY}").count():
            break
        await asyncio.sleep(0.5)
    await expect(section.get_by_text(f"{GIVEN} {FAMILY}")).to_be_visible()
    await expect(section.locator(".badge", has_text="possible duplicate")).to_be_visible()
    first_heading = coordinator.locator("h2:not(.visually-hidden)").first
    await expect(first_heading).to_contain_text("New inquiries")
    await screenshot(coordinator, "portal-queue-new-inquiries")

    await section.get_by_text(f"{GIVEN} {FAMILY}").click()
    await coordinator.locator("#form-accept-inquiry button[type=submit]").click()
    case_id = coordinator.url.split("/console/cases/")[1].split("#")[0]
    assert case_id != earlier_case
    for _ in range(60):
        status = await cases.case_status(stack.client, case_id)
        if status.stage == CaseStage.RECORDS:
            break
        await asyncio.sleep(0.2)
    assert status.stage == CaseStage.RECORDS and status.coordinator_id == "coord-ana"
    ledger = await cases.consent_ledger(stack.client, case_id)
    assert [(e.purpose, e.country, e.language) for e in ledger.events] == [
        ("records_review", None, "zh-CN"), ("referral", "CN", "zh-CN")]
    assert all(e.text and e.text_sha256 and e.text_version for e in ledger.events)

    # The same link again: already confirmed, nothing new.
    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("已经确认")
    rows = await cases.list_cases(stack.client, open_only=True, with_names=True)
    assert sum(1 for r in rows if r.patient_name == f"{GIVEN} {FAMILY}") == 2
    assert not [r for r in rows if r.coordinator_id == INQUIRY_POOL
                and r.patient_name == f"{GIVEN} {FAMILY}"]


async def test_control_characters_in_a_name_are_refused_next_to_the_field(stack):
    """Hostile text through a form (issue 11): a bidi override in the family name is refused
    beside that field, in the page's language, and nothing is sent."""
    page = await (await stack.browser.new_context(base_url=stack.url, locale="en-GB")).new_page()
    await page.goto("/portal/inquiry")
    await fill_inquiry(page)
    hostile = "Portal\u202eCanary"
    await page.fill('[name="patient.family_name"]', hostile)
    await page.click("button.primary")
    field = page.locator('[name="patient.family_name"]')
    described = await field.get_attribute("aria-describedby")
    assert described, "the field names its error"
    error = page.locator(f"#{described}")
    await expect(error).to_contain_text("invisible control characters")
    await expect(field).to_have_value(hostile)  # kept for the patient to correct
    await expect(page.locator("h1")).to_have_text("Ask about treatment abroad")  # not sent
    await screenshot(page, "portal-inquiry-hostile-name")


async def test_a_burst_of_posts_is_refused(stack):
    codes = []
    async with httpx.AsyncClient(base_url=stack.url) as http:
        for _ in range(stack.settings.inquiry_posts_per_minute + 3):
            codes.append((await http.post("/portal/inquiry", data={"x": "1"})).status_code)
    assert 429 in codes and codes[-1] == 429
