"""The referral packet's FHIR R4B Bundle: ServiceRequest, Patient, Condition, a Procedure per
prior RT course, a DocumentReference per document, Consent [FHIR R4B, BSeR; sources.md,
"Referrals and packets"].

Pure: the same inputs give byte-identical JSON (fullUrls are UUIDv5 of the referral id), so a
retried packet activity stores the same bundle. The bundle holds PHI; store it only under
opaque keys.
"""

import base64
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.consent import Consent, ConsentProvision, ConsentProvisionActor
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.documentreference import (
    DocumentReference,
    DocumentReferenceContent,
    DocumentReferenceContext,
)
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient, PatientCommunication
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.servicerequest import ServiceRequest

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


def _ref(full_url: str) -> Reference:
    return Reference(reference=full_url)


def _text(text: str) -> CodeableConcept:
    return CodeableConcept(text=text)


def _entry(full_url: str, resource: Any) -> BundleEntry:
    return BundleEntry(fullUrl=full_url, resource=resource)


def _id(full_url: str) -> str:
    return full_url.removeprefix("urn:uuid:")


def build_referral_bundle(
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
) -> Bundle:
    """A `collection` Bundle for one referral to one hospital.

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
    request = ServiceRequest(
        id=_id(request_url),
        identifier=[Identifier(system=REFERRAL_ID_SYSTEM, value=referral_id)],
        requisition=Identifier(system=CASE_ID_SYSTEM, value=case_id),
        status="active",
        intent="order",
        # SNOMED CT 3457005 "Patient referral (procedure)", as BSeR's referral request uses.
        category=[
            CodeableConcept(
                coding=[Coding(system=SNOMED, code="3457005", display="Patient referral")]
            )
        ],
        code=_text("Specialist opinion on recurrent cancer after radiotherapy"),
        subject=_ref(patient_url),
        authoredOn=created_at,
        requester=Reference(
            reference=coordinator_url,
            display=_contact_display(coordinator) if coordinator else None,
        ),
        orderDetail=[
            CodeableConcept(coding=[Coding(system=MODALITY_SYSTEM, code=code)])
            for code in modalities
        ] or None,
        performer=[_ref(hospital_url)],
        reasonCode=[_text(reason)],
        reasonReference=[_ref(condition_url)],
        supportingInfo=[_ref(u) for u in (*procedure_urls, *document_urls, *consent_urls)],
        note=[
            Annotation(text=f"Question: {question}"),
            Annotation(
                text="Triage in this packet is advisory: a qualified oncologist at the "
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
    return Bundle(
        id=_id(url("bundle")),
        identifier=Identifier(system=REFERRAL_ID_SYSTEM, value=referral_id),
        type="collection",
        timestamp=created_at,
        entry=entries,
    )


def _patient(intake: CaseIntake, full_url: str, case_id: str) -> Patient:
    person = intake.patient
    telecom = []
    if person.email:
        telecom.append(ContactPoint(system="email", value=person.email))
    if person.phone:
        telecom.append(ContactPoint(system="phone", value=person.phone))
    return Patient(
        id=_id(full_url),
        identifier=[Identifier(system=CASE_ID_SYSTEM, value=case_id)],
        name=[HumanName(family=person.family_name, given=[person.given_name])],
        gender=person.sex,  # the intake's values are FHIR's administrative-gender codes
        birthDate=person.date_of_birth,
        address=[{"country": person.country_of_residence}],
        telecom=telecom or None,
        communication=[
            PatientCommunication(
                language=CodeableConcept(
                    coding=[Coding(system="urn:ietf:bcp:47", code=person.preferred_language)]
                ),
                preferred=True,
            )
        ],
    )


def _condition(intake: CaseIntake, full_url: str, patient_url: str) -> Condition:
    clinical = intake.clinical
    site = clinical.primary_site.value.replace("_", " ")
    return Condition(
        id=_id(full_url),
        clinicalStatus=CodeableConcept(
            coding=[
                Coding(
                    system="http://terminology.hl7.org/CodeSystem/condition-clinical",
                    code="recurrence",
                )
            ]
        ),
        code=_text(f"Recurrent {clinical.histology}, {site}"),
        bodySite=[
            CodeableConcept(
                coding=[Coding(system=PRIMARY_SITE_SYSTEM, code=clinical.primary_site.value)],
                text=site,
            )
        ],
        subject=_ref(patient_url),
        note=[
            Annotation(
                text=(
                    f"Recurrence pattern: {clinical.recurrence_pattern.value}; "
                    f"lesions: {clinical.lesion_count}; largest {clinical.largest_lesion_cm} cm; "
                    f"ECOG {clinical.ecog}; distant metastases: "
                    f"{'yes' if clinical.has_distant_disease else 'no'}"
                )
            )
        ],
    )


def _procedure(
    course: PriorRtCourse, full_url: str, patient_url: str, condition_url: str
) -> Procedure:
    oar = ", ".join(f"{name} Dmax {dose} Gy" for name, dose in course.oar_max_doses_gy.items())
    return Procedure(
        id=_id(full_url),
        status="completed",
        # SNOMED CT 108290001 / 1217123003, as mCODE's Radiotherapy Course Summary uses.
        category=CodeableConcept(
            coding=[Coding(system=SNOMED, code="108290001",
                           display="Radiation oncology AND/OR radiotherapy")]
        ),
        code=CodeableConcept(
            coding=[Coding(system=SNOMED, code="1217123003",
                           display="Radiotherapy course of treatment")],
            text=f"{course.technique} radiotherapy",
        ),
        subject=_ref(patient_url),
        performedPeriod=Period(end=course.completed_on),
        bodySite=[_text(course.site)],
        reasonReference=[_ref(condition_url)],
        extension=[
            Extension(
                url=TOTAL_DOSE_EXTENSION,
                valueQuantity=Quantity(
                    value=course.total_dose_gy, unit="Gy", system=UCUM, code="Gy"
                ),
            ),
            Extension(url=FRACTIONS_EXTENSION, valuePositiveInt=course.fractions),
        ],
        note=[
            Annotation(
                text=f"{course.total_dose_gy} Gy in {course.fractions} fractions"
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
) -> DocumentReference:
    # Attachment.hash is SHA-1 in R4/R4B, and we hold only the SHA-256 of each file, so the
    # hash goes in an RFC 6920 identifier and a hex extension instead of a wrong Attachment.hash.
    extensions = [Extension(url=SHA256_EXTENSION, valueString=ref.sha256)]
    if links_expire_at is not None:
        extensions.append(Extension(url=LINK_EXPIRES_EXTENSION, valueDateTime=links_expire_at))
    return DocumentReference(
        id=_id(full_url),
        identifier=[
            Identifier(system=DOCUMENT_ID_SYSTEM, value=ref.document_id),
            Identifier(system=URI_SYSTEM, value=sha256_ni_uri(ref.sha256)),
        ],
        status="current",
        type=CodeableConcept(
            coding=[Coding(system=DOCUMENT_KIND_SYSTEM, code=ref.kind.value)],
            text=ref.kind.value.replace("_", " "),
        ),
        subject=_ref(patient_url),
        date=ref.uploaded_at,
        content=[
            DocumentReferenceContent(
                attachment=Attachment(
                    contentType=ref.content_type,
                    size=ref.size,
                    url=link,
                    # The kind and id, not the uploaded filename, which may name the patient.
                    title=f"{ref.kind.value} {ref.document_id}",
                    extension=extensions,
                )
            )
        ],
        context=DocumentReferenceContext(related=[_ref(request_url)]),
    )


def _practitioner(
    coordinator_id: str, contact: CoordinatorContact | None, full_url: str
) -> Practitioner:
    """The referring coordinator: their id, and with a contact their name, e-mail and phone."""
    telecom = []
    if contact is not None:
        telecom.append(ContactPoint(system="email", value=contact.email, use="work"))
        if contact.phone:
            telecom.append(ContactPoint(system="phone", value=contact.phone, use="work"))
    return Practitioner(
        id=_id(full_url),
        identifier=[Identifier(system=COORDINATOR_ID_SYSTEM, value=coordinator_id)],
        name=[HumanName(text=contact.name)] if contact is not None else None,
        telecom=telecom or None,
    )


def _contact_display(contact: CoordinatorContact) -> str:
    if contact.organisation:
        return f"{contact.name}, {contact.organisation}"
    return contact.name


def _organization(hospital: Hospital, full_url: str) -> Organization:
    telecom = []
    if hospital.contact_email:
        telecom.append(ContactPoint(system="email", value=hospital.contact_email))
    if hospital.webhook_url:
        telecom.append(ContactPoint(system="url", value=hospital.webhook_url))
    return Organization(
        id=_id(full_url),
        identifier=[Identifier(system=HOSPITAL_ID_SYSTEM, value=hospital.hospital_id)],
        name=hospital.name,
        address=[{"city": hospital.city, "country": hospital.country}],
        telecom=telecom or None,
    )


def _consent(
    grant: ConsentGrant, full_url: str, patient_url: str, hospital_url: str
) -> Consent:
    purposes = [Coding(system=CONSENT_PURPOSE_SYSTEM, code=grant.purpose)]
    if grant.purpose == "referral":
        purposes.append(
            Coding(system="http://terminology.hl7.org/CodeSystem/v3-ActReason", code="TREAT")
        )
    scope_text = (
        f"any hospital in {grant.country}" if grant.hospital_id is None
        else f"hospital {grant.hospital_id} ({grant.country})"
    )
    return Consent(
        id=_id(full_url),
        status="active",
        scope=CodeableConcept(
            coding=[
                Coding(
                    system="http://terminology.hl7.org/CodeSystem/consentscope",
                    code="patient-privacy",
                )
            ]
        ),
        category=[CodeableConcept(coding=[Coding(system="http://loinc.org", code="59284-0")])],
        patient=_ref(patient_url),
        dateTime=grant.granted_at,
        policyRule=CodeableConcept(
            coding=[
                Coding(system="http://terminology.hl7.org/CodeSystem/v3-ActCode", code="OPTIN")
            ],
            text=f"Consent to share health records for {grant.purpose} with {scope_text}",
        ),
        provision=ConsentProvision(
            type="permit",
            purpose=purposes,
            actor=[
                ConsentProvisionActor(
                    role=CodeableConcept(
                        coding=[
                            Coding(
                                system="http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                code="IRCP",
                                display="information recipient",
                            )
                        ]
                    ),
                    reference=_ref(hospital_url),
                )
            ],
        ),
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


def checked_bundle_json(bundle: Bundle) -> bytes:
    """bundle_json, once every reference resolves (ValueError otherwise). The check reads the
    same JSON back: fhir.resources' serialiser is most of a packet's bundle cost, so once."""
    body = bundle_json(bundle)
    check_references_resolve(json.loads(body))
    return body


def bundle_json(bundle: Bundle) -> bytes:
    """The bundle as stable JSON bytes, for storing in the packet and hashing."""
    return bundle.model_dump_json(exclude_none=True).encode()
