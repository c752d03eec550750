"""The referral letter renders the advisory flags, the decider line, the notice and documents."""

import multiprocessing
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.letter_words import question_text, reason_text
from activities.letters import DECIDER_LINE, ReferralLetters, ReferralPacketRequest
from caseflow.case_status import TriageFlagEntry
from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import new_case_id
from caseflow.settings import CaseflowSettings
from tests.activities.test_letter_pdf import embedded_fonts, text_of
from tests.workflows.cases import document, intake


def plain(html: str) -> str:
    """The letter's text without markup, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":")


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
        # The letter prints a short hash (the manifest keeps the full one): it asserted the
        # full SHA-256 before, which ran off the page.
        assert ref.sha256[:12] + "…" in html and ref.sha256 not in html
        assert ref.document_id in html
    assert case_id in html
    letters.close()


def test_letter_without_reason_derives_it_from_the_intake_in_words():
    # Before: "(head_and_neck, local recurrence)" and "(sbrt)", codes where words belong.
    today = date(2025, 6, 1)
    assert reason_text("en", intake(), today) == (
        "Recurrent squamous cell carcinoma (head and neck, local recurrence) after "
        "radiotherapy; RT-free interval 823 days."
    )
    assert reason_text("zh-CN", intake(), today) == (
        "放疗后复发的squamous cell carcinoma（头颈部，局部复发）；距末次放疗 823 天。"
    )
    assert "(stereotactic body radiotherapy (SBRT))" in question_text("en", ["sbrt"])
    assert "硼中子俘获治疗（BNCT）、立体定向体部放疗（SBRT）" in question_text(
        "zh-CN", ["bnct", "sbrt"]
    )


SHORT_LETTER = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"></head>'
    "<body><p>Referral letter</p></body></html>"
)


@pytest.fixture
def letters():
    letters = ReferralLetters(
        CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y"), pdf_workers=1
    )
    yield letters
    letters.close()


def test_pdf_is_made_in_a_renderer_process_that_close_stops(letters):
    before = set(multiprocessing.active_children())
    assert letters.render_pdf(SHORT_LETTER).startswith(b"%PDF-")
    renderers = set(multiprocessing.active_children()) - before
    assert len(renderers) == 1
    letters.close()
    assert not any(process.is_alive() for process in renderers)


def test_a_dead_renderer_fails_the_attempt_retryably_and_the_next_one_gets_a_new_renderer(
    letters,
):
    before = set(multiprocessing.active_children())
    assert letters.render_pdf(SHORT_LETTER).startswith(b"%PDF-")
    (renderer,) = set(multiprocessing.active_children()) - before
    renderer.kill()
    renderer.join()
    with pytest.raises(ApplicationError) as failed:
        letters.render_pdf(SHORT_LETTER)
    assert failed.value.type == "PdfRendererFailed"
    assert not failed.value.non_retryable
    assert letters.render_pdf(SHORT_LETTER).startswith(b"%PDF-")
    assert not renderer.is_alive()


def test_renderer_settings_are_checked():
    settings = CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y")
    with pytest.raises(ValueError, match="pdf_workers"):
        ReferralLetters(settings, pdf_workers=0)
    with pytest.raises(ValueError, match="pdf_timeout"):
        ReferralLetters(settings, pdf_timeout=timedelta(0))


CONTACT = CoordinatorContact(
    coordinator_id="coord-1",
    name="王芳 (Wang Fang)",
    email="wang.fang@care.example.org",
    phone="+86 592 555 0100",
    organisation="Cross-border Oncology Care",
)


def contact_request(language: str, contact: CoordinatorContact | None = CONTACT):
    case_id = new_case_id()
    return ReferralPacketRequest(
        packet_id="0f0e0d0c-aaaa-bbbb-cccc-000000000003",
        case_id=case_id,
        hospital=HospitalDirectory.load_default().get("cn-beijing-cancer"),
        intake=intake(),
        documents=[document(case_id, DocumentKind.BIOPSY_REPORT)],
        triage_flags=[],
        coordinator_id="coord-1",
        coordinator_contact=contact,
        language=language,
        written_on=date(2025, 6, 1),
    )


@pytest.fixture
def replying_letters():
    settings = CaseflowSettings(
        s3_access_key_id="x",
        s3_secret_access_key="y",
        reply_link_secret="s" * 40,
        public_url="https://caseflow.example.org",
    )
    letters = ReferralLetters(settings, pdf_workers=1)
    yield letters
    letters.close()


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_letter_names_the_coordinator_as_the_contact_with_the_reply_link(
    replying_letters, language
):
    request = contact_request(language)
    html = replying_letters.render_letter(request)
    reply_url = replying_letters.reply_url(request)
    assert reply_url and reply_url.startswith("https://caseflow.example.org/reply/")
    contact = html[html.index('<div class="contact">'):]
    assert "Your contact" in contact
    for value in (CONTACT.name, CONTACT.organisation, CONTACT.phone, reply_url):
        assert value is not None and value in contact
    assert f'href="mailto:{CONTACT.email}"' in contact
    assert f'<a href="{reply_url}">' in contact
    # The header is a table now (To/From/Date/Case): asserted on the text, not the markup.
    assert f"From: {CONTACT.name}, {CONTACT.organisation} " in plain(html)
    assert "caseflow coordinator coord-1" not in html  # a person, not a bare id


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_letter_without_a_contact_names_the_coordinator_id(letters, language):
    html = letters.render_letter(contact_request(language, contact=None))
    assert "Questions: the referring coordinator (coord-1)" in html
    if language == "en":
        assert "From: caseflow coordinator coord-1 Date:" in plain(html)
    else:  # in Chinese, then English (the zh-CN letter said it in English only)
        bilingual = "发件人 / From: caseflow 协调员 coord-1 / caseflow coordinator coord-1"
        assert bilingual in plain(html)
        assert "如有疑问，请联系转诊协调员（coord-1）" in html
    assert 'class="contact"' not in html


def test_index_names_the_contact(replying_letters):
    request = contact_request("en")
    html = replying_letters.render_index(
        request,
        datetime(2025, 6, 8, tzinfo=UTC),
        {ref.document_id: "https://s3.example/doc" for ref in request.documents},
        [{"name": "letter.pdf", "content_type": "application/pdf", "sha256": "0" * 64,
          "url": "https://s3.example/letter"}],
    )
    contact = html[html.index("<h2>Your contact</h2>"):html.index("<h2>Referral</h2>")]
    assert f"{CONTACT.name}, {CONTACT.organisation}" in contact
    assert f'<a href="mailto:{CONTACT.email}">{CONTACT.email}</a>' in contact
    assert CONTACT.phone is not None and CONTACT.phone in contact
    assert replying_letters.reply_url(request) in html


def test_contact_letter_pdf_embeds_the_cjk_font_for_the_name(replying_letters):
    pdf = replying_letters.render_pdf(replying_letters.render_letter(contact_request("en")))
    fonts = embedded_fonts(pdf)
    # The Chinese name in an English letter is drawn in glyphs, not boxes.
    assert any("WenQuanYi" in name and embedded for name, embedded in fonts.items())
    assert CONTACT.name in text_of(pdf) and CONTACT.email in text_of(pdf)
