"""Referral packets end to end on real servers: the stored packet (letter PDF, FHIR bundle,
manifest) and its delivery through a signed webhook and SMTP, with the consent gate."""

import hashlib
import io
import json

import pytest
from fhir.resources.R4B.bundle import Bundle
from pypdf import PdfReader

from activities.letters import ReferralLetters, ReferralPacketRequest
from caseflow.referral_bundle import unresolved_references
from tests.packet_case import (
    CASE_ID,
    CREATED_AT,
    QUESTION,
    REASON,
    documents,
    email_hospital,
    intake,
    webhook_hospital,
)


def pdf_text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def squeeze(text: str) -> str:
    return " ".join(text.split())


def stored_object(seaweed, key: str) -> bytes:
    return seaweed.client().get_object(Bucket=seaweed.bucket, Key=key)["Body"].read()


@pytest.mark.parametrize(
    ("hospital", "language"), [(webhook_hospital(), "zh-CN"), (email_hospital(), "en")]
)
def test_packet_holds_pdf_letter_bundle_and_hashed_manifest(seaweed, hospital, language):
    letters = ReferralLetters(seaweed.settings)
    request = ReferralPacketRequest(
        packet_id=f"pk-{hashlib.sha256(language.encode()).hexdigest()[:12]}-{CASE_ID[:6]}",
        case_id=CASE_ID,
        hospital=hospital,
        intake=intake(),
        documents=documents(3),
        triage_flags=[],
        modalities=["bnct"],
        recommendation="BNCT assessment",
        coordinator_id="coord-7",
        language=language,
        written_on=CREATED_AT.date(),
        reason=REASON,
        question=QUESTION,
        created_at=CREATED_AT,
    )
    try:
        stored = letters.render_referral_packet(request)
        again = letters.render_referral_packet(request)  # a retried activity
    finally:
        letters.close()

    assert stored.created and not again.created
    assert again.sha256 == stored.sha256  # the exact copy, never overwritten
    manifest_bytes = stored_object(seaweed, stored.manifest_key)
    assert hashlib.sha256(manifest_bytes).hexdigest() == stored.sha256
    manifest = json.loads(manifest_bytes)
    assert manifest["letter_pdf_key"] == stored.letter_pdf_key == stored.prefix + "letter.pdf"
    assert manifest["bundle_key"] == stored.bundle_key == stored.prefix + "bundle.json"
    assert [d["sha256"] for d in manifest["documents"]] == [d.sha256 for d in request.documents]

    pdf = stored_object(seaweed, stored.letter_pdf_key)
    assert pdf.startswith(b"%PDF")
    assert hashlib.sha256(pdf).hexdigest() == manifest["letter_pdf_sha256"]
    text = squeeze(pdf_text(pdf))
    assert hospital.name in text
    assert squeeze(REASON) in text

    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=stored.bundle_key)
    assert head["ContentType"] == "application/fhir+json"
    raw = stored_object(seaweed, stored.bundle_key)
    assert hashlib.sha256(raw).hexdigest() == manifest["bundle_sha256"]
    bundle = Bundle.model_validate_json(raw)  # fhir.resources validates on parse
    assert unresolved_references(bundle) == []
    kinds = [entry.resource.__resource_type__ for entry in bundle.entry]
    assert kinds.count("DocumentReference") == 3 and "ServiceRequest" in kinds
