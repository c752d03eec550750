"""The bench's baseline: the referral letter's PDF as caseflow made it before Typst, WeasyPrint
turning the HTML letter into a PDF that embeds its fonts (bench/packets.py times both on the
same letter). Not used by the worker: activities/letter_pdf.py renders the letters.

WeasyPrint needs Pango (Debian: libpango-1.0-0 libpangoft2-1.0-0; libharfbuzz-subset0 makes font
subsetting 30x faster than its fontTools fallback) and the CJK font comes from
Debian's fonts-wqy-microhei (Apache-2.0 or GPL-3+ with the font exception: embedding is fine).
"""

from pathlib import Path

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

# The same CJK font as the Typst letter, found the same way, so both engines embed one face.
from activities.letter_pdf import _CJK, INSTALL_HINT, cjk_font_path
from activities.pdf_renderers import CjkFontMissing

CJK_FAMILY = "caseflow CJK"


def _stylesheet(font: Path | None, fonts: FontConfiguration) -> CSS:
    # Name the CJK face explicitly rather than trusting fontconfig's fallback, so the same font
    # is embedded on every machine. It is appended after the template's families, so Latin
    # text keeps the template's font and CJK characters fall through to this face.
    rules = ["@page { size: A4; margin: 18mm 16mm; }"]
    if font is not None:
        rules.append(f'@font-face {{ font-family: "{CJK_FAMILY}"; src: url("{font.as_uri()}"); }}')
        rules.append(f':lang(zh) {{ font-family: "{CJK_FAMILY}", sans-serif; }}')
    return CSS(string="\n".join(rules), font_config=fonts)


def render_pdf(html: str, base_url: str | None = None) -> bytes:
    """The PDF of one HTML letter. Fonts are subset and embedded by WeasyPrint.

    Raises CjkFontMissing (with the install line) rather than produce boxes for Chinese text.
    Templates should set `lang="zh-CN"` on Chinese letters so the CJK face is chosen first.
    """
    font = cjk_font_path()
    if font is None and _CJK.search(html):
        raise CjkFontMissing(f"letter has CJK text but no CJK font is installed: {INSTALL_HINT}")
    fonts = FontConfiguration()
    document = HTML(string=html, base_url=base_url)
    pdf = document.write_pdf(stylesheets=[_stylesheet(font, fonts)], font_config=fonts)
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return pdf
