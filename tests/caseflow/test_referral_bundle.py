"""The referral FHIR R4B Bundle: validates, is deterministic, resolves, rejects bad input."""

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from caseflow.consent import ConsentLedger
from caseflow.contacts import CoordinatorContact
from caseflow.fictional_case import (
    CASE_ID,
    CREATED_AT,
    QUESTION,
    REASON,
    documents,
    email_hospital,
    intake,
    links,
    webhook_hospital,
)
from caseflow.referral_bundle import (
    SHA256_EXTENSION,
    build_referral_bundle,
    bundle_json,
    bundle_uuid,
    check_references_resolve,
    checked_bundle_json,
    referral_bundle_data,
    sha256_ni_uri,
    unresolved_references,
)


def entries(bundle: Bundle) -> list[Any]:
    """The bundle's entries. The R4B models type every field optional, so read them as Any."""
    assert bundle.entry is not None
    return list(bundle.entry)


def build(**overrides: Any) -> Bundle:
    return build_referral_bundle(**arguments(**overrides))


def arguments(**overrides: Any) -> dict[str, Any]:
    refs = overrides.pop("documents", None) or documents(5)
    arguments: dict[str, Any] = {
        "referral_id": "pk-0001",
        "case_id": CASE_ID,
        "intake": intake(),
        "hospital": webhook_hospital(),
        "documents": refs,
        "links": links(refs),
        "reason": REASON,
        "question": QUESTION,
        "created_at": CREATED_AT,
        "links_expire_at": CREATED_AT + timedelta(days=7),
    } | overrides
    return arguments


def resources(bundle: Bundle, resource_type: str) -> list:
    return [e.resource for e in entries(bundle) if e.resource.get_resource_type() == resource_type]


def test_bundle_validates_through_the_library_from_its_own_json():
    data = json.loads(bundle_json(build()))
    again = Bundle.model_validate(data)  # full R4B validation of every entry
    assert again.type == "collection"
    counts: dict[str, int] = {}
    for entry in entries(again):
        counts[entry.resource.get_resource_type()] = (
            counts.get(entry.resource.get_resource_type(), 0) + 1
        )
    assert counts == {
        "ServiceRequest": 1,
        "Patient": 1,
        "Condition": 1,
        "Procedure": 2,  # one per prior RT course
        "DocumentReference": 5,
        "Consent": 2,  # CN referral (country-wide) + translation for this hospital
        "Organization": 1,
        "Practitioner": 1,
    }


def test_same_input_gives_the_same_bytes_and_another_referral_other_uuids():
    assert bundle_json(build()) == bundle_json(build())
    first, other = build(), build(referral_id="pk-0002")
    assert {e.fullUrl for e in entries(first)}.isdisjoint({e.fullUrl for e in entries(other)})
    assert all(e.fullUrl.startswith("urn:uuid:") for e in entries(first))
    assert entries(first)[0].fullUrl == bundle_uuid("pk-0001", "service-request")


def test_every_reference_resolves_inside_the_bundle():
    bundle = build()
    assert unresolved_references(bundle) == []
    check_references_resolve(bundle)
    request = resources(bundle, "ServiceRequest")[0]
    by_url = {e.fullUrl: e.resource for e in entries(bundle)}
    assert by_url[request.performer[0].reference].name == "Example BNCT Centre, Xiamen"
    assert by_url[request.requester.reference].get_resource_type() == "Practitioner"
    assert by_url[request.subject.reference].get_resource_type() == "Patient"


def test_the_checker_finds_a_dangling_reference():
    bundle = build()
    request = resources(bundle, "ServiceRequest")[0]
    request.supportingInfo.append(Reference(reference="urn:uuid:not-in-bundle"))
    request.note[0].authorReference = Reference(reference="Practitioner/elsewhere")
    assert sorted(unresolved_references(bundle)) == [
        "Practitioner/elsewhere",
        "urn:uuid:not-in-bundle",
    ]
    with pytest.raises(ValueError, match="2 reference"):
        check_references_resolve(bundle)


def test_service_request_carries_reason_question_requester_and_performer():
    request = resources(build(), "ServiceRequest")[0]
    assert request.reasonCode[0].text == REASON
    assert request.note[0].text == f"Question: {QUESTION}"
    assert request.authoredOn == CREATED_AT
    assert request.identifier[0].value == "pk-0001"
    assert request.requisition.value == CASE_ID


def test_condition_and_procedures_carry_the_clinical_summary():
    bundle = build()
    condition = resources(bundle, "Condition")[0]
    assert condition.clinicalStatus.coding[0].code == "recurrence"
    assert "squamous cell carcinoma" in condition.code.text
    first, second = resources(bundle, "Procedure")
    assert first.performedPeriod.end.isoformat() == "2025-01-10"
    dose = {ext.url.rsplit("/", 1)[1]: ext for ext in first.extension}
    assert dose["rt-total-dose"].valueQuantity.value == 70
    assert dose["rt-total-dose"].valueQuantity.code == "Gy"
    assert dose["rt-fractions"].valuePositiveInt == 35
    assert "spinal_cord Dmax 44.5 Gy" in first.note[0].text
    assert second.code.text == "SBRT radiotherapy"


def test_document_references_carry_kind_type_size_sha256_and_link():
    refs = documents(3)
    bundle = build(documents=refs)
    found = resources(bundle, "DocumentReference")
    for ref, resource in zip(refs, found, strict=True):
        attachment = resource.content[0].attachment
        assert attachment.url == links(refs)[ref.document_id]
        assert attachment.size == ref.size
        assert attachment.contentType == ref.content_type
        assert resource.type.coding[0].code == ref.kind.value
        # R4B Attachment.hash is SHA-1, so the SHA-256 is not put there.
        assert attachment.hash is None
        sha = [e.valueString for e in attachment.extension if e.url == SHA256_EXTENSION]
        assert sha == [ref.sha256]
        assert resource.identifier[1].value == sha256_ni_uri(ref.sha256)
        assert ref.original_filename not in bundle_json(bundle).decode()


def test_ni_uri_is_rfc6920_base64url_of_the_digest():
    digest = hashlib.sha256(b"abc").digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert sha256_ni_uri(digest.hex()) == f"ni:///sha-256;{expected}"


def test_consents_follow_the_ledger_and_name_the_hospital_as_recipient():
    ledger = ConsentLedger.from_intake(intake()).withdrawn(
        "CN", "cn-xiamen-bnct", "translation", CREATED_AT
    )
    bundle = build(consents=ledger.grants_for("CN", "cn-xiamen-bnct"))
    (consent,) = resources(bundle, "Consent")
    assert consent.provision.purpose[0].code == "referral"
    by_url = {e.fullUrl: e.resource for e in entries(bundle)}
    assert by_url[consent.provision.actor[0].reference.reference].name.startswith("Example BNCT")


def test_email_hospital_in_india_gets_the_india_consent():
    bundle = build(hospital=email_hospital())
    (consent,) = resources(bundle, "Consent")
    assert "IN" in consent.policyRule.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reason": "  "}, "reason: must not be empty"),
        ({"question": ""}, "question: must not be empty"),
        ({"referral_id": ""}, "referral_id: must not be empty"),
        ({"created_at": CREATED_AT.replace(tzinfo=None)}, "created_at: needs a time zone"),
        ({"links": {}}, "links: no presigned URL for document d"),
        ({"case_id": "zzzzzzzzzzzzzzzzzzzzzzzzzz"}, "documents.0: d"),
        ({"consents": []}, "consents: no referral consent for hospital cn-xiamen-bnct"),
    ],
)
def test_rejections_name_the_field(overrides, message):
    with pytest.raises(ValueError) as caught:
        build(**overrides)
    assert str(caught.value).startswith(message)
    assert "Asha" not in str(caught.value)


def test_duplicate_documents_are_rejected():
    refs = documents(2)
    with pytest.raises(ValueError, match="documents: the same document is listed twice"):
        build(documents=[refs[0], refs[0]], links=links(refs))


def test_the_requester_is_the_coordinator_named_with_their_contact():
    from caseflow.contacts import CoordinatorContact

    contact = CoordinatorContact(
        coordinator_id="coord-9",
        name="Ana Costa",
        email="ana.costa@care.example.org",
        phone="+44 20 7946 0958",
        organisation="Cross-border Oncology Care",
    )
    bundle = Bundle.model_validate(json.loads(bundle_json(build(coordinator=contact))))
    request = resources(bundle, "ServiceRequest")[0]
    assert request.requester.display == "Ana Costa, Cross-border Oncology Care"
    [practitioner] = resources(bundle, "Practitioner")
    assert practitioner.identifier[0].value == "coord-9"  # the current coordinator, not intake's
    assert practitioner.name[0].text == "Ana Costa"
    assert [(t.system, t.value) for t in practitioner.telecom] == [
        ("email", "ana.costa@care.example.org"),
        ("phone", "+44 20 7946 0958"),
    ]
    check_references_resolve(bundle)
    # Without a contact: the id only, as before.
    [bare] = resources(build(), "Practitioner")
    assert bare.identifier[0].value == intake().coordinator_id
    assert bare.name is None and bare.telecom is None


def test_the_bundle_keeps_the_codes_the_letter_shows_in_words():
    bundle = build(modalities=["bnct", "sbrt"])
    (request,) = resources(bundle, "ServiceRequest")
    modalities = [(c.system, c.code) for detail in request.orderDetail for c in detail.coding]
    assert modalities == [
        ("https://caseflow.invalid/fhir/modality", "bnct"),
        ("https://caseflow.invalid/fhir/modality", "sbrt"),
    ]
    (condition,) = resources(bundle, "Condition")
    (site,) = condition.bodySite
    assert [(c.system, c.code) for c in site.coding] == [
        ("https://caseflow.invalid/fhir/primary-site", intake().clinical.primary_site.value)
    ]
    (patient,) = resources(bundle, "Patient")
    assert patient.communication[0].language.coding[0].code == intake().patient.preferred_language
    assert patient.address[0].country == intake().patient.country_of_residence
    for reference in resources(bundle, "DocumentReference"):
        assert reference.type.coding[0].code in {ref.kind.value for ref in documents(5)}
    assert build().model_dump()["entry"][0]["resource"].get("orderDetail") is None  # none asked


CONTACT = CoordinatorContact(
    coordinator_id="coord-9", name="Ana Costa", email="ana.costa@care.example.org",
    phone="+44 20 7946 0958", organisation="Cross-border Oncology Care",
)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"hospital": email_hospital()},
        {"coordinator": CONTACT, "modalities": ["bnct", "sbrt"]},
        {"links_expire_at": None, "question": 'Ja/nein? "quoted" \\ and 中文'},
        {"created_at": CREATED_AT.replace(microsecond=123456)},
    ],
)
def test_the_stored_bytes_are_what_fhir_resources_prints(overrides):
    # The packet writes the JSON itself, in FHIR's element order, and lets fhir.resources only
    # validate it: its bytes must be those of the validated Bundle's own serialiser.
    body = checked_bundle_json(referral_bundle_data(**arguments(**overrides)))
    assert body == bundle_json(build(**overrides))
    assert body == bundle_json(Bundle.model_validate_json(body))


def test_the_stored_bytes_of_a_fixed_referral_never_change():
    # Old packets must reproduce: these are the bytes fhir.resources' serialiser made of this
    # referral before the packet wrote its JSON itself.
    body = checked_bundle_json(referral_bundle_data(**arguments(modalities=["bnct", "sbrt"])))
    assert hashlib.sha256(body).hexdigest() == (
        "982e6c837ec82d8ebe7bfa0f18147551aec29e1d9bcc8c76e19c966d0d1ca45d"
    )


def test_the_stored_bytes_are_validated_as_r4b_and_resolved():
    data = referral_bundle_data(**arguments())
    data["entry"][1]["resource"]["birthDate"] = "1961-13-40"
    with pytest.raises(ValidationError) as caught:
        checked_bundle_json(data)
    assert [e["loc"] for e in caught.value.errors()] == [("entry", 1, "resource", "birthDate")]
    data = referral_bundle_data(**arguments())
    data["entry"][0]["resource"]["subject"] = {"reference": "urn:uuid:elsewhere"}
    with pytest.raises(ValueError, match="1 reference"):
        checked_bundle_json(data)
