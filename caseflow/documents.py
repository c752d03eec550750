"""Document kinds a case can hold, the content types each accepts, and the DocumentRef.

A case knows a document only by its DocumentRef; the bytes live in S3 under
`cases/<case_id>/<document_id>` (design.md, "One source of truth per fact").
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from caseflow.ids import CaseId, DocumentId


class DocumentKind(StrEnum):
    # The re-irradiation workup [seed:FAQ-workup, seed:site-additions].
    BIOPSY_REPORT = "biopsy_report"
    IMAGING_MRI = "imaging_mri"
    IMAGING_CT = "imaging_ct"
    IMAGING_PET_CT = "imaging_pet_ct"
    PSMA_PET = "psma_pet"
    BORON_PET = "boron_pet"
    DICOM_STUDY = "dicom_study"
    RT_TREATMENT_SUMMARY = "rt_treatment_summary"
    RT_DOSE_PLAN = "rt_dose_plan"
    DVH = "dvh"
    LABS = "labs"
    PERFORMANCE_STATUS = "performance_status"
    MOLECULAR_REPORT = "molecular_report"
    SPINE_SINS_ASSESSMENT = "spine_sins_assessment"
    # Travel, consent and the hospital's side [sources.md, "Referrals and packets", "Consent and
    # erasure"].
    PASSPORT = "passport"
    CONSENT_FORM = "consent_form"
    HOSPITAL_OPINION = "hospital_opinion"
    TREATMENT_PLAN = "treatment_plan"
    COST_ESTIMATE = "cost_estimate"
    VISA_LETTER = "visa_letter"
    TRANSLATION = "translation"
    OTHER = "other"


PDF = "application/pdf"
DICOM = "application/dicom"
JPEG = "image/jpeg"
PNG = "image/png"
TIFF = "image/tiff"
ZIP = "application/zip"
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# Programs, refused for every kind whatever the name says (issue 12: a shell script named
# `.pdf` passed as plain text). Sniffed by activities/document_content.py from the magic bytes.
SCRIPT = "text/x-script"  # "#!" interpreter line
ELF = "application/x-elf"
WINDOWS_EXECUTABLE = "application/x-msdownload"  # "MZ": DOS/PE executables and DLLs
MACH_O = "application/x-mach-binary"
PROGRAMS: dict[str, str] = {
    SCRIPT: "a script (#!)",
    ELF: "an executable program (ELF)",
    WINDOWS_EXECUTABLE: "an executable program (Windows, MZ)",
    MACH_O: "an executable program (Mach-O)",
}

_REPORTS = frozenset({PDF, JPEG, PNG, TIFF, TEXT, DOCX})
_IMAGES = frozenset({PDF, DICOM, JPEG, PNG, TIFF, ZIP})
_SCANS = frozenset({PDF, JPEG, PNG, TIFF})

ACCEPTED_CONTENT_TYPES: dict[DocumentKind, frozenset[str]] = {
    DocumentKind.BIOPSY_REPORT: _REPORTS,
    DocumentKind.IMAGING_MRI: _IMAGES,
    DocumentKind.IMAGING_CT: _IMAGES,
    DocumentKind.IMAGING_PET_CT: _IMAGES,
    DocumentKind.PSMA_PET: _IMAGES,
    DocumentKind.BORON_PET: _IMAGES,
    DocumentKind.DICOM_STUDY: frozenset({DICOM, ZIP}),
    DocumentKind.RT_TREATMENT_SUMMARY: _REPORTS,
    # Dose plans travel as DICOM RT exports or as printed plan reports.
    DocumentKind.RT_DOSE_PLAN: frozenset({PDF, DICOM, ZIP, TEXT}),
    DocumentKind.DVH: frozenset({PDF, PNG, JPEG, TEXT, ZIP}),
    DocumentKind.LABS: _REPORTS,
    DocumentKind.PERFORMANCE_STATUS: _REPORTS,
    DocumentKind.MOLECULAR_REPORT: _REPORTS,
    DocumentKind.SPINE_SINS_ASSESSMENT: _REPORTS,
    DocumentKind.PASSPORT: _SCANS,
    DocumentKind.CONSENT_FORM: _SCANS,
    DocumentKind.HOSPITAL_OPINION: _REPORTS,
    DocumentKind.TREATMENT_PLAN: _REPORTS,
    DocumentKind.COST_ESTIMATE: _REPORTS,
    DocumentKind.VISA_LETTER: _SCANS,
    DocumentKind.TRANSLATION: _REPORTS,
    DocumentKind.OTHER: frozenset({PDF, DICOM, JPEG, PNG, TIFF, ZIP, TEXT, DOCX}),
}


class DocumentRef(BaseModel):
    """How a case refers to one stored document. Holds no patient data except the filename,
    which is kept only in workflow state (encrypted history), never in keys or logs."""

    model_config = ConfigDict(frozen=True)

    document_id: DocumentId
    case_id: CaseId
    kind: DocumentKind
    key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(gt=0)
    content_type: str
    original_filename: str
    uploaded_at: datetime
