"""RecordsChecklist: derived items per site, satisfying, waiving, re-requesting, JSON round trip."""

import hashlib
from datetime import UTC, datetime

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.checklist import ChecklistError, RecordsChecklist
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.ids import document_id_for, document_key
from caseflow.intake import CaseIntake
from tests.caseflow.test_intake import intake_data

CASE_ID = "abcdefghijklmnopqrstuvwxyz"
WORKUP = {
    "biopsy", "imaging", "prior_rt_dosimetry", "prior_rt_summary", "performance_status",
    "organ_function",
}


def intake_for(site: str, biomarkers: list[str] | None = None, sins: int | None = None):
    data = intake_data()
    data["clinical"]["primary_site"] = site
    data["clinical"]["biomarkers"] = biomarkers or []
    data["clinical"]["sins"] = sins
    return CaseIntake.model_validate(data)


def ref(kind: DocumentKind, content: bytes = b"x") -> DocumentRef:
    sha = hashlib.sha256(content + kind.value.encode()).hexdigest()
    document_id = document_id_for(CASE_ID, sha)
    return DocumentRef(
        document_id=document_id, case_id=CASE_ID, kind=kind,
        key=document_key(CASE_ID, document_id), sha256=sha, size=10,
        content_type="application/pdf", original_filename="report.pdf",
        uploaded_at=datetime(2026, 3, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("site", "biomarkers", "sins", "extra"),
    [
        ("head_and_neck", [], None, set()),
        ("head_and_neck", ["PD-L1+"], None, {"molecular_report"}),
        ("prostate", [], None, {"psma_pet"}),
        # PSMA+ comes from the PSMA PET, so it asks for no molecular report [seed:site-additions].
        ("prostate", ["PSMA+"], None, {"psma_pet"}),
        ("prostate", ["PSMA+", "BRCA"], None, {"psma_pet", "molecular_report"}),
        ("brain", [], None, {"brain_mri"}),
        ("spine", [], 10, {"spine_mri", "spine_sins"}),
        ("lung", [], None, {"molecular_report"}),
        ("cervix_uterus", [], None, {"molecular_report"}),
        ("liver", ["BRCA"], None, {"molecular_report"}),
        ("rectal_pelvic", [], None, set()),
    ],
)
def test_build_has_the_workup_plus_site_additions(site, biomarkers, sins, extra):
    checklist = RecordsChecklist.build(intake_for(site, biomarkers, sins))
    ids = [i.item_id for i in checklist.items]
    assert set(ids) == WORKUP | extra
    assert len(ids) == len(set(ids))
    assert all(i.reason and i.source for i in checklist.items)
    assert {i.source for i in checklist.items if i.item_id in WORKUP} == {"seed:FAQ-workup"}
    assert not checklist.complete
    assert "boron_pet" not in ids  # added only when the BNCT centre asks


def test_a_document_satisfies_every_item_accepting_its_kind():
    checklist = RecordsChecklist.build(intake_for("brain"))
    mri = ref(DocumentKind.IMAGING_MRI)
    assert checklist.satisfy(mri) == ["imaging", "brain_mri"]
    assert checklist.satisfy(mri) == ["imaging", "brain_mri"]  # idempotent
    assert checklist.item("imaging").satisfied_by == [mri.document_id]
    assert checklist.satisfy(ref(DocumentKind.PASSPORT)) == []
    # A CT does not stand in for the brain MRI.
    checklist2 = RecordsChecklist.build(intake_for("brain"))
    assert checklist2.satisfy(ref(DocumentKind.IMAGING_CT)) == ["imaging"]
    assert "brain_mri" in [i.item_id for i in checklist2.missing()]


def test_complete_after_all_items_satisfied_or_waived():
    checklist = RecordsChecklist.build(intake_for("head_and_neck"))
    for kind in (DocumentKind.BIOPSY_REPORT, DocumentKind.IMAGING_PET_CT, DocumentKind.DVH,
                 DocumentKind.RT_TREATMENT_SUMMARY, DocumentKind.LABS):
        assert checklist.satisfy(ref(kind))
    assert [i.item_id for i in checklist.missing()] == ["performance_status"]
    checklist.waive("performance_status", "  ECOG documented in the referral letter  ")
    assert checklist.item("performance_status").waived_reason == (
        "ECOG documented in the referral letter"
    )
    assert checklist.complete


@pytest.mark.parametrize(
    ("item_id", "reason", "message"),
    [
        ("biopsy", "", "reason: must not be empty"),
        ("biopsy", "   ", "reason: must not be empty"),
        ("biopsy", "x" * 501, "reason: at most 500 characters"),
        ("passport", "not needed", "item_id: unknown checklist item 'passport'; known: biopsy"),
        ("imaging", "have it", "'imaging' is already satisfied"),
    ],
)
def test_waive_rejections(item_id, reason, message):
    checklist = RecordsChecklist.build(intake_for("head_and_neck"))
    checklist.satisfy(ref(DocumentKind.IMAGING_CT))
    before = checklist.model_dump()
    with pytest.raises(ChecklistError, match=message):
        checklist.check_waiver(item_id, reason)
    with pytest.raises(ChecklistError, match=message):
        checklist.waive(item_id, reason)
    assert checklist.model_dump() == before  # nothing half-applied


def test_request_more_adds_boron_pet_from_the_bnct_trial_and_reopens_on_repeat():
    checklist = RecordsChecklist.build(intake_for("head_and_neck"))
    opened = checklist.request_more([DocumentKind.BORON_PET, DocumentKind.BIOPSY_REPORT],
                                    "BNCT centre asks for FBPA PET and a fresh biopsy")
    assert opened == ["boron_pet", "more_biopsy_report"]
    boron = checklist.item("boron_pet")
    assert boron.source == "bnct-trial"
    assert boron.accepts == [DocumentKind.BORON_PET]
    assert checklist.item("more_biopsy_report").source == "specialist-request"
    pet = ref(DocumentKind.BORON_PET)
    assert checklist.satisfy(pet) == ["boron_pet"]
    assert checklist.item("boron_pet").done
    # Asked again (say, the scan was unreadable): re-opened, old document no longer counts.
    assert checklist.request_more([DocumentKind.BORON_PET], "ratio not reported") == ["boron_pet"]
    assert [i.item_id for i in checklist.items].count("boron_pet") == 1
    assert not checklist.item("boron_pet").done
    assert checklist.item("boron_pet").reason == "ratio not reported"


@pytest.mark.parametrize(
    ("kinds", "reason", "message"),
    [
        ([], "need more", "kinds: name at least one document kind"),
        (["x_ray_of_feelings"], "need more", "kinds: unknown document kind 'x_ray_of_feelings'"),
        ([DocumentKind.BORON_PET], " ", "reason: must not be empty"),
    ],
)
def test_request_more_rejections(kinds, reason, message):
    checklist = RecordsChecklist.build(intake_for("head_and_neck"))
    with pytest.raises(ChecklistError, match=message):
        checklist.request_more(kinds, reason)
    assert len(checklist.items) == len(WORKUP)


def test_round_trips_after_satisfy_waive_and_request():
    checklist = RecordsChecklist.build(intake_for("spine", sins=13))
    checklist.satisfy(ref(DocumentKind.IMAGING_MRI))
    checklist.waive("organ_function", "labs to follow at admission")
    checklist.request_more([DocumentKind.BORON_PET], "centre asks")
    assert RecordsChecklist.model_validate_json(checklist.model_dump_json()) == checklist
    converter = pydantic_data_converter.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([checklist]), [RecordsChecklist])
    assert back == checklist
    assert back.item("spine_mri").satisfied
    assert back.item("organ_function").waived
