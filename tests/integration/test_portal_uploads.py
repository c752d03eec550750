"""The portal's resumable upload in a real browser on the real stack: a patient sends a 300 MiB
file from a Chinese-language browser, the tab is closed halfway, a new tab resumes from the parts
S3 holds and the stored object has the file's SHA-256; the coordinator accepts it onto the
checklist; a wrong type is refused before anything moves; an abandoned upload leaves no parts
once the sweeper has run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from playwright.async_api import BrowserContext, Page, expect

from activities.portal_uploads import PortalUploadStore
from caseflow.case_status import CaseStage, CaseStatus
from caseflow.intake import CaseIntake
from caseflow.portal_links import PortalClaims, email_digest, make_token
from client import cases
from tests.integration.console_stack import ConsoleStack, console_stack, screenshot

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MiB = 1024**2
SAVED = "Array.from({length: localStorage.length}, (_, i) => localStorage.key(i))"
CATALOGUES = Path(__file__).resolve().parents[2] / "web" / "locale"


def words_in(language: str):
    """The page's words in `language`, from its catalogue: what a patient reading it sees."""
    with open(CATALOGUES / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        catalogue = read_po(po)

    def word(english: str) -> str:
        message = catalogue.get(english)
        assert message is not None and message.string, f"no {language} words for {english!r}"
        return str(message.string)

    return word


@pytest.fixture(scope="module")
async def stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[ConsoleStack]:
    async with console_stack(temporal_dev_server, seaweed, tmp_path_factory.mktemp("p")) as s:
        yield s


def scan(path: Path, size: int) -> str:
    """A file a PDF reader would open (the header), random after it; returns its SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        head = b"%PDF-1.7\n"
        out.write(head)
        digest.update(head)
        left = size - len(head)
        while left:
            block = os.urandom(min(left, 8 * MiB))
            out.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


async def start_case(stack: ConsoleStack) -> str:
    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["coordinator_id"] = "coord-ana"
    case_id = await cases.start_case(
        stack.client, stack.settings, CaseIntake.model_validate(intake), date.today()
    )
    await status_when(stack, case_id, lambda s: s.stage == CaseStage.RECORDS)
    return case_id


async def status_when(stack: ConsoleStack, case_id: str, ready, seconds: float = 30) -> CaseStatus:
    for _ in range(int(seconds * 5)):
        status = await cases.case_status(stack.client, case_id)
        if ready(status):
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"case {case_id} did not get there")


async def patient(stack: ConsoleStack, case_id: str, locale: str = "en-GB") -> BrowserContext:
    """A patient's browser that opened the case's status link from the e-mail."""
    secret = stack.settings.portal_link_secret
    assert secret is not None
    # The link the case's mails carry: bound to the patient's own address.
    email = json.loads((EXAMPLES / "intake.json").read_text())["patient"]["email"]
    claims = PortalClaims(
        purpose="case_status", subject_id=case_id, email_sha256=email_digest(email)
    )
    context = await stack.browser.new_context(base_url=stack.url, locale=locale)
    page = await context.new_page()
    await page.goto(f"/portal/open/{make_token(secret.get_secret_value(), claims)}")
    word = words_in(locale.replace("-", "_")) if locale.startswith("zh") else str
    await expect(page.locator("h1")).to_have_text(word("Your request"))  # the status page
    await expect(page.locator("a[href='/portal/records']")).to_be_visible()
    await page.close()
    return context


async def choose(page: Page, path: Path, kind: str) -> None:
    await page.goto("/portal/records")
    await page.select_option("#upload-kind", kind)
    await page.set_input_files("#upload-file", str(path))
    await page.click(".uploader button[type=submit]")


async def test_an_upload_cut_halfway_resumes_and_is_accepted_onto_the_checklist(
    stack: ConsoleStack, seaweed, tmp_path
):
    case_id = await start_case(stack)
    path = tmp_path / "scan.pdf"
    size = 300 * MiB
    sha256 = scan(path, size)
    context = await patient(stack, case_id, locale="zh-CN")
    zh = words_in("zh_CN")

    page = await context.new_page()
    first_puts: list[str] = []
    halfway = asyncio.Event()

    def landed(request) -> None:
        if request.method == "PUT":
            first_puts.append(request.url)
            if len(first_puts) >= 8:
                halfway.set()

    page.on("requestfinished", landed)
    await choose(page, path, "imaging_mri")
    await asyncio.wait_for(halfway.wait(), 60)
    # The connection drops in the middle of the upload (parts in flight are lost)...
    await context.set_offline(True)
    await expect(page.locator("[data-status]")).to_have_text(
        zh("The connection dropped. Waiting to go on…")
    )
    await screenshot(page, "portal-upload-midway")
    # The tab keeps only an opaque id and the hash state, under the file's name, size and date.
    assert len(await page.evaluate(SAVED)) == 1
    # ...and the patient closes the tab.
    await page.close()
    await context.set_offline(False)

    page = await context.new_page()
    puts: list[str] = []
    page.on("requestfinished", lambda r: puts.append(r.url) if r.method == "PUT" else None)
    await page.goto("/portal/records")
    (saved,) = await page.evaluate(SAVED)
    assert "scan.pdf" in saved
    await choose(page, path, "imaging_mri")
    await expect(page.locator("[data-status]")).to_have_text(
        zh("Resuming where the upload stopped…")
    )
    await expect(page.locator("[data-status]")).to_have_text(
        zh("Received. Your coordinator will check it and add it to your case."), timeout=60_000
    )
    await expect(page.locator(".uploader")).to_have_attribute("data-state", "done")
    await screenshot(page, "portal-upload-done")
    parts = -(-size // stack.settings.multipart_chunk_bytes)
    # Resumed: the new tab sent only what S3 did not hold yet.
    assert len(puts) < parts and len(puts) + len(first_puts) >= parts
    assert all("scan" not in url for url in first_puts + puts)

    status = await cases.case_status(stack.client, case_id)
    (held,) = status.quarantined
    assert held.sha256 == sha256 and held.size == size and held.content_type == "application/pdf"
    assert held.original_filename == "scan.pdf"
    assert "imaging" in status.missing_items
    # The stored object is the file, byte for byte.
    stored = hashlib.sha256()
    body = seaweed.client().get_object(Bucket=seaweed.bucket, Key=held.key)["Body"]
    for block in body.iter_chunks(8 * MiB):
        stored.update(block)
    assert stored.hexdigest() == sha256
    # Completing again (a lost answer) is the same document.
    again = await page.evaluate(
        """async ([id, sha]) => (await fetch(`/portal/uploads/${id}/completion`, {method: 'POST',
             headers: {'Content-Type': 'application/json',
                       'X-CSRF-Token': document.querySelector('[data-uploader]').dataset.csrf},
             body: JSON.stringify({sha256: sha, file_name: 'scan.pdf'})})).json()""",
        [held.document_id, sha256],
    )
    assert again["document_id"] == held.document_id

    coordinator = await stack.page_as("coord-ana")
    await coordinator.goto(f"/console/cases/{case_id}")
    row = coordinator.locator(f"#upload-{held.document_id}")
    await expect(row).to_contain_text("scan.pdf")
    await row.locator("select[name=item_id]").select_option("imaging")
    await screenshot(coordinator, "console-patient-upload-awaiting")
    await row.locator("[data-accept]").click()
    await expect(coordinator.locator("#item-imaging")).to_have_attribute(
        "data-item-state", "satisfied"
    )
    status = await cases.case_status(stack.client, case_id)
    assert status.quarantined == [] and "imaging" not in status.missing_items
    assert held.document_id in [d.document_id for d in status.documents]
    await context.close()


async def test_a_file_of_the_wrong_type_is_refused_before_it_moves(stack: ConsoleStack, tmp_path):
    case_id = await start_case(stack)
    path = tmp_path / "notes.bin"
    path.write_bytes(os.urandom(2 * MiB))
    context = await patient(stack, case_id)
    page = await context.new_page()
    await choose(page, path, "imaging_ct")
    await expect(page.locator("[data-status]")).to_contain_text(
        "content is an unrecognised type", timeout=20_000
    )
    await expect(page.locator(".uploader")).to_have_attribute("data-state", "failed")
    await context.close()


async def test_an_abandoned_upload_leaves_no_parts_after_the_sweep(
    stack: ConsoleStack, seaweed, tmp_path
):
    case_id = await start_case(stack)
    path = tmp_path / "left.pdf"
    scan(path, 60 * MiB)
    context = await patient(stack, case_id)
    page = await context.new_page()
    started = asyncio.Event()
    page.on("requestfinished", lambda r: started.set() if r.method == "PUT" else None)
    await choose(page, path, "imaging_ct")
    await asyncio.wait_for(started.wait(), 30)
    await context.set_offline(True)
    await context.close()  # the patient never comes back

    s3 = seaweed.client()
    prefix = f"cases/{case_id}/"

    def pending() -> list[dict]:
        found = s3.list_multipart_uploads(Bucket=seaweed.bucket, Prefix=prefix)
        return found.get("Uploads", [])

    (left,) = pending()
    store = PortalUploadStore(stack.settings)
    try:
        # Before the expiry nothing is touched; after it, the upload and its parts go.
        assert store.sweep() == 0 or pending()
        later = datetime.now(UTC) + timedelta(
            hours=stack.settings.portal_upload_expiry_hours, minutes=1
        )
        assert store.sweep(now=later) >= 1
        assert pending() == []
        upload_id = left["Key"].rsplit("/", 1)[-1]
        record = store.load(case_id, upload_id)
        assert record is not None and record.state == "aborted"
    finally:
        store.close()
