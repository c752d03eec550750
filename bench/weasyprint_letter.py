"""The bench's baseline: the referral letter's PDF as caseflow made it before Typst, WeasyPrint
turning the HTML letter into a PDF that embeds its fonts (bench/packets.py times both on the
same letter). Not used by the worker: activities/letter_pdf.py renders the letters.

WeasyPrint needs Pango (Debian: libpango-1.0-0 libpangoft2-1.0-0; libharfbuzz-subset0 makes font
subsetting 30x faster than its fontTools fallback) and the CJK font comes from
Debian's fonts-wqy-microhei (Apache-2.0 or GPL-3+ with the font exception: embedding is fine).
"""

import re
from functools import lru_cache
from pathlib import Path

from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration

from activities.pdf_renderers import CjkFontMissing

# Looked for in this order; the first is what `make` installs. Others are accepted so a
# machine that already has a CJK font works without another package.
CJK_FONT_FILES = (
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "NotoSansCJK-Regular.ttc",
    "NotoSansCJKsc-Regular.otf",
    "uming.ttc",
    "DroidSansFallbackFull.ttf",
)
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
CJK_FAMILY = "caseflow CJK"
INSTALL_HINT = "apt-get install -y fonts-wqy-microhei"

# CJK Unified Ideographs (+ Extension A), CJK punctuation and full-width forms.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


@lru_cache(maxsize=1)
def cjk_font_path() -> Path | None:
    for name in CJK_FONT_FILES:
        for directory in FONT_DIRS:
            if directory.is_dir():
                found = next(directory.rglob(name), None)
                if found is not None:
                    return found
    return None


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
