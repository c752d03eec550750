"""The hospitals' reply path on real servers: the web service (uvicorn on a free port), the
Temporal dev server, SeaweedFS, a real worker on its own task queue, the SMTP sink and a hospital
webhook receiver. Cases reach HOSPITAL_SUBMISSION with real packets; hospitals answer by signed
callback (caseflow JSON or a FHIR Task) and by the reply link page."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle

from activities.audit import AuditAction, AuditTrail
from caseflow import reply_links
from caseflow.case_events import AddDocument, ReviewOutcome, SubmitReview, Withdraw
from caseflow.case_status import CaseStatus, ReferralState
from caseflow.hospitals import HospitalDirectory, Modality
from caseflow.ids import case_workflow_id, new_case_id, packet_route_key
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import connect
from caseflow.webhook_signature import parse_secret, sign
from client.identities import IdentityStore
from client.referral_routes import erase_routes
from infra.mail_sink import MailSink
from infra.server_process import free_port
from tests.integration.test_packet_delivery import HospitalEndpoint, mails_to, status_when
from tests.integration.web_service import ServiceThread, running_service
from tests.workflows.cases import WORKUP_KINDS, document
from tests.workflows.cases import intake as case_intake
from workflows.case import CaseWorkflow
from workflows.case_state import CaseWorkflowInput
from workflows.sla_watch import StepRetry

pytestmark = pytest.mark.integration

WEBHOOK, EMAIL = "cn-xiamen-bnct", "in-chennai-proton"


def whsec() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


DELIVERY_SECRET = whsec()
CALLBACK_SECRETS = {WEBHOOK: whsec(), EMAIL: whsec()}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class ReplyStack:
    service: ServiceThread
    client: Client
    settings: CaseflowSettings
    endpoint: HospitalEndpoint
    mail: MailSink
    tokens: dict[str, str]  # hospital id -> its API token's secret

    @property
    def url(self) -> str:
        return self.service.url


@pytest.fixture(scope="module")
async def reply_stack(temporal_dev_server, seaweed, tmp_path_factory) -> AsyncIterator[ReplyStack]:
    from worker import build_worker

    mail = MailSink(tmp_path_factory.mktemp("reply-mail"), port=free_port())
    mail.start()
    endpoint = HospitalEndpoint(DELIVERY_SECRET)
    endpoint.thread.start()
    settings = seaweed.settings.model_copy(
        update={
            "temporal_address": temporal_dev_server.address,
            "smtp_port": mail.port,
            "task_queue": f"replies-{uuid.uuid4().hex[:8]}",
            # model_copy does not validate: the secrets go in as SecretStr, as settings hold them.
            "webhook_secrets": {WEBHOOK: SecretStr(DELIVERY_SECRET)},
            "reply_link_secret": SecretStr(secrets.token_urlsafe(32)),
            "hospital_callback_secrets": {k: SecretStr(v) for k, v in CALLBACK_SECRETS.items()},
            "identity_db_url": f"sqlite:///{tmp_path_factory.mktemp('reply-ids') / 'ids.db'}",
            "session_secret": SecretStr(secrets.token_urlsafe(32)),
        }
    )
    store = IdentityStore.from_settings(settings)
    tokens = {h: store.create_token(hospital_id=h, label="test").secret for h in (WEBHOOK, EMAIL)}
    store.close()
    try:
        with running_service(settings) as service:
            # The worker makes reply links with the service's public URL.
            client = await connect(service.settings)
            with ThreadPoolExecutor(max_workers=16) as executor:
                async with build_worker(client, service.settings, executor):
                    yield ReplyStack(
                        service, client, service.settings, endpoint, mail, tokens
                    )
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()
        mail.stop()


def hospitals(stack: ReplyStack):
    directory = HospitalDirectory.load_default()
    return [
        directory.get(WEBHOOK).model_copy(update={"webhook_url": stack.endpoint.url}),
        directory.get(EMAIL),
    ]


async def referred(stack: ReplyStack, targets: list[str]) -> tuple[WorkflowHandle, CaseStatus]:
    """A case with complete records, referred to `targets`, every packet delivered and every
    referral waiting for its answer (the children have reported, so the timeline is still)."""
    case_id = new_case_id()
    handle = await stack.client.start_workflow(
        CaseWorkflow.run,
        CaseWorkflowInput(
            case_id=case_id,
            intake=case_intake(),
            hospitals=hospitals(stack),
            retry=StepRetry(maximum_attempts=3),
        ),
        id=case_workflow_id(case_id),
        task_queue=stack.settings.task_queue,
    )
    for kind in WORKUP_KINDS:
        await handle.execute_update(
            CaseWorkflow.add_document, AddDocument(ref=document(case_id, kind))
        )
    await status_when(handle, lambda s: s.stage == "SPECIALIST_REVIEW")
    await handle.execute_update(
        CaseWorkflow.submit_review,
        SubmitReview(outcome=ReviewOutcome.PROCEED, reviewer_id="dr-review",
                     modalities=[Modality.SBRT],
                     target_hospital_ids=targets, recommendation="SBRT re-irradiation"),
    )
    status = await status_when(
        handle,
        lambda s: len(s.hospitals) == len(targets)
        and all(h.state == ReferralState.AWAITING_RESPONSE for h in s.hospitals),
    )
    return handle, status


def referral(status: CaseStatus, hospital_id: str):
    return next(h for h in status.hospitals if h.hospital_id == hospital_id)


def signed(hospital_id: str, body: bytes, webhook_id: str | None = None,
           timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
    key = parse_secret(secret or CALLBACK_SECRETS[hospital_id])
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, webhook_id, timestamp, body),
    }


async def callback(http: httpx.AsyncClient, hospital_id: str, packet_id: str, what: str,
                   payload: dict, webhook_id: str | None = None, **signing) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = signed(hospital_id, body, webhook_id, **signing)
    return await http.post(f"/hospitals/v1/referrals/{packet_id}/{what}", content=body,
                           headers=headers)


async def test_signed_callbacks_acknowledge_and_answer_into_the_case(reply_stack, seaweed):
    handle, status = await referred(reply_stack, [WEBHOOK, EMAIL])
    packet_id = referral(status, WEBHOOK).packet_id
    assert packet_id is not None

    # Every packet carries its reply link: webhook payload, letter, index.
    payload = json.loads(reply_stack.endpoint.bodies[packet_id])["data"]
    assert payload["reply_url"].startswith(f"{reply_stack.url}/reply/")
    prefix = referral(status, WEBHOOK).packet_prefix
    store = seaweed.client()
    for name in ("letter.html", "index.html"):
        page = store.get_object(Bucket=seaweed.bucket, Key=prefix + name)["Body"].read().decode()
        assert payload["reply_url"] in page
    route = json.loads(
        store.get_object(Bucket=seaweed.bucket, Key=packet_route_key(packet_id))["Body"].read()
    )
    assert route == {"case_id": status.case_id, "hospital_id": WEBHOOK}

    async with httpx.AsyncClient(base_url=reply_stack.url, timeout=30) as http:
        ack = await callback(http, WEBHOOK, packet_id, "acknowledgement",
                             {"reference": "XM-0001"}, webhook_id="msg_ack_1")
        assert ack.status_code == 200, ack.text
        assert ack.json()["replayed"] is False
        again = await callback(http, WEBHOOK, packet_id, "acknowledgement",
                               {"reference": "XM-0001"}, webhook_id="msg_ack_1")
        assert again.status_code == 200 and again.json()["replayed"] is True
        assert "already recorded" in again.json()["detail"]

        # A document first, named by id in the answer.
        headers = signed(WEBHOOK, PDF, "msg_doc_1")
        headers["content-type"] = "application/pdf"
        headers["content-disposition"] = 'attachment; filename="opinion.pdf"'
        uploaded = await http.post(
            f"/hospitals/v1/referrals/{packet_id}/documents?kind=hospital_opinion",
            content=PDF, headers=headers,
        )
        assert uploaded.status_code == 200, uploaded.text
        document_id = uploaded.json()["document_id"]
        assert uploaded.json()["kind"] == "hospital_opinion"

        before = (await handle.query(CaseWorkflow.status)).timeline
        # Refusals change nothing: forged, stale, another hospital's secret, a bad field.
        answer = {
            "decision": "accept",
            "opinion": "Suitable for SBRT re-irradiation.",
            "proposed_treatment": "SBRT 5 x 6 Gy",
            "cost_estimate": {"amount": 18500, "currency": "USD"},
            "earliest_admission_date": (date.today() + timedelta(days=20)).isoformat(),
            "visa_invitation_possible": True,
            "documents": [document_id],
        }
        forged = await callback(http, WEBHOOK, packet_id, "response", answer,
                                secret=CALLBACK_SECRETS[EMAIL])
        stale = await callback(http, WEBHOOK, packet_id, "response", answer,
                               timestamp=int(time.time()) - 3600)
        tampered_headers = signed(WEBHOOK, json.dumps(answer).encode())
        tampered = await http.post(
            f"/hospitals/v1/referrals/{packet_id}/response",
            content=json.dumps({**answer, "decision": "decline"}).encode(),
            headers=tampered_headers,
        )
        unknown = await callback(http, WEBHOOK, "00000000-0000-0000-0000-000000000000",
                                 "response", answer)
        for refused in (forged, stale, tampered, unknown):
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"].startswith("webhook-signature:")
        bad = await callback(http, WEBHOOK, packet_id, "response",
                             {**answer, "cost_estimate": {"amount": 10, "currency": "usd"}})
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("cost_estimate.currency:")
        leaked = await callback(http, WEBHOOK, packet_id, "response",
                                {**answer, "hospital_id": EMAIL})
        assert leaked.status_code == 400 and leaked.json()["error"].startswith("hospital_id:")
        assert (await handle.query(CaseWorkflow.status)).timeline == before

        answered = await callback(http, WEBHOOK, packet_id, "response", answer,
                                  webhook_id="msg_answer_1")
        assert answered.status_code == 200, answered.text
        assert answered.json()["replayed"] is False
        status = await handle.query(CaseWorkflow.status)
        hook = referral(status, WEBHOOK)
        assert hook.state == "accepted" and hook.acknowledgement_reference == "XM-0001"
        assert hook.response.answered_by == f"hospital:{WEBHOOK} (signed callback)"
        assert [d.document_id for d in hook.response.documents] == [document_id]
        assert document_id in {d.document_id for d in status.documents}
        events = {e.event: e for e in status.timeline}
        assert events["hospital_acknowledged"].actor == f"hospital:{WEBHOOK} (signed callback)"
        assert events["hospital_response"].actor == f"hospital:{WEBHOOK} (signed callback)"

        replay = await callback(http, WEBHOOK, packet_id, "response", answer,
                                webhook_id="msg_answer_1")
        assert replay.status_code == 200 and replay.json()["replayed"] is True
        other = await callback(http, WEBHOOK, packet_id, "response",
                               {"decision": "decline"}, webhook_id="msg_answer_2")
        assert other.status_code == 409
        assert other.json()["error"].startswith(f"hospital_id: hospital {WEBHOOK} already answered")
        after = await handle.query(CaseWorkflow.status)
        assert len(after.timeline) == len(status.timeline)

        # The hospital's API token reads its own referral, with fresh links; not another's.
        mine = await http.get(f"/hospitals/v1/referrals/{packet_id}",
                              headers={"authorization": f"Bearer {reply_stack.tokens[WEBHOOK]}"})
        assert mine.status_code == 200, mine.text
        view = mine.json()
        assert view["state"] == "accepted" and view["decision"] == "accept"
        letter = next(f for f in view["files"] if f["name"] == "letter.pdf")
        assert httpx.get(letter["url"]).content.startswith(b"%PDF")
        theirs = await http.get(f"/hospitals/v1/referrals/{packet_id}",
                                headers={"authorization": f"Bearer {reply_stack.tokens[EMAIL]}"})
        missing = await http.get("/hospitals/v1/referrals/00000000-0000-0000-0000-000000000000",
                                 headers={"authorization": f"Bearer {reply_stack.tokens[EMAIL]}"})
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["error"].replace(packet_id, "X") == missing.json()["error"].replace(
            "00000000-0000-0000-0000-000000000000", "X"
        )
        nobody = await http.get(f"/hospitals/v1/referrals/{packet_id}")
        assert nobody.status_code == 401

    audit = AuditTrail(reply_stack.settings).entries(status.case_id)
    assert any(
        e.action == AuditAction.PRESIGNED_URL_ISSUED and e.actor == f"hospital:{WEBHOOK}"
        and e.subject == packet_id
        for e in audit
    )
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))

    # Erasure removes the routing objects with the packets.
    assert erase_routes(store, reply_stack.settings, {packet_id}) >= 1
    assert "Contents" not in store.list_objects_v2(
        Bucket=seaweed.bucket, Prefix=packet_route_key(packet_id)
    )


def task(status: str, **fields) -> dict:
    return {"resourceType": "Task", "status": status, "intent": "order", **fields}


async def test_a_fhir_task_acknowledges_asks_for_more_and_accepts(reply_stack):
    handle, status = await referred(reply_stack, [EMAIL])
    packet_id = referral(status, EMAIL).packet_id
    based_on = [{"identifier": {"system": "https://caseflow.invalid/fhir/referral-id",
                                "value": packet_id}}]
    async with httpx.AsyncClient(base_url=reply_stack.url, timeout=30) as http:
        received = task("received", basedOn=based_on,
                        identifier=[{"system": "urn:example:ipd", "value": "IPD-77"}])
        ack = await callback(http, EMAIL, packet_id, "acknowledgement", received)
        assert ack.status_code == 200, ack.text
        wrong = await callback(http, EMAIL, packet_id, "response", task("received"))
        assert wrong.status_code == 400 and wrong.json()["error"].startswith("status:")
        other_referral = task("accepted", basedOn=[{"reference": "ServiceRequest/another-one"}])
        assert (await callback(http, EMAIL, packet_id, "response", other_referral)).status_code \
            == 400

        more = task("on-hold", note=[{"text": "Please send the latest MRI."}])
        asked = await callback(http, EMAIL, packet_id, "response", more)
        assert asked.status_code == 200, asked.text
        status = await handle.query(CaseWorkflow.status)
        assert referral(status, EMAIL).state == "needs_more_information"
        assert referral(status, EMAIL).response.opinion == "Please send the latest MRI."

        admission = (date.today() + timedelta(days=30)).isoformat()
        accepted = task(
            "accepted",
            basedOn=based_on,
            output=[
                {"type": {"text": "opinion"}, "valueString": "Eligible for proton therapy."},
                {"type": {"coding": [{"system": "https://caseflow.invalid/fhir/reply-output",
                                      "code": "cost-estimate"}]},
                 "valueMoney": {"value": 1250000, "currency": "INR"}},
                {"type": {"text": "earliest-admission-date"}, "valueDate": admission},
                {"type": {"text": "visa-invitation-possible"}, "valueBoolean": True},
            ],
        )
        answered = await callback(http, EMAIL, packet_id, "response", accepted)
        assert answered.status_code == 200, answered.text
    response = referral(await handle.query(CaseWorkflow.status), EMAIL).response
    assert response.decision == "accept" and response.opinion == "Eligible for proton therapy."
    assert response.cost_estimate.currency == "INR" and response.cost_estimate.amount == 1250000
    assert response.earliest_admission_date.isoformat() == admission
    assert response.visa_invitation_possible is True
    assert referral(await handle.query(CaseWorkflow.status), EMAIL).acknowledgement_reference \
        == "IPD-77"
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))


async def screenshot(url: str, refused_page: str) -> None:
    """With CASEFLOW_SCREENSHOTS=<dir>, the live page and the refused answer as PNGs, for eyes."""
    folder = os.environ.get("CASEFLOW_SCREENSHOTS")
    if not folder or shutil.which("chromium") is None:
        return
    css = Path(__file__).resolve().parents[2] / "web" / "static" / "reply.css"
    refused = Path(folder) / "reply-refused.html"
    refused.write_text(refused_page.replace("/reply/assets/reply.css", css.as_uri()))
    for target, name in ((url, "reply-page.png"), (refused.as_uri(), "reply-refused.png")):
        # In a thread: the worker shares this event loop and must answer the page's query.
        await asyncio.to_thread(
            subprocess.run,
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1100,2400", f"--screenshot={Path(folder) / name}", target],
            check=True, capture_output=True, timeout=60,
        )


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden {name}"
    return match.group(1)


async def test_the_reply_link_page_takes_an_answer_with_a_document(reply_stack, tmp_path):
    handle, status = await referred(reply_stack, [EMAIL, WEBHOOK])
    mail_referral = referral(status, EMAIL)
    address = HospitalDirectory.load_default().get(EMAIL).contact_email
    assert address is not None
    bodies = []
    for message in mails_to(reply_stack.mail, address):
        plain = message.get_body(("plain",))
        assert plain is not None
        bodies.append(plain.get_content())
    link = next(
        match.group(0)
        for body in bodies
        if (match := re.search(rf"{re.escape(reply_stack.url)}/reply/\S+", body))
        and mail_referral.packet_id in body
    )
    path = link.removeprefix(reply_stack.url)
    token = path.removeprefix("/reply/")

    async with httpx.AsyncClient(base_url=reply_stack.url, timeout=30) as http:
        page = await http.get(path)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "letter.pdf" in page.text and "Acknowledge" in page.text
        csrf = hidden(page.text, "csrf")
        before = (await handle.query(CaseWorkflow.status)).timeline

        # Refused links and forms change nothing.
        secret = reply_stack.settings.reply_link_secret.get_secret_value()
        claims = reply_links.ReplyClaims(case_id=status.case_id, hospital_id=EMAIL,
                                         packet_id=mail_referral.packet_id)
        expired = reply_links.make_token(secret, claims, time.time() - 40 * 86400)
        foreign = reply_links.make_token(
            secret, claims.model_copy(update={"packet_id": referral(status, WEBHOOK).packet_id})
        )
        forged = reply_links.make_token("not-the-secret", claims)
        for bad, code in ((expired, 401), (forged, 401), (token[:-2] + "xx", 401),
                          (foreign, 403)):
            refused = await http.get(f"/reply/{bad}")
            assert refused.status_code == code, (bad, refused.status_code)
            posted = await http.post(f"/reply/{bad}/answer",
                                     data={"csrf": reply_links.csrf_token(secret, bad),
                                           "nonce": "n1", "decision": "decline"})
            assert posted.status_code == code
        no_csrf = await http.post(f"{path}/answer", data={"nonce": "n1", "decision": "decline"})
        assert no_csrf.status_code == 403
        assert (await handle.query(CaseWorkflow.status)).timeline == before

        acked = await http.post(f"{path}/acknowledgement",
                                data={"csrf": csrf, "nonce": hidden(page.text, "nonce"),
                                      "reference": "TMH/2026/9"})
        assert acked.status_code == 303, acked.text
        opinion = tmp_path / "opinion.pdf"
        opinion.write_bytes(PDF)
        with opinion.open("rb") as file:
            uploaded = await http.post(
                f"{path}/documents",
                data={"csrf": csrf, "kind": "hospital_opinion"},
                files={"file": ("opinion.pdf", file, "application/pdf")},
            )
        assert uploaded.status_code == 303, uploaded.text
        page = await http.get(path)
        ticked = re.search(r'name="documents" value="(d[a-z2-7]{26})"', page.text)
        assert ticked is not None
        document_id = ticked.group(1)
        nonce = hidden(page.text, "nonce")
        form = {
            "csrf": csrf, "nonce": nonce, "decision": "accept",
            "opinion": "We can treat the patient.", "proposed_treatment": "Proton therapy",
            "cost_estimate.amount": "1250000", "cost_estimate.currency": "rupees",
            "earliest_admission_date": (date.today() + timedelta(days=25)).isoformat(),
            "visa_invitation_possible": "yes", "documents": document_id,
        }
        wrong = await http.post(f"{path}/answer", data=form)
        assert wrong.status_code == 400
        await screenshot(link, wrong.text)
        assert re.search(r'class="field-error"[^>]*>cost_estimate.currency: ', wrong.text)
        form["cost_estimate.currency"] = "INR"
        answered = await http.post(f"{path}/answer", data=form)
        assert answered.status_code == 303 and answered.headers["location"].endswith("answered")
        again = await http.post(f"{path}/answer", data=form)
        assert again.status_code == 303 and again.headers["location"].endswith("replayed")
        status = await handle.query(CaseWorkflow.status)
        response = referral(status, EMAIL).response
        assert response.answered_by == f"hospital:{EMAIL} (reply link)"
        assert [d.document_id for d in response.documents] == [document_id]
        assert referral(status, EMAIL).acknowledgement_reference == "TMH/2026/9"
        assert [e.event for e in status.timeline].count("hospital_response") == 1
        twice = await http.post(f"{path}/answer",
                                data={**form, "nonce": "other", "decision": "decline"})
        assert twice.status_code == 409 and "already answered" in twice.text
        done = await http.get(path)
        assert "accept" in done.text and "Send the answer" not in done.text
        (tmp_path / "reply.html").write_text(done.text)
    await handle.execute_update(CaseWorkflow.withdraw, Withdraw(reason="test finished"))
