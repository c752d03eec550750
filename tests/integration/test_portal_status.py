"""The patient's status page in a real browser on the real stack: the link from the mail in the
SMTP sink opens it (subject without a name or a clinical word), it shows what was received, what
is missing and the stage in words, in Chinese and English; a consent withdrawn there is in the
case's ledger, the records review consent (no country) too, and its coordinator is mailed; a
link never opens another case; an expired or forged link is refused; and the "new link" form
answers the same for an address with no case."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.async_api import expect

from caseflow.intake import CaseIntake
from caseflow.portal_links import SALT, PortalClaims, email_digest, make_token
from client import cases
from coordinator.case_script import fictional_pdf
from tests.inquiry_builders import fictional_inquiry
from tests.integration.console_stack import ConsoleStack, console_stack, screenshot

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
async def stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[ConsoleStack]:
    async with console_stack(temporal_dev_server, seaweed, tmp_path_factory.mktemp("p")) as s:
        yield s


async def start_case(stack: ConsoleStack, address: str, language: str) -> tuple[str, dict]:
    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["coordinator_id"] = "coord-ana"
    intake["patient"].update(email=address, preferred_language=language)
    case_id = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today()
    )
    return case_id, intake


def mails_to(stack: ConsoleStack, address: str) -> list[EmailMessage]:
    found = []
    for path in stack.mail.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if message["To"] == address:
            found.append(message)
    return found


async def mail_to(stack: ConsoleStack, address: str, count: int = 1) -> EmailMessage:
    for _ in range(200):
        found = mails_to(stack, address)
        if len(found) >= count:
            return found[count - 1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no mail number {count} to the patient")


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [link] = [line.strip() for line in body.splitlines() if "/portal/open/" in line]
    return link


def swapped_case(token: str, case_id: str, other: str) -> str:
    """The token with another case id in its payload and its own signature kept."""
    compressed = token.startswith(".")  # itsdangerous zlib-compresses a long payload
    payload, *signed = token.removeprefix(".").split(".")
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data = zlib.decompress(data) if compressed else data
    assert case_id.encode() in data
    data = data.replace(case_id.encode(), other.encode())
    changed = base64.urlsafe_b64encode(zlib.compress(data) if compressed else data)
    return ("." if compressed else "") + ".".join([changed.decode().rstrip("="), *signed])


async def upload(stack: ConsoleStack, case_id: str, kind: str) -> None:
    token = stack.api_token("coord-ana")
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        response = await http.post(
            f"/api/v1/cases/{case_id}/documents", params={"kind": kind},
            content=fictional_pdf(kind),
            headers={"Authorization": f"Bearer {token}", "X-File-Name": f"{kind}.pdf"},
        )
        assert response.status_code in (200, 201), response.text


async def test_a_patient_opens_the_mailed_link_sees_the_case_and_withdraws_a_consent(stack):
    address = f"p3-{uuid.uuid4().hex[:8]}@example.invalid"
    case_id, intake = await start_case(stack, address, "zh-CN")
    message = await mail_to(stack, address)
    subject = message["Subject"]
    assert subject == "caseflow：您的申请有新进展"
    for word in (intake["patient"]["given_name"], intake["patient"]["family_name"],
                 "carcinoma", "cancer", "oropharynx", "radiotherapy"):
        assert word.lower() not in subject.lower()
    await upload(stack, case_id, "biopsy_report")

    context = await stack.browser.new_context(base_url=stack.url, locale="zh-CN")
    page = await context.new_page()
    response = await page.goto(link_in(message))
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert page.url == f"{stack.url}/portal/case"  # no token, no case id once opened
    await expect(page.locator(".stage-words")).to_have_text("我们正在收集您的病历资料。")
    await expect(page.locator(".received")).to_contain_text("活检报告")
    await expect(page.locator(".missing")).to_contain_text("近期的 MRI、CT 或 PET-CT 检查")
    await expect(page.locator(".missing")).not_to_contain_text("活检报告")
    await expect(page.locator('[aria-current="step"]')).to_have_text("病历资料")
    assert "biopsy_report" not in await page.content()
    await screenshot(page, "portal-status-zh")

    await page.click("text=English")
    await expect(page.locator(".stage-words")).to_have_text(
        "We are collecting your medical records."
    )
    await expect(page.locator(".received")).to_contain_text("Biopsy report")
    await screenshot(page, "portal-status-en")

    # Withdraw the travel consent: one click, a confirmation, and the case's ledger has it.
    row = page.locator(".consents li", has_text="Arranging your travel and stay")
    await row.get_by_role("button", name="Withdraw").click()
    await expect(page.locator("h1")).to_have_text("Withdraw your consent?")
    await expect(page.locator("main")).to_contain_text("PIPL art. 15")
    await screenshot(page, "portal-withdraw-confirmation")
    await page.get_by_role("button", name="Yes, withdraw this consent").click()
    await expect(page.locator(".notice")).to_contain_text("Your consent is withdrawn")
    await expect(
        page.locator(".consents li", has_text="Arranging your travel and stay")
    ).to_contain_text("withdrawn on")
    ledger = await cases.consent_ledger(stack.client, case_id)
    last = ledger.events[-1]
    assert (last.action, last.country, last.purpose, last.recorded_by) == (
        "withdraw", "CN", "travel", "patient-portal"
    )
    assert not ledger.allows("CN", "cn-beijing-cancer", "travel")
    status = await cases.case_status(stack.client, case_id)
    assert any(e.event == "consent_withdrawn" for e in status.timeline)
    await context.close()


async def test_a_patient_withdraws_the_records_review_consent_from_the_status_page(stack):
    # A case whose ledger starts as an inquiry's: the records review consent, no country.
    address = f"p4-{uuid.uuid4().hex[:8]}@example.invalid"
    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["coordinator_id"] = "coord-ana"
    intake["patient"].update(email=address, preferred_language="en")
    case_id = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today(),
        consent_events=fictional_inquiry().consent_events(),
    )
    context = await stack.browser.new_context(base_url=stack.url, locale="en")
    page = await context.new_page()
    await page.goto(link_in(await mail_to(stack, address)))

    review = page.locator(".consents li", has_text="Reviewing your records with our specialists")
    await expect(review).to_contain_text("our coordination team and specialists")
    await review.get_by_role("button", name="Withdraw").click()
    await expect(page.locator("h1")).to_have_text("Withdraw your consent?")
    main = page.locator("main")
    for words in ("does not go on to a specialist review", "Deleting your records is their next",
                  "PIPL art. 15", "s.6(4)", "s.8(7)"):
        await expect(main).to_contain_text(words)
    await screenshot(page, "portal-withdraw-review-confirmation")
    await page.get_by_role("button", name="Yes, withdraw this consent").click()
    await expect(page.locator(".notice")).to_contain_text(
        "our specialists will not review your records"
    )
    await expect(review).to_contain_text("withdrawn on")
    await expect(review.get_by_role("button", name="Withdraw")).to_have_count(0)
    await screenshot(page, "portal-status-review-withdrawn")
    await context.close()

    ledger = await cases.consent_ledger(stack.client, case_id)
    last = ledger.events[-1]
    assert (last.action, last.country, last.purpose, last.recorded_by) == (
        "withdraw", None, "records_review", "patient-portal"
    )
    assert ledger.review_withdrawn()
    # The coordinator is mailed that erasure is their next step; the subject says nothing more.
    for _ in range(100):
        notices = [m for m in mails_to_prefix(stack, "coord-ana@")
                   if "records review consent" in plain_text(m)]
        if notices:
            break
        await asyncio.sleep(0.2)
    assert notices and notices[0]["Subject"].startswith(
        f"caseflow: case {case_id}: the patient withdrew the records review consent"
    )
    assert f"/console/cases/{case_id}" in plain_text(notices[0])
    assert "caseflow case withdraw --erase" in plain_text(notices[0])
    # The API takes the same event without a country, and the case refuses it a second time.
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        response = await http.post(
            f"/api/v1/cases/{case_id}/consents/withdrawals", json={"purpose": "records_review"},
            headers={"Authorization": f"Bearer {stack.api_token('coord-ana')}"},
        )
    assert response.status_code >= 400
    assert "records_review consent is already withdrawn" in response.json()["error"]


def plain_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return body.get_content()


def mails_to_prefix(stack: ConsoleStack, prefix: str) -> list[EmailMessage]:
    found = []
    for path in stack.mail.messages():
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["To"]).startswith(prefix):
            found.append(message)
    return found


async def test_a_link_opens_only_its_own_case_and_expired_or_forged_links_are_refused(stack):
    first, second = (f"p3-{uuid.uuid4().hex[:8]}@example.invalid" for _ in range(2))
    case_a, _ = await start_case(stack, first, "en")
    case_b, _ = await start_case(stack, second, "en")
    link_a = link_in(await mail_to(stack, first))
    await mail_to(stack, second)
    secret = stack.settings.portal_link_secret.get_secret_value()
    context = await stack.browser.new_context(base_url=stack.url, locale="en-GB")
    page = await context.new_page()
    await page.goto(link_a)
    await expect(page.locator("h1")).to_have_text("Your request")
    # A's link, its case swapped for B's, is no longer signed; B's case with A's address is
    # signed but bound to the wrong mailbox: neither opens B.
    token_a = link_a.rsplit("/", 1)[-1]
    forged = [
        swapped_case(token_a, case_a, case_b),
        make_token(secret, PortalClaims(
            purpose="case_status", subject_id=case_b, email_sha256=email_digest(first))),
        make_token("not the secret", PortalClaims(
            purpose="case_status", subject_id=case_b, email_sha256=email_digest(second))),
        make_token(secret, PortalClaims(
            purpose="confirm_inquiry", subject_id=case_b, email_sha256=email_digest(second))),
    ]
    for token in forged:
        response = await page.goto(f"/portal/open/{token}")
        assert response is not None and response.status == 401
        await expect(page.locator("h1")).to_have_text("This link is not valid")
    await screenshot(page, "portal-link-refused")
    # The session still holds A, and only A: no URL names a case.
    await page.goto(f"/portal/case?case_id={case_b}")
    visible = await page.content()
    ledger_b = await cases.consent_ledger(stack.client, case_b)
    assert case_b not in visible and len(ledger_b.events) == 4

    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - (stack.settings.portal_link_days + 1) * 86400

    expired = URLSafeTimedSerializer(secret, salt=SALT, signer=Past).dumps(PortalClaims(
        purpose="case_status", subject_id=case_b, email_sha256=email_digest(second)
    ).model_dump(mode="json"))
    fresh = await stack.browser.new_context(base_url=stack.url, locale="en-GB")
    other = await fresh.new_page()
    response = await other.goto(f"/portal/open/{expired}")
    assert response is not None and response.status == 401
    await expect(other.locator("h1")).to_have_text("This link has expired")
    await expect(other.get_by_role("link", name="Send me a new link")).to_be_visible()
    await screenshot(other, "portal-link-expired")
    # Without a visit, the status page refuses too.
    response = await other.goto("/portal/case")
    assert response is not None and response.status == 401
    await fresh.close()
    await context.close()


async def test_the_new_link_form_answers_the_same_for_any_address(stack):
    known = f"p3-{uuid.uuid4().hex[:8]}@example.invalid"
    case_id, _ = await start_case(stack, known, "en")
    await mail_to(stack, known)
    context = await stack.browser.new_context(base_url=stack.url, locale="en-GB")
    page = await context.new_page()
    answers = []
    for address in (known, f"nobody-{uuid.uuid4().hex[:8]}@example.invalid"):
        await page.goto("/portal/link")
        await page.fill("#email", address)
        await page.get_by_role("button", name="Send the link").click()
        await expect(page.locator("h1")).to_have_text("Check your e-mail")
        answers.append(await page.locator("main").inner_text())
    assert answers[0] == answers[1]
    await screenshot(page, "portal-new-link-sent")
    # The known address gets a second mail, with a fresh link that opens its case.
    second = await mail_to(stack, known, count=2)
    await page.goto(link_in(second))
    await expect(page.locator("h1")).to_have_text("Your request")
    # The coordinator's button sends one too.
    console = await stack.page_as("coord-ana")
    await console.goto(f"/console/cases/{case_id}")
    await console.get_by_role("button", name="Send status link").click()
    await mail_to(stack, known, count=3)
    await context.close()
