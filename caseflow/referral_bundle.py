"""The referral packet's FHIR R4B Bundle: ServiceRequest, Patient, Condition, a Procedure per
prior RT course, a DocumentReference per document, Consent [FHIR R4B, BSeR; sources.md,
"Referrals and packets"].

Pure: the same inputs give byte-identical JSON (fullUrls are UUIDv5 of the referral id), so a
retried packet activity stores the same bundle. The bundle is written as FHIR JSON data in the
order fhir.resources prints it, and validated by fhir.resources once, from its JSON. The bundle
holds PHI; store it only under opaque keys.
"""

import base64
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic_core import to_json

from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentRef
from caseflow.fhir_systems import (
    CASE_ID_SYSTEM,
    CONSENT_PURPOSE_SYSTEM,
    COORDINATOR_ID_SYSTEM,
    DOCUMENT_ID_SYSTEM,
    DOCUMENT_KIND_SYSTEM,
    FRACTIONS_EXTENSION,
    HOSPITAL_ID_SYSTEM,
    LINK_EXPIRES_EXTENSION,
    MODALITY_SYSTEM,
    PRIMARY_SITE_SYSTEM,
    REFERRAL_ID_SYSTEM,
    SHA256_EXTENSION,
    TOTAL_DOSE_EXTENSION,
    URI_SYSTEM,
)
from caseflow.hospitals import Hospital
from caseflow.intake import CaseIntake, ConsentGrant, PriorRtCourse

# Namespace for the bundle's UUIDv5 fullUrls; fixed forever, or old packets stop reproducing.
BUNDLE_NAMESPACE = uuid.UUID("5d0e7a52-2f5c-4c43-9d8e-3b0c8f6b9a11")


SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"


def bundle_uuid(referral_id: str, part: str) -> str:
    """The urn:uuid of one bundle entry, derived from the referral id and the entry's role."""
    return f"urn:uuid:{uuid.uuid5(BUNDLE_NAMESPACE, f'{referral_id}/{part}')}"


def sha256_ni_uri(sha256_hex: str) -> str:
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).rstrip(b"=").decode()
    return f"ni:///sha-256;{digest}"


def _element(**fields: Any) -> dict[str, Any]:
    """One FHIR element as its JSON object, in the order given (FHIR's element order, which
    fhir.resources serialises in), without the absent and the empty: FHIR elements are never
    empty, so None and [] are omitted, as model_dump_json(exclude_none=True) omits them."""
    return {name: value for name, value in fields.items() if value is not None and value != []}


def _ref(full_url: str) -> dict[str, Any]:
    return {"reference": full_url}


def _text(text: str) -> dict[str, Any]:
    return {"text": text}


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_element(system=system, code=code, display=display)]}


def _identifier(system: str, value: str) -> dict[str, Any]:
    return {"system": system, "value": value}


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource}


def _id(full_url: str) -> str:
    return full_url.removeprefix("urn:uuid:")


def build_referral_bundle(**arguments: Any) -> Bundle:
    """The referral's Bundle as fhir.resources models (the arguments are referral_bundle_data's).
    A packet stores checked_bundle_json of the data, which is this bundle's bundle_json."""
    return Bundle.model_validate(referral_bundle_data(**arguments))


def referral_bundle_data(
    *,
    referral_id: str,
    case_id: str,
    intake: CaseIntake,
    hospital: Hospital,
    documents: Sequence[DocumentRef],
    links: Mapping[str, str],
    reason: str,
    question: str,
    created_at: datetime,
    links_expire_at: datetime | None = None,
    consents: Sequence[ConsentGrant] | None = None,
    coordinator_id: str | None = None,
    coordinator: CoordinatorContact | None = None,
    modalities: Sequence[str] = (),
) -> dict[str, Any]:
    """A `collection` Bundle for one referral to one hospital, as FHIR JSON data (dates and
    times still Python values, which pydantic writes as fhir.resources does).

    `links` maps document_id to its presigned URL. `consents` are the grants in force (e.g.
    `ConsentLedger.grants_for(country, hospital_id)`); by default the intake's grants covering
    the hospital. `coordinator_id` is the case's coordinator now (by default the intake's), and
    `coordinator` their contact, which names the requesting Practitioner. `modalities` are the
    treatments asked about, as caseflow's codes (ServiceRequest.orderDetail). Raises ValueError
    naming the field for inputs that cannot make a packet.
    """
    if not referral_id.strip():
        raise ValueError("referral_id: must not be empty")
    if not reason.strip():
        raise ValueError("reason: must not be empty")
    if not question.strip():
        raise ValueError("question: must not be empty")
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise ValueError("created_at: needs a time zone")
    for index, ref in enumerate(documents):
        if ref.case_id != case_id:
            raise ValueError(f"documents.{index}: {ref.document_id} belongs to another case")
        if not links.get(ref.document_id):
            raise ValueError(f"links: no presigned URL for document {ref.document_id}")
    if len({ref.document_id for ref in documents}) != len(documents):
        raise ValueError("documents: the same document is listed twice")
    if consents is None:
        consents = [
            grant
            for grant in intake.consents
            if grant.covers(hospital.country, hospital.hospital_id, grant.purpose)
        ]
    if not any(g.covers(hospital.country, hospital.hospital_id, "referral") for g in consents):
        raise ValueError(
            f"consents: no referral consent for hospital {hospital.hospital_id} "
            f"({hospital.country})"
        )

    def url(part: str) -> str:
        return bundle_uuid(referral_id, part)

    patient_url, condition_url = url("patient"), url("condition")
    hospital_url, coordinator_url = url("organization"), url("practitioner")
    request_url = url("service-request")
    procedure_urls = [url(f"procedure/{i}") for i in range(len(intake.clinical.prior_rt_courses))]
    document_urls = [url(f"document/{ref.document_id}") for ref in documents]
    consent_urls = [url(f"consent/{i}") for i in range(len(consents))]

    patient = _patient(intake, patient_url, case_id)
    condition = _condition(intake, condition_url, patient_url)
    procedures = [
        _procedure(course, procedure_url, patient_url, condition_url)
        for course, procedure_url in zip(
            intake.clinical.prior_rt_courses, procedure_urls, strict=True
        )
    ]
    document_references = [
        _document_reference(ref, links[ref.document_id], links_expire_at, doc_url, patient_url,
                            request_url)
        for ref, doc_url in zip(documents, document_urls, strict=True)
    ]
    organization = _organization(hospital, hospital_url)
    if coordinator is not None:
        coordinator_id = coordinator.coordinator_id
    practitioner = _practitioner(
        coordinator_id or intake.coordinator_id, coordinator, coordinator_url
    )
    request = _element(
        resourceType="ServiceRequest",
        id=_id(request_url),
        identifier=[_identifier(REFERRAL_ID_SYSTEM, referral_id)],
        requisition=_identifier(CASE_ID_SYSTEM, case_id),
        status="active",
        intent="order",
        # SNOMED CT 3457005 "Patient referral (procedure)", as BSeR's referral request uses.
        category=[_coded(SNOMED, "3457005", "Patient referral")],
        code=_text("Specialist opinion on recurrent cancer after radiotherapy"),
        orderDetail=[_coded(MODALITY_SYSTEM, code) for code in modalities],
        subject=_ref(patient_url),
        authoredOn=created_at,
        requester=_element(
            reference=coordinator_url,
            display=_contact_display(coordinator) if coordinator else None,
        ),
        performer=[_ref(hospital_url)],
        reasonCode=[_text(reason)],
        reasonReference=[_ref(condition_url)],
        supportingInfo=[_ref(u) for u in (*procedure_urls, *document_urls, *consent_urls)],
        note=[
            _text(f"Question: {question}"),
            _text(
                "Triage in this packet is advisory: a qualified oncologist at the "
                "receiving hospital decides."
            ),
        ],
    )
    consent_resources = [
        _consent(grant, consent_url, patient_url, hospital_url)
        for grant, consent_url in zip(consents, consent_urls, strict=True)
    ]

    entries = [
        _entry(request_url, request),
        _entry(patient_url, patient),
        _entry(condition_url, condition),
        *(_entry(u, r) for u, r in zip(procedure_urls, procedures, strict=True)),
        *(_entry(u, r) for u, r in zip(document_urls, document_references, strict=True)),
        *(_entry(u, r) for u, r in zip(consent_urls, consent_resources, strict=True)),
        _entry(hospital_url, organization),
        _entry(coordinator_url, practitioner),
    ]
    return {
        "resourceType": "Bundle",
        "id": _id(url("bundle")),
        "identifier": _identifier(REFERRAL_ID_SYSTEM, referral_id),
        "type": "collection",
        "timestamp": created_at,
        "entry": entries,
    }


def _patient(intake: CaseIntake, full_url: str, case_id: str) -> dict[str, Any]:
    person = intake.patient
    telecom = []
    if person.email:
        telecom.append({"system": "email", "value": person.email})
    if person.phone:
        telecom.append({"system": "phone", "value": person.phone})
    return _element(
        resourceType="Patient",
        id=_id(full_url),
        identifier=[_identifier(CASE_ID_SYSTEM, case_id)],
        name=[{"family": person.family_name, "given": [person.given_name]}],
        telecom=telecom,
        gender=person.sex,  # the intake's values are FHIR's administrative-gender codes
        birthDate=person.date_of_birth,
        address=[{"country": person.country_of_residence}],
        communication=[
            {
                "language": _coded("urn:ietf:bcp:47", person.preferred_language),
                "preferred": True,
            }
        ],
    )


def _condition(intake: CaseIntake, full_url: str, patient_url: str) -> dict[str, Any]:
    clinical = intake.clinical
    site = clinical.primary_site.value.replace("_", " ")
    return _element(
        resourceType="Condition",
        id=_id(full_url),
        clinicalStatus=_coded(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "recurrence"
        ),
        code=_text(f"Recurrent {clinical.histology}, {site}"),
        bodySite=[{**_coded(PRIMARY_SITE_SYSTEM, clinical.primary_site.value), "text": site}],
        subject=_ref(patient_url),
        note=[
            _text(
                f"Recurrence pattern: {clinical.recurrence_pattern.value}; "
                f"lesions: {clinical.lesion_count}; largest {clinical.largest_lesion_cm} cm; "
                f"ECOG {clinical.ecog}; distant metastases: "
                f"{'yes' if clinical.has_distant_disease else 'no'}"
            )
        ],
    )


def _procedure(
    course: PriorRtCourse, full_url: str, patient_url: str, condition_url: str
) -> dict[str, Any]:
    oar = ", ".join(f"{name} Dmax {dose} Gy" for name, dose in course.oar_max_doses_gy.items())
    return _element(
        resourceType="Procedure",
        id=_id(full_url),
        extension=[
            {
                "url": TOTAL_DOSE_EXTENSION,
                "valueQuantity": {
                    "value": course.total_dose_gy, "unit": "Gy", "system": UCUM, "code": "Gy"
                },
            },
            {"url": FRACTIONS_EXTENSION, "valuePositiveInt": course.fractions},
        ],
        status="completed",
        # SNOMED CT 108290001 / 1217123003, as mCODE's Radiotherapy Course Summary uses.
        category=_coded(SNOMED, "108290001", "Radiation oncology AND/OR radiotherapy"),
        code={
            **_coded(SNOMED, "1217123003", "Radiotherapy course of treatment"),
            "text": f"{course.technique} radiotherapy",
        },
        subject=_ref(patient_url),
        performedPeriod={"end": course.completed_on},
        reasonReference=[_ref(condition_url)],
        bodySite=[_text(course.site)],
        note=[
            _text(
                f"{course.total_dose_gy} Gy in {course.fractions} fractions"
                + (f"; {oar}" if oar else "")
            )
        ],
    )


def _document_reference(
    ref: DocumentRef,
    link: str,
    links_expire_at: datetime | None,
    full_url: str,
    patient_url: str,
    request_url: str,
) -> dict[str, Any]:
    # Attachment.hash is SHA-1 in R4/R4B, and we hold only the SHA-256 of each file, so the
    # hash goes in an RFC 6920 identifier and a hex extension instead of a wrong Attachment.hash.
    extensions: list[dict[str, Any]] = [{"url": SHA256_EXTENSION, "valueString": ref.sha256}]
    if links_expire_at is not None:
        extensions.append({"url": LINK_EXPIRES_EXTENSION, "valueDateTime": links_expire_at})
    return _element(
        resourceType="DocumentReference",
        id=_id(full_url),
        identifier=[
            _identifier(DOCUMENT_ID_SYSTEM, ref.document_id),
            _identifier(URI_SYSTEM, sha256_ni_uri(ref.sha256)),
        ],
        status="current",
        type={
            **_coded(DOCUMENT_KIND_SYSTEM, ref.kind.value),
            "text": ref.kind.value.replace("_", " "),
        },
        subject=_ref(patient_url),
        date=ref.uploaded_at,
        content=[
            {
                "attachment": {
                    "extension": extensions,
                    "contentType": ref.content_type,
                    "url": link,
                    "size": ref.size,
                    # The kind and id, not the uploaded filename, which may name the patient.
                    "title": f"{ref.kind.value} {ref.document_id}",
                }
            }
        ],
        context={"related": [_ref(request_url)]},
    )


def _practitioner(
    coordinator_id: str, contact: CoordinatorContact | None, full_url: str
) -> dict[str, Any]:
    """The referring coordinator: their id, and with a contact their name, e-mail and phone."""
    telecom = []
    if contact is not None:
        telecom.append({"system": "email", "value": contact.email, "use": "work"})
        if contact.phone:
            telecom.append({"system": "phone", "value": contact.phone, "use": "work"})
    return _element(
        resourceType="Practitioner",
        id=_id(full_url),
        identifier=[_identifier(COORDINATOR_ID_SYSTEM, coordinator_id)],
        name=[_text(contact.name)] if contact is not None else None,
        telecom=telecom,
    )


def _contact_display(contact: CoordinatorContact) -> str:
    if contact.organisation:
        return f"{contact.name}, {contact.organisation}"
    return contact.name


def _organization(hospital: Hospital, full_url: str) -> dict[str, Any]:
    telecom = []
    if hospital.contact_email:
        telecom.append({"system": "email", "value": hospital.contact_email})
    if hospital.webhook_url:
        telecom.append({"system": "url", "value": hospital.webhook_url})
    return _element(
        resourceType="Organization",
        id=_id(full_url),
        identifier=[_identifier(HOSPITAL_ID_SYSTEM, hospital.hospital_id)],
        name=hospital.name,
        telecom=telecom,
        address=[{"city": hospital.city, "country": hospital.country}],
    )


def _consent(
    grant: ConsentGrant, full_url: str, patient_url: str, hospital_url: str
) -> dict[str, Any]:
    purposes = [{"system": CONSENT_PURPOSE_SYSTEM, "code": grant.purpose}]
    if grant.purpose == "referral":
        purposes.append(
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}
        )
    scope_text = (
        f"any hospital in {grant.country}" if grant.hospital_id is None
        else f"hospital {grant.hospital_id} ({grant.country})"
    )
    return _element(
        resourceType="Consent",
        id=_id(full_url),
        status="active",
        scope=_coded("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        category=[_coded("http://loinc.org", "59284-0")],
        patient=_ref(patient_url),
        dateTime=grant.granted_at,
        policyRule={
            **_coded("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
            "text": f"Consent to share health records for {grant.purpose} with {scope_text}",
        },
        provision={
            "type": "permit",
            "actor": [
                {
                    "role": _coded(
                        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                        "IRCP",
                        "information recipient",
                    ),
                    "reference": _ref(hospital_url),
                }
            ],
            "purpose": purposes,
        },
    )


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            yield reference
        for key, item in value.items():
            if key != "reference":
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def unresolved_references(bundle: Bundle | dict[str, Any]) -> list[str]:
    """Every Reference.reference in the bundle that names no entry's fullUrl (empty when all
    resolve). Walks the JSON form (a dict: the bundle already in it), so references in any
    element or extension count."""
    data = bundle if isinstance(bundle, dict) else json.loads(bundle_json(bundle))
    full_urls = {entry["fullUrl"] for entry in data.get("entry", [])}
    unresolved = []
    for entry in data.get("entry", []):
        for reference in _references(entry.get("resource", {})):
            if reference not in full_urls:
                unresolved.append(reference)
    return unresolved


def check_references_resolve(bundle: Bundle | dict[str, Any]) -> None:
    """Raise ValueError listing the first unresolved references, if any."""
    unresolved = unresolved_references(bundle)
    if unresolved:
        shown = ", ".join(unresolved[:5])
        raise ValueError(f"bundle: {len(unresolved)} reference(s) resolve to no entry: {shown}")


def checked_bundle_json(data: dict[str, Any]) -> bytes:
    """The stored bytes of a bundle given as referral_bundle_data: validated once by
    fhir.resources (pydantic.ValidationError when not valid R4B), every reference resolving
    (ValueError otherwise). The same bytes as bundle_json of the validated Bundle, for about a
    third of the CPU: building the models and fhir.resources' serialiser were most of a
    packet's CPU, and the data is already written in the element order it prints in."""
    body = to_json(data)
    Bundle.model_validate_json(body)
    check_references_resolve(data)
    return body


def bundle_json(bundle: Bundle) -> bytes:
    """The bundle as stable JSON bytes, for storing in the packet and hashing."""
    return bundle.model_dump_json(exclude_none=True).encode()
