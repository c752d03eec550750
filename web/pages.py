"""Server-rendered pages: one Jinja2 environment for the console (and the portal after it), with
every string drawn from a message catalogue (Babel .po files under web/locale) in the reader's
language, and the shared page context (who is logged in, their CSRF token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel import Locale
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from caseflow import message_catalogues
from caseflow.message_catalogues import best_language, catalogue_name
from web.console_words import country_name, country_names, flag_words, reason_words, word

WEB_DIR = Path(__file__).resolve().parent
# The catalogues are shared with the patient's e-mails (caseflow/message_catalogues.py).
LOCALE_DIR = message_catalogues.LOCALE_DIR
DEFAULT_LANGUAGE = message_catalogues.DEFAULT_LANGUAGE
translations = message_catalogues.translations

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(["html", "j2"]),
    )
)
# Codes in words from the catalogue: {{ word("stage", status.stage) }}, {{ country_name("IN") }}.
templates.env.globals.update(
    word=word,
    country_name=country_name,
    country_names=country_names,
    flag_words=flag_words,
    reason_words=reason_words,
)


def available_languages() -> list[str]:
    return message_catalogues.available_languages()


def language_of(request: Request) -> str:
    """The reader's language: a `lang` cookie they chose, else their browser's preference."""
    chosen = request.cookies.get("lang")
    if chosen and catalogue_name(chosen) in available_languages():
        return chosen.replace("_", "-")
    header = request.headers.get("accept-language", "")
    preferred = [part.split(";")[0].strip() for part in header.split(",")]
    found = best_language(*preferred)
    return found.replace("_", "-") if found else DEFAULT_LANGUAGE


def language_tag(language: str) -> str:
    """The BCP 47 tag of a language in either spelling (zh_CN -> zh-CN), for lang= and intakes."""
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
