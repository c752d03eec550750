"""A fictional referral case, plainly made up: intake, documents, links and hospitals.

Pure data built from the case model, for the packet and delivery tests and `bench/packets.py`."""

import hashlib
from datetime import UTC, datetime, timedelta

from caseflow.documents import DocumentKind, DocumentRef
from caseflow.hospitals import Hospital
from caseflow.ids import document_id_for, document_key
from caseflow.intake import CaseIntake

CASE_ID = "abcdefghijklmnopqrstuvwxyz"
CREATED_AT = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)
REASON = "Locally recurrent oropharyngeal SCC 14 months after IMRT: BNCT suitability"
QUESTION = "Is the patient eligible for BNCT, and what work-up do you need before admission?"

_KINDS = [
    (DocumentKind.BIOPSY_REPORT, "application/pdf"),
    (DocumentKind.IMAGING_MRI, "application/dicom"),
    (DocumentKind.RT_DOSE_PLAN, "application/pdf"),
    (DocumentKind.DVH, "image/png"),
    (DocumentKind.PERFORMANCE_STATUS, "application/pdf"),
]


def intake(**consents_override) -> CaseIntake:
    data = {
        "patient": {
            "given_name": "Asha",
            "family_name": "Example",
            "date_of_birth": "1961-07-04",
            "sex": "female",
            "country_of_residence": "KE",
            "preferred_language": "en",
            "email": "asha@example.invalid",
            "phone": "+254 700 000000",
        },
        "clinical": {
            "primary_site": "head_and_neck",
            "histology": "squamous cell carcinoma",
            "recurrence_pattern": "local",
            "lesion_count": 1,
            "largest_lesion_cm": 3.2,
            "prior_rt_courses": [
                {
                    "site": "oropharynx",
                    "technique": "IMRT",
                    "total_dose_gy": 70,
                    "fractions": 35,
                    "completed_on": "2025-01-10",
                    "oar_max_doses_gy": {"spinal_cord": 44.5},
                },
                {
                    "site": "neck nodes",
                    "technique": "SBRT",
                    "total_dose_gy": 24,
                    "fractions": 3,
                    "completed_on": "2025-06-02",
                },
            ],
            "ecog": 1,
        },
        "destinations": {"countries": ["IN", "CN"], "hospital_ids": ["cn-xiamen-bnct"]},
        "consents": [
            {"country": "CN", "purpose": "referral", "granted_at": "2026-03-01T09:00:00Z"},
            {
                "country": "CN",
                "hospital_id": "cn-xiamen-bnct",
                "purpose": "translation",
                "granted_at": "2026-03-01T09:05:00Z",
            },
            {"country": "IN", "purpose": "referral", "granted_at": "2026-03-01T09:00:00Z"},
        ],
        "coordinator_id": "coord-7",
    }
    data.update(consents_override)
    return CaseIntake.model_validate(data)


def documents(count: int = 5, case_id: str = CASE_ID) -> list[DocumentRef]:
    refs = []
    for index in range(count):
        kind, content_type = _KINDS[index % len(_KINDS)]
        sha256 = hashlib.sha256(f"document {index}".encode()).hexdigest()
        document_id = document_id_for(case_id, sha256)
        refs.append(
            DocumentRef(
                document_id=document_id,
                case_id=case_id,
                kind=kind,
                key=document_key(case_id, document_id),
                sha256=sha256,
                size=1000 + index,
                content_type=content_type,
                original_filename=f"record-{index}.bin",
                uploaded_at=CREATED_AT - timedelta(days=1, minutes=index),
            )
        )
    return refs


def links(refs: list[DocumentRef]) -> dict[str, str]:
    return {
        ref.document_id: f"https://s3.example.invalid/{ref.key}?X-Amz-Signature=abc{index}"
        for index, ref in enumerate(refs)
    }


def webhook_hospital(url: str = "http://127.0.0.1:9/hooks/cn-xiamen-bnct") -> Hospital:
    return Hospital(
        hospital_id="cn-xiamen-bnct",
        name="Example BNCT Centre, Xiamen",
        country="CN",
        city="Xiamen",
        languages=["zh-CN", "en"],
        modalities=["bnct", "sbrt"],
        channel="webhook",
        contact_email="international@bnct-xiamen.example.invalid",
        webhook_url=url,
    )


def email_hospital() -> Hospital:
    return Hospital(
        hospital_id="in-chennai-proton",
        name="Example Proton & Re-irradiation Centre, Chennai",
        country="IN",
        city="Chennai",
        languages=["en"],
        modalities=["sbrt"],
        channel="email",
        contact_email="referrals@proton-chennai.example.invalid",
    )
