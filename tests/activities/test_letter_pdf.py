"""The PDF letter (Typst): its text is extractable, a Chinese letter embeds a CJK font, and the
case reaches Typst as data, so hostile text prints as itself."""

import io
from datetime import UTC, date, datetime
from typing import cast

import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from activities import letter_pdf
from activities.letter_content import letter_content
from activities.letter_pdf import CjkFontMissing, render_pdf
from activities.letters import ReferralPacketRequest
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from caseflow.ids import new_case_id
from tests.workflows.cases import document, intake


def embedded_fonts(pdf: bytes) -> dict[str, bool]:
    """BaseFont name -> whether a font program (FontFile/2/3) is embedded, over all pages."""
    fonts = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        resources = cast(DictionaryObject, page["/Resources"].get_object())
        for font in cast(DictionaryObject, resources["/Font"].get_object()).values():
            font = font.get_object()
            described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font \
                else font
            descriptor = described["/FontDescriptor"].get_object()
            fonts[str(font["/BaseFont"])] = any(
                key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")
            )
    return fonts


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def request(language: str, given_name: str = "Asha", family_name: str = "Example",
            **changes: object) -> ReferralPacketRequest:
    case_id = new_case_id()
    data = intake().model_dump(mode="json")
    data["patient"].update(given_name=given_name, family_name=family_name)
    return ReferralPacketRequest(
        packet_id="0f0e0d0c-aaaa-bbbb-cccc-000000000009",
        case_id=case_id,
        hospital=HospitalDirectory.load_default().get("cn-xiamen-bnct"),
        intake=type(intake()).model_validate(data),
        documents=[document(case_id, DocumentKind.BIOPSY_REPORT)],
        triage_flags=[],
        coordinator_id="coord-1",
        language=language,
        written_on=date(2025, 6, 1),
        **changes,
    )


def pdf_of(req: ReferralPacketRequest) -> bytes:
    return render_pdf(letter_content(req, None), req.created())


def test_english_letter_is_a4_with_embedded_fonts_and_extractable_text():
    pdf = pdf_of(request("en"))
    assert pdf.startswith(b"%PDF-")
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    text = " ".join(text_of(pdf).split())
    assert "Referral for assessment of recurrent cancer after radiotherapy" in text
    assert "Asha Example" in text
    assert "a qualified oncologist at the receiving hospital decides" in text
    fonts = embedded_fonts(pdf)
    assert fonts and all(fonts.values()), fonts


def test_chinese_letter_embeds_the_cjk_font_and_its_text_extracts():
    pdf = pdf_of(request("zh-CN", given_name="芳", family_name="王"))
    fonts = embedded_fonts(pdf)
    cjk = [name for name in fonts if "WenQuanYi" in name]
    assert cjk and all(fonts[name] for name in cjk), fonts
    squeezed = "".join(text_of(pdf).split())
    assert "放疗后复发肿瘤评估转诊函" in squeezed
    assert "芳王" in squeezed
    assert "接收医院具备资质的肿瘤专科医生决定" in squeezed


def test_the_same_packet_renders_the_same_bytes():
    req = request("zh-CN", created_at=datetime(2025, 6, 1, 9, 30, 5, 123456, tzinfo=UTC))
    assert pdf_of(req) == pdf_of(req)  # a retried activity stores what the first try made


@pytest.mark.parametrize(
    "hostile",
    ['#panic("x")', "] *bold* $x^2$ _", '#include "/etc/passwd"', "\\ #set page(width: 1cm) //",
     '"); #panic("y'],
)
def test_a_hostile_name_prints_as_itself_and_never_runs(hostile):
    # Before Typst the letter was HTML (escaped by Jinja2); the Typst template takes the case
    # as JSON data, so markup in a name is text, not code.
    req = request("en", given_name=hostile, family_name="Kamau", recommendation=hostile)
    pdf = pdf_of(req)
    text = "".join(text_of(pdf).split())
    assert "".join(f"{hostile} Kamau".split()) in text
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert round(float(page.mediabox.width)) == 595  # no `#set page` took effect


def test_chinese_without_a_cjk_font_is_refused_not_rendered_as_boxes(monkeypatch):
    monkeypatch.setattr(letter_pdf, "cjk_font_path", lambda: None)
    with pytest.raises(CjkFontMissing, match="apt-get install -y fonts-wqy-microhei"):
        pdf_of(request("zh-CN"))
    assert pdf_of(request("en")).startswith(b"%PDF-")  # Latin letters still render
