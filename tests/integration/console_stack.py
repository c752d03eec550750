"""A whole stack for browser tests: the Temporal dev server and SeaweedFS fixtures, an SMTP sink,
a worker on its own task queue, the web service, people with passwords, and Debian's chromium
driven by Playwright (executable_path: no browser build is ever downloaded). Screenshots go to
.data/screenshots/, where a person looks at them."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, async_playwright
from pydantic import SecretStr
from temporalio.client import Client

from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from client.identities import IdentityStore
from infra.mail_sink import MailSink
from infra.seaweedfs import ensure_portal_rules
from infra.server_process import free_port
from tests.integration.web_service import ServiceThread, running_service

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".data" / "screenshots"
PASSWORD = "console test password"
PEOPLE = {
    "coord-ana": "coordinator",
    "coord-ben": "coordinator",
    "sup-cy": "supervisor",
    "ops-di": "ops",
}


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise RuntimeError("Debian's chromium is missing: 'make test' installs it")
    return found


@dataclass
class ConsoleStack:
    settings: CaseflowSettings
    client: Client
    service: ServiceThread
    mail: MailSink
    browser: Browser

    @property
    def url(self) -> str:
        return self.service.url

    async def page_as(self, login: str) -> Page:
        """A fresh browser context logged in through the real login form."""
        context = await self.browser.new_context(base_url=self.url, locale="en-GB")
        page = await context.new_page()
        await page.goto("/login")
        await page.fill("input[name=login]", login)
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_load_state("networkidle")
        return page

    def api_token(self, login: str) -> str:
        """A bearer token for API calls a test makes beside the browser."""
        response = httpx.post(
            f"{self.url}/auth/token", json={"login": login, "password": PASSWORD}, timeout=10
        )
        response.raise_for_status()
        return response.json()["token"]


async def screenshot(page: Page, name: str) -> Path:
    """Save the page (full length) as .data/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


# What a page must get right for a keyboard or screen-reader user, checked in the browser: a
# label for every field, named controls, headings in order under one h1, tables with headers
# and captions, live regions polite.
_ACCESSIBILITY = """() => {
  const problems = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.closest("[hidden]")) continue;
    const named = (el.labels && el.labels.length) || el.getAttribute("aria-label")
      || el.getAttribute("aria-labelledby");
    if (!named) problems.push("no label: " + (el.id || el.name));
  }
  for (const control of document.querySelectorAll("button, a[href]")) {
    if (!control.textContent.trim() && !control.getAttribute("aria-label")) {
      problems.push("unnamed control: " + control.outerHTML.slice(0, 80));
    }
  }
  const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")];
  if (document.querySelectorAll("h1").length !== 1) problems.push("not one h1");
  let last = 0;
  for (const h of headings) {
    const level = Number(h.tagName[1]);
    if (level > last + 1) problems.push(h.tagName + " after h" + last + ": " + h.textContent);
    last = level;
  }
  for (const table of document.querySelectorAll("table")) {
    const where = (table.closest("[id]") || {}).id;
    if (!table.querySelector("th")) problems.push("table without headers in " + where);
    if (!table.caption) problems.push("table without a caption in " + where);
  }
  for (const live of document.querySelectorAll("[aria-live]")) {
    if (live.getAttribute("aria-live") !== "polite") problems.push("live region not polite");
  }
  return problems;
}"""


async def accessibility_problems(page: Page) -> list[str]:
    return await page.evaluate(_ACCESSIBILITY)


@asynccontextmanager
async def console_stack(temporal_dev_server, seaweed, home: Path) -> AsyncIterator[ConsoleStack]:
    from worker import build_worker

    mail = MailSink(home, port=free_port())
    mail.start()
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "temporal_ui_url": temporal_dev_server.ui_url,
            "smtp_port": mail.port,
            "task_queue": f"console-{uuid.uuid4().hex[:8]}",
            "identity_db_url": f"sqlite:///{home / 'identities.db'}",
            "session_secret": SecretStr("console-test-" + uuid.uuid4().hex),
            "reply_link_secret": SecretStr("console-reply-" + uuid.uuid4().hex),
            "portal_link_secret": SecretStr("console-portal-" + uuid.uuid4().hex),
        }
    )
    store = IdentityStore.from_settings(settings)
    for login, role in PEOPLE.items():
        store.add_user(
            login, role, name=f"Test {login}", email=f"{login}@example.invalid", password=PASSWORD
        )
    store.close()
    try:
        with running_service(settings) as service:
            # The portal's browser PUTs parts straight to S3: CORS for the service's origin.
            ensure_portal_rules(
                seaweed.endpoint_url, seaweed.access_key, seaweed.secret_key, seaweed.bucket,
                service.url, 2,
            )
            client = await connect(service.settings)
            with ThreadPoolExecutor(max_workers=16) as executor:
                async with (
                    build_worker(client, service.settings, executor),
                    async_playwright() as playwright,
                ):
                    browser = await playwright.chromium.launch(
                        executable_path=chromium_path(), args=["--no-sandbox"]
                    )
                    try:
                        yield ConsoleStack(service.settings, client, service, mail, browser)
                    finally:
                        await browser.close()
    finally:
        mail.stop()
