"""The referral letter as PDF: Typst (the `typst` package) sets templates/referral_letter.typ
with the letter's content as JSON data (activities/letter_content.py), embedding subset fonts,
including a Simplified Chinese one so zh-CN letters show glyphs, not boxes.

The content reaches Typst only through `sys.inputs`, never spliced into markup, so no text from
a case can become Typst code. Latin text is set in Typst's built-in Libertinus Serif; the CJK
font comes from Debian's fonts-wqy-microhei (Apache-2.0 or GPL-3+ with the font exception:
embedding is fine), passed by path, and system fonts are ignored, so every machine embeds the
same faces.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import typst

from activities.pdf_renderers import CjkFontMissing

TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "referral_letter.typ"
# Looked for in this order; the first is what `make` installs. Others are accepted so a
# machine that already has a CJK font works without another package (the template names
# WenQuanYi Micro Hei; another face needs its family added there).
CJK_FONT_FILES = ("wqy-microhei.ttc", "wqy-zenhei.ttc")
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
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


@lru_cache(maxsize=1)
def _compiler() -> typst.Compiler:
    """One compiler per process: it keeps the template and the fonts it loaded between letters.
    Only the CJK font's folder is searched; Typst brings Libertinus Serif and DejaVu Sans Mono."""
    font = cjk_font_path()
    fonts = typst.Fonts(include_system_fonts=False,
                        font_paths=[str(font.parent)] if font is not None else [])
    return typst.Compiler(TEMPLATE, root=TEMPLATE.parent, font_paths=fonts,
                          ignore_system_fonts=True)


def warm_up() -> None:
    """Load the compiler, the template and the fonts (a renderer process does, as it starts)."""
    _compiler()


def render_pdf(content: dict[str, Any], created_at: datetime | None = None) -> bytes:
    """The PDF of one letter's content (letter_content()). `created_at` is the PDF's creation
    date, so a retried render of the same packet makes the same bytes.

    Raises CjkFontMissing (with the install line) rather than produce boxes for Chinese text.
    """
    data = json.dumps(content, ensure_ascii=False)
    if cjk_font_path() is None and _CJK.search(data):
        raise CjkFontMissing(f"letter has CJK text but no CJK font is installed: {INSTALL_HINT}")
    # Typst takes whole seconds (SOURCE_DATE_EPOCH); workflow.now() has microseconds.
    stamp = created_at.replace(microsecond=0) if created_at is not None else None
    pdf = _compiler().compile(format="pdf", sys_inputs={"letter": data}, timestamp=stamp)
    assert isinstance(pdf, bytes)  # one document, not pages
    return pdf
