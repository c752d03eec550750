"""The referral letter renders the advisory flags, the decider line, the notice and documents."""

import io
import multiprocessing
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pypdf import PdfReader
from temporalio.exceptions import ApplicationError

from activities.letter_content import letter_content
from activities.letter_pdf import render_pdf
from activities.letter_words import (
    content_disposition,
    download_name,
    question_text,
    reason_text,
    translations,
)
from activities.letters import DECIDER_LINE, ReferralLetters, ReferralPacketRequest, names_city
from caseflow.case_status import TriageFlagEntry
from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import new_case_id
from caseflow.settings import CaseflowSettings
from caseflow.triage import triage
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


@pytest.fixture
def letters():
    letters = ReferralLetters(
        CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y"), pdf_workers=1
    )
    yield letters
    letters.close()


def test_pdf_is_made_in_a_renderer_process_that_close_stops(letters):
    before = set(multiprocessing.active_children())
    assert letters.render_pdf(contact_request("en")).startswith(b"%PDF-")
    renderers = set(multiprocessing.active_children()) - before
    assert len(renderers) == 1
    letters.close()
    assert not any(process.is_alive() for process in renderers)


def test_a_dead_renderer_fails_the_attempt_retryably_and_the_next_one_gets_a_new_renderer(
    letters,
):
    before = set(multiprocessing.active_children())
    assert letters.render_pdf(contact_request("en")).startswith(b"%PDF-")
    (renderer,) = set(multiprocessing.active_children()) - before
    renderer.kill()
    renderer.join()
    with pytest.raises(ApplicationError) as failed:
        letters.render_pdf(contact_request("en"))
    assert failed.value.type == "PdfRendererFailed"
    assert not failed.value.non_retryable
    assert letters.render_pdf(contact_request("en")).startswith(b"%PDF-")
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


def index_page(letters: ReferralLetters, request: ReferralPacketRequest) -> str:
    """The packet's index.html for `request`, its links and letter file made up."""
    return letters.render_index(
        request,
        datetime(2025, 6, 8, tzinfo=UTC),
        {ref.document_id: "https://s3.example/doc" for ref in request.documents},
        [{"name": "letter.pdf", "content_type": "application/pdf", "sha256": "0" * 64,
          "url": "https://s3.example/letter"}],
    )


def test_index_names_the_contact(replying_letters):
    request = contact_request("en")
    html = index_page(replying_letters, request)
    contact = html[html.index("<h2>Your contact</h2>"):html.index("<h2>Referral</h2>")]
    assert f"{CONTACT.name}, {CONTACT.organisation}" in contact
    assert f'<a href="mailto:{CONTACT.email}">{CONTACT.email}</a>' in contact
    assert CONTACT.phone is not None and CONTACT.phone in contact
    assert replying_letters.reply_url(request) in html


def test_contact_letter_pdf_embeds_the_cjk_font_for_the_name(replying_letters):
    pdf = replying_letters.render_pdf(contact_request("en"))
    fonts = embedded_fonts(pdf)
    # The Chinese name in an English letter is drawn in glyphs, not boxes.
    assert any("WenQuanYi" in name and embedded for name, embedded in fonts.items())
    assert CONTACT.name in text_of(pdf) and CONTACT.email in text_of(pdf)


# --- What a hospital reads (issue 12): the letter as a PDF, in both languages ----------------

FILE_NAMES = {
    DocumentKind.BIOPSY_REPORT: "biopsy_report_2024-11-02_oropharynx.pdf",
    DocumentKind.RT_TREATMENT_SUMMARY: "放疗总结.pdf",
}


def hospital_request(language: str, hospital_id: str) -> ReferralPacketRequest:
    """A letter as a hospital gets it: a patient in Nigeria, three modalities asked about,
    documents with their file names, sizes and upload dates, the pre-screen's flags."""
    case_id = new_case_id()
    data = intake().model_dump(mode="json")
    data["patient"]["country_of_residence"] = "NG"
    case_intake = type(intake()).model_validate(data)
    documents = [
        document(case_id, kind).model_copy(update={"original_filename": name, "size": size})
        for (kind, name), size in zip(FILE_NAMES.items(), (183_422, 48_211_778), strict=True)
    ]
    flags = [
        TriageFlagEntry(code=f.code, level=f.level.value, message=f.message, source=f.source,
                        phrases=list(f.phrases))
        for f in triage(case_intake, date(2025, 6, 1))
    ]
    return ReferralPacketRequest(
        packet_id="0f0e0d0c-aaaa-bbbb-cccc-000000000004",
        case_id=case_id,
        hospital=HospitalDirectory.load_default().get(hospital_id),
        intake=case_intake,
        documents=documents,
        triage_flags=flags,
        modalities=["bnct", "sbrt", "imrt_reirradiation"],
        coordinator_id="coord-1",
        coordinator_contact=CONTACT,
        language=language,
        written_on=date(2025, 6, 1),
    )


@pytest.fixture(scope="module")
def hospital_letters():
    """(request, html, PDF text) per language: the Chinese letter to Xiamen, the English one
    to Mumbai (whose name already ends with its city)."""
    letters = ReferralLetters(CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y"))
    rendered = {}
    for language, hospital_id in (("en", "in-mumbai-rlt"), ("zh-CN", "cn-xiamen-bnct")):
        request = hospital_request(language, hospital_id)
        html = letters.render_letter(request)
        pdf = render_pdf(letter_content(request, letters.reply_url(request)), request.created())
        rendered[language] = (request, html, pdf, " ".join(text_of(pdf).split()))
    letters.close()
    return rendered


def test_the_chinese_letter_says_every_label_and_sentence_in_chinese_then_english(
    hospital_letters,
):
    _, _, _, text = hospital_letters["zh-CN"]
    squeezed = text.replace(" ", "")
    # Table labels, the question, the triage text, the documents paragraph, the closing line:
    # English only before.
    for chinese, english in [
        ("姓名", "Name"),
        ("出生日期", "Date of birth"),
        ("原发部位", "Primary site"),
        ("距末次放疗间隔", "RT-free interval"),
        ("贵院能否为该患者提供挽救性治疗", "Can you offer salvage treatment"),
        ("以下提示为自动预筛", "automated pre-screen for coordination only"),
        ("距末次放疗12个月或以上", "RT-free interval of 12 months or more"),
        ("本资料包中的manifest.json", "manifest.json in this packet holds"),
        ("如对本转诊有任何疑问", "Write to the referring coordinator"),
        ("上传日期", "Uploaded"),
    ]:
        assert chinese in squeezed, chinese
        at = squeezed.index(chinese)  # the English follows the Chinese it translates
        assert english.replace(" ", "") in squeezed[at:at + 400], english


def test_every_string_of_the_letter_has_a_chinese_translation():
    """The catalogue is complete for what the template and the words say (make messages adds
    new strings untranslated; this catches them)."""
    from babel.messages.extract import extract_from_file

    found = [
        message
        for method, path in (("jinja2", "templates/referral_letter.html.j2"),
                             ("jinja2", "templates/packet_index.html.j2"),
                             ("python", "activities/letter_words.py"),
                             ("python", "activities/letter_content.py"),
                             ("python", "activities/email_delivery.py"))
        for _, message, _, _ in extract_from_file(
            method, path,
            keywords={"say": None, "say_block": None, "plain": None, "lines": None,
                      "translate": (2,), "N_": None},
        )
    ]
    assert len(found) > 100
    untranslated = [m for m in found if isinstance(m, str)
                    and translations("zh-CN").gettext(m) == m
                    and m not in {"CT", "PET-CT", "PSMA PET"}]
    assert untranslated == []


def test_every_triage_flag_the_pre_screen_raises_reads_in_chinese():
    """The flags' sentences are built from phrases at run time, so extracting the source cannot
    show that each one reaches the catalogue (a sentence kept in a constant did not): raise
    them over a grid of cases and look every phrase and reason up."""
    import itertools

    from babel.messages.pofile import read_po

    from activities.letter_words import DOMAIN, LOCALE_DIR
    from caseflow.intake import PrimarySite
    from tests.caseflow.test_triage import TODAY, case

    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        # By entry, not by gettext: a code-like reason ("ECOG 3-4") is translated as itself.
        chinese = {m.id: m.string for m in read_po(source) if m.id and not m.fuzzy}
    seen: set[str] = set()
    untranslated: dict[str, str] = {}
    histology = {"spine": "renal cell carcinoma", "liver": "hepatocellular carcinoma",
                 "prostate": "adenocarcinoma", "lung": "adenocarcinoma"}
    grid = itertools.product(
        PrimarySite, [0, 4, 8, 14], [None, (44.5, 35), (45.0, 25), (50.0, 25)],
        ["local", "regional", "distant"], [1, 3], [(1, 3.0), (6, 13.0)],
    )
    for site, months, cord, pattern, ecog, (lesions, size) in grid:
        dose, fractions = cord or (None, 35)
        intake = case(months, cord=dose, fractions=fractions, primary_site=site.value,
                      histology=histology.get(site.value, "squamous cell carcinoma"),
                      recurrence_pattern=pattern, ecog=ecog, lesion_count=lesions,
                      largest_lesion_cm=size)
        for flag in triage(intake, TODAY):
            seen.add(flag.code)
            for phrase in flag.phrases:
                # A reason is a flag's words; its bare code in a sentence would be a defect too.
                for text in (phrase.text, *phrase.reasons):
                    if not chinese.get(text):
                        untranslated[text] = flag.code
    assert {"CORD_MARGIN_AMPLE", "CORD_MARGIN_NARROW", "CORD_MARGIN_NONE",
            "BNCT_CRITERIA_NOT_MET", "ESTRO_EORTC_REIRRADIATION_TYPE"} <= seen, seen
    assert untranslated == {}


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_codes_are_shown_as_words_in_the_letters_language(hospital_letters, language):
    _, html, _, text = hospital_letters[language]
    # Before: head_and_neck, NG, en, (bnct, sbrt, imrt_reirradiation), biopsy_report.
    for code in ("head_and_neck", "imrt_reirradiation", "bnct,", "biopsy_report ", "spinal_cord"):
        assert code not in text, code
    assert ">NG<" not in html and ">en<" not in html
    for english in ("head and neck", "Nigeria", "English", "boron neutron capture therapy",
                    "IMRT re-irradiation", "Biopsy report", "spinal cord"):
        # Squeezed: a line may break after "re-", which extracts as "re- irradiation".
        assert english.replace(" ", "") in text.replace(" ", ""), english
    if language == "zh-CN":
        for chinese in ("头颈部", "尼日利亚", "英语", "硼中子俘获治疗", "活检报告", "脊髓", "有利"):
            assert chinese in text.replace(" ", ""), chinese


def _text_extents(pdf: bytes) -> list[tuple[float, float, str]]:
    """(x where a text run ends, page width, text) for every run, from pypdf's visitor."""
    extents = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        width = float(page.mediabox.width)

        def visit(text, cm, tm, font, size, width=width):
            if text.strip():
                x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
                scale = (cm[0] ** 2 + cm[1] ** 2) ** 0.5 * (tm[0] ** 2 + tm[1] ** 2) ** 0.5
                extents.append((x + 0.5 * size * scale * len(text), width, text))

        page.extract_text(visitor_text=visit)
    return extents


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_documents_table_fits_a4_with_a_short_hash(hospital_letters, language):
    request, html, pdf, text = hospital_letters[language]
    for ref in request.documents:
        # Before: the 64-digit SHA-256 ran off the page. The manifest keeps the full hash.
        assert ref.sha256 not in text.replace(" ", "")
        assert ref.sha256[:12] + "…" in text
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert round(float(page.mediabox.width)) == 595  # A4 portrait, in points
    hashes = [(end, width) for end, width, run in _text_extents(pdf)
              if any(ref.sha256[:12] in run for ref in request.documents)]
    assert len(hashes) == len(request.documents)
    assert all(end < width - 30 for end, width in hashes)  # inside the right margin (16 mm)


@pytest.mark.parametrize(
    ("language", "titles", "dates", "sizes"),
    [
        ("en", ["Biopsy report", "RT treatment summary"], "January 3, 2025",
         ["183.4 kB", "48.2 MB"]),
        ("zh-CN", ["活检报告", "放疗总结"], "2025年1月3日", ["183.4 kB", "48.2 MB"]),
    ],
)
def test_each_document_has_a_title_its_kind_in_words_its_date_and_size(
    hospital_letters, language, titles, dates, sizes
):
    request, _, _, text = hospital_letters[language]
    squeezed = text.replace(" ", "")
    for title in titles:
        assert title.replace(" ", "") in squeezed
    for name in FILE_NAMES.values():  # the patient's own file names, in the letter (PHI) only
        assert name in text
    assert squeezed.count(dates.replace(" ", "")) >= len(request.documents)
    for size in sizes:
        assert size in text
    assert "Size (bytes)" not in text and "1234" not in text


def test_the_address_names_the_city_once_and_the_country(hospital_letters):
    _, _, _, english = hospital_letters["en"]
    assert "Mumbai, Mumbai" not in english  # before: "Example Radioligand ... Mumbai, Mumbai"
    assert "Example Radioligand Therapy Centre, Mumbai, India" in english
    _, _, _, chinese = hospital_letters["zh-CN"]
    assert "Xiamen, Xiamen" not in chinese
    assert "Example BNCT Centre, Xiamen, 中国 / China" in chinese
    assert names_city("Example Cancer Hospital", "Beijing") is False


def test_presigned_downloads_name_a_file_with_its_extension():
    ref = document(new_case_id(), DocumentKind.BIOPSY_REPORT).model_copy(
        update={"original_filename": "Wanjiru Kamau biopsy.PDF"}
    )
    english = download_name("en", ref.kind.value, ref.document_id, ref.content_type,
                            ref.original_filename)
    assert english == f"biopsy-report-{ref.document_id}.pdf"  # no patient text: it is in a URL
    assert content_disposition(english) == f'attachment; filename="{english}"'
    chinese = download_name("zh-CN", ref.kind.value, ref.document_id, ref.content_type,
                            ref.original_filename)
    assert chinese == f"活检报告-{ref.document_id}.pdf"
    assert content_disposition(chinese) == (
        f"attachment; filename=\"document-{ref.document_id}.pdf\"; "
        f"filename*=UTF-8''%E6%B4%BB%E6%A3%80%E6%8A%A5%E5%91%8A-{ref.document_id}.pdf"
    )
    jpeg = download_name("en", "imaging_ct", "d1", "image/jpeg", "scan.jpeg")
    assert jpeg == "ct-d1.jpeg"  # the file's own spelling of the type's extension
    dvh = download_name("en", "dvh", "d2", "image/png", "no extension")
    assert dvh == "dose-volume-histograms-d2.png"
    # The S3 link asks the store to answer with that disposition.
    letters = ReferralLetters(CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y"))
    url = letters._document_link(ref, "zh-CN")
    letters.close()
    query = parse_qs(urlsplit(url).query)
    assert query["response-content-disposition"] == [content_disposition(chinese)]
    assert "Wanjiru" not in url and "Kamau" not in url


def test_the_chinese_index_page_says_every_label_in_chinese_then_english(replying_letters):
    request = contact_request("zh-CN")
    html = index_page(replying_letters, request)
    text = plain(html)
    for bilingual in ("文件清单 / Documents", "答复 / Reply", "联系人 / Your contact",
                      "大小 / Size", "活检报告 / Biopsy report"):
        assert bilingual in text
    assert "治疗方案由接收医院的合格肿瘤科医生决定。" in text
    # The kind in words, not its code (the fixture's file happens to be named biopsy_report.pdf).
    assert "biopsy_report" not in text.replace("biopsy_report.pdf", "")
    assert '<html lang="zh-CN">' in html


def test_the_hospital_mail_to_a_chinese_hospital_is_in_chinese_then_english():
    from activities.email_delivery import packet_body
    from activities.payloads import PacketLink, PacketNotice

    notice = PacketNotice(
        packet_id="0f0e0d0c-aaaa-bbbb-cccc-000000000003",
        case_id=new_case_id(),
        hospital_id="cn-beijing-cancer",
        created_at=datetime(2025, 6, 1, tzinfo=UTC),
        manifest_url="https://s3.example/manifest",
        links_expire_at=datetime(2025, 6, 8, 9, 30, tzinfo=UTC),
        documents=[PacketLink(document_id="d1", kind="biopsy_report", size=2_400_000,
                              sha256="a" * 64, content_type="application/pdf",
                              url="https://s3.example/d1")],
        contact=CONTACT,
        language="zh-CN",
    )
    body = packet_body(notice).splitlines()
    at = body.index("转诊信以 PDF 附件形式提供。病历资料见以下链接，每个链接于 2025-06-08 09:30 UTC"
                    " 失效。请用 SHA-256 校验每个下载文件。")
    assert body[at + 1].startswith("The referral letter is attached as PDF.")
    assert "1. 活检报告 / Biopsy report (application/pdf, 2.4 MB)" in body
    assert "清单 / Manifest: https://s3.example/manifest" in body  # the label twice, the link once
    assert "biopsy_report" not in "\n".join(body)
    english = packet_body(notice.model_copy(update={"language": "en"}))
    assert "转诊" not in english and "1. Biopsy report (application/pdf, 2.4 MB)" in english


def test_flags_with_numbers_and_reasons_are_written_in_each_language(letters):
    """A cord margin's numbers and a withdrawn flag's reasons were English f-strings, so the
    Chinese letter printed them in English only; now the catalogue writes them around the
    numbers, and lists the reasons as Chinese lists things."""
    from caseflow.triage import phrase

    narrow = phrase(
        "Narrow spinal cord margin: about %(left)s Gy2 (EQD2 about %(left_eqd2)s Gy) left under "
        "the cumulative tolerance (prior cord BED about %(prior)s Gy2), less than the 37.5 Gy2 "
        "left after a course at 98 Gy2. Re-irradiation near the cord needs a cord-sparing plan.",
        left="25", left_eqd2="13", prior="110",
    )
    withdrawn = phrase("Withdrawn: outweighed by %(reasons)s.",
                       reasons=["ECOG 3-4", "the largest lesion over 5 cm", "distant metastases"])
    flags = [
        TriageFlagEntry(code="CORD_MARGIN_NARROW", level="caution", source="s",
                        message=narrow.english(), phrases=[narrow]),
        TriageFlagEntry(code="SMALL_VOLUME", level="info", source="s",
                        message="Small volume. " + withdrawn.english(),
                        phrases=[phrase("Small volume."), withdrawn]),
    ]
    request = contact_request("zh-CN").model_copy(update={"triage_flags": flags})
    text = plain(letters.render_letter(request))
    assert ("脊髓剂量余量狭窄：距累积耐受剂量约剩 25 Gy2（EQD2 约 13 Gy；"
            "既往脊髓 BED 约 110 Gy2）") in text
    assert "已撤回：被ECOG 3-4、最大病灶超过 5 cm和远处转移所抵消。" in text
    # ...and the English after it, as the CLI and console show it.
    assert ("Withdrawn: outweighed by ECOG 3-4, the largest lesion over 5 cm and distant "
            "metastases.") in text
    assert "about 25 Gy2 (EQD2 about 13 Gy) left" in text
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_pdf_says_every_word_the_html_letter_says(hospital_letters, language):
    """One catalogue, two layouts: the Typst PDF and the Jinja2 HTML letter say the same."""
    import html as markup

    _, html, _, text = hospital_letters[language]
    squeezed = "".join(text.split())
    nodes = re.findall(r">([^<>]+)<", html[html.index("<body>"):])
    said = ["".join(markup.unescape(node).split()) for node in nodes]
    said = [words for words in said if words.strip("/:")]
    assert len(said) > 80
    assert [words for words in said if words not in squeezed] == []


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_reply_link_in_the_contact_table_stays_on_the_page(replying_letters, language):
    """The reply link's token has no break point of its own: in the contact table's narrow
    column it ran off the page (seen in the PNG of the Chinese letter). Each page, as Typst
    draws it, keeps its ink inside the right margin."""
    import json

    from PIL import Image

    from activities.letter_pdf import _compiler

    request = contact_request(language)
    # A reply link whose token overflowed the column: where a signed token's break points fall
    # depends on its bytes, so the test pins one that did.
    unbroken = ("http://127.0.0.1:8000/reply/.eJxFykkKgDAMQNG7ZG0g4AReRmKsWrSDWoIg3t2CC9_2_xuET9"
                "PbEToI6i_d9VAbmlpl2qNpStnWaCAJZzRJt6-VTxelp3xOHhJOUeW1aQv0kSGRhLkDIcMJUP6VfC8L"
                "ronyg.aDuYAA.i99JSGufRPB0V0v2p02__Kvq4Lo")
    data = json.dumps(letter_content(request, unbroken), ensure_ascii=False)
    pages = _compiler().compile(format="png", ppi=72, sys_inputs={"letter": data})
    assert isinstance(pages, list) and pages
    for number, png in enumerate(pages, start=1):
        image = Image.open(io.BytesIO(png)).convert("L")
        margin = image.crop((image.width - 30, 0, image.width, image.height - 40))
        darkest = min(margin.tobytes())  # 8-bit grey: 0 is black, 255 white
        assert darkest > 200, f"page {number}: ink in the right margin"
