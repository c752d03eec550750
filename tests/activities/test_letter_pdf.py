"""The PDF letter: its text is extractable, and a Chinese letter embeds a CJK font."""

import io
from typing import cast

import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from activities import letter_pdf
from activities.letter_pdf import CJK_FAMILY, CjkFontMissing, render_pdf
from caseflow.fictional_case import REASON

HOSPITAL = "Example BNCT Centre, Xiamen"
ENGLISH = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<style>body {{ font-family: Georgia, serif; }}</style></head><body>
<h1>Referral to {HOSPITAL}</h1><p>Reason for referral: {REASON}</p>
<p>A qualified oncologist at the receiving hospital decides.</p></body></html>"""
CHINESE_HOSPITAL = "厦门示例硼中子俘获治疗中心"
CHINESE_REASON = "放疗后局部复发，评估硼中子俘获治疗的适应证"
CHINESE = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>
<h1>转诊信：{CHINESE_HOSPITAL}</h1><p>转诊原因：{CHINESE_REASON}</p>
<p>Case abcdefghij — 最终治疗方案由接收医院的肿瘤专科医生决定。</p></body></html>"""


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


def test_english_letter_text_has_hospital_and_reason():
    pdf = render_pdf(ENGLISH)
    assert pdf.startswith(b"%PDF-")
    text = " ".join(text_of(pdf).split())
    assert HOSPITAL in text
    assert REASON in text
    assert all(embedded_fonts(pdf).values())


def test_chinese_letter_embeds_a_cjk_font_and_its_text_extracts():
    pdf = render_pdf(CHINESE)
    fonts = embedded_fonts(pdf)
    cjk = [name for name in fonts if CJK_FAMILY.replace(" ", "-") in name]
    assert cjk, fonts
    assert all(fonts[name] for name in cjk)
    text = "".join(text_of(pdf).split())
    assert CHINESE_HOSPITAL in text
    assert CHINESE_REASON in text


def test_chinese_without_a_cjk_font_is_refused_not_rendered_as_boxes(monkeypatch):
    monkeypatch.setattr(letter_pdf, "cjk_font_path", lambda: None)
    with pytest.raises(CjkFontMissing, match="apt-get install -y fonts-wqy-microhei"):
        render_pdf(CHINESE)
    assert render_pdf(ENGLISH).startswith(b"%PDF-")  # Latin letters still render
