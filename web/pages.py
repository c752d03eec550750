"""Server-rendered pages: one Jinja2 environment for the console (and the portal after it), with
every string drawn from a message catalogue (Babel .po files under web/locale) in the reader's
language, and the shared page context (who is logged in, their CSRF token)."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

WEB_DIR = Path(__file__).resolve().parent
LOCALE_DIR = WEB_DIR / "locale"
DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(["html", "j2"]),
    )
)


@cache
def translations(language: str) -> Translations:
    """The catalogue for a language, compiled in memory from its .po file (no .mo in the repo)."""
    po_file = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_file.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def available_languages() -> list[str]:
    return sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())


def language_of(request: Request) -> str:
    """The reader's language as its catalogue directory names it (en, zh_CN): a `lang` cookie
    they chose (the portal's language links set it), else their browser's preference
    (Accept-Language: zh-CN, zh;q=0.9 finds zh_CN)."""
    available = available_languages()
    chosen = request.cookies.get("lang")
    if chosen in available:
        return chosen
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",")]
    found = negotiate_locale([p for p in preferred if p], available)
    return found if found in available else DEFAULT_LANGUAGE


def language_tag(language: str) -> str:
    """The BCP 47 tag of a catalogue directory name (zh_CN -> zh-CN), for lang= and the intake."""
    return language.replace("_", "-")


def gettext_for(request: Request):
    return translations(language_of(request)).gettext


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page in the reader's language. Templates mark strings with {{ _("...") }} or
    {% trans %}; context adds the principal and its CSRF token when there is a session."""
    language = language_of(request)
    env = templates.env
    catalogue = translations(language)
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    principal = getattr(request.state, "principal", None)
    csrf = None
    if "session" in request.scope:
        from web.auth import csrf_token

        csrf = csrf_token(request) if request.session.get("login") else None
    return templates.TemplateResponse(
        request,
        template,
        {
            "language": language_tag(language),
            "text_direction": Locale.parse(language.replace("-", "_")).text_direction,
            "principal": principal,
            "csrf_token": csrf,
            **context,
        },
        status_code=status_code,
    )
