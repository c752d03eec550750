"""The referral letter renders the advisory flags, the decider line, the notice and documents."""

from datetime import date

import pytest

from activities.letters import DECIDER_LINE, ReferralLetters, ReferralPacketRequest
from caseflow.case_status import TriageFlagEntry
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import new_case_id
from caseflow.settings import CaseflowSettings

from .cases import document, intake


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_letter_has_flags_decider_line_notice_and_documents(language):
    case_id = new_case_id()
    documents = [document(case_id, DocumentKind.BIOPSY_REPORT), document(case_id, DocumentKind.DVH)]
    letters = ReferralLetters(CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y"))
    html = letters.render_letter(
        ReferralPacketRequest(
            packet_id="0f0e0d0c-aaaa-bbbb-cccc-000000000001",
            case_id=case_id,
            hospital=HospitalDirectory.load_default().get("cn-beijing-cancer"),
            intake=intake(),
            documents=documents,
            triage_flags=[
                TriageFlagEntry(
                    code="X",
                    level="caution",
                    message="Interval <6 months & high risk",
                    source="seed",
                )
            ],
            modalities=["sbrt"],
            recommendation="SBRT",
            coordinator_id="coord-1",
            language=language,
            written_on=date(2025, 6, 1),
            reason="Local recurrence 26 months after IMRT",
            question="Is SBRT re-irradiation possible?",
        )
    )
    assert "Local recurrence 26 months after IMRT" in html
    assert "Is SBRT re-irradiation possible?" in html
    assert DECIDER_LINE in html
    assert "Confidential" in html
    assert "Interval &lt;6 months &amp; high risk" in html  # autoescaped
    for ref in documents:
        assert ref.sha256 in html and ref.document_id in html
    assert case_id in html
    letters.close()


def test_letter_without_reason_derives_it_from_the_intake():
    case_id = new_case_id()
    request = ReferralPacketRequest(
        packet_id="0f0e0d0c-aaaa-bbbb-cccc-000000000002",
        case_id=case_id,
        hospital=HospitalDirectory.load_default().get("in-chennai-proton"),
        intake=intake(),
        documents=[],
        triage_flags=[],
        modalities=["sbrt"],
        coordinator_id="coord-1",
        written_on=date(2025, 6, 1),
    )
    assert request.reason_text() == (
        "Recurrent squamous cell carcinoma (head_and_neck, local recurrence) after "
        "radiotherapy; RT-free interval 823 days"
    )
    assert "(sbrt)" in request.question_text()
