"""The patient portal's inquiry form at /portal/inquiry (public, no login) and its confirmation
link at /portal/confirm/{token}: plain words in the reader's language, validated by the inquiry
model (caseflow/inquiry.py, the intake's own rules), errors next to each field in that language,
one consent per purpose with its exact catalogue text, posts rate-limited per client address and
a form sent twice making one inquiry (its hidden nonce)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from babel import Locale
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import ValidationError
from starlette.datastructures import FormData

from caseflow import consent_texts
from caseflow.free_text import is_control_character_problem
from caseflow.hospitals import Modality
from caseflow.inquiry import NOT_KNOWN, PatientInquiry
from caseflow.intake import TODAY_CONTEXT_KEY, PrimarySite, RecurrencePattern
from caseflow.portal_links import PortalLinkExpired, PortalLinkInvalid
from client import inquiries
from web.access import Forbidden
from web.app import temporal_client
from web.auth import client_address, csrf_token
from web.pages import available_languages, gettext_for, language_of, language_tag, render
from web.portal_access import open_portal_session
from web.queue_pages import directory

router = APIRouter(prefix="/portal", tags=["portal"], include_in_schema=False)

MAX_COURSES = 20
COUNTRIES = ("CN", "IN")
SEXES = ("female", "male", "other", "unknown")
RELATIONS = ("spouse_partner", "child", "parent", "sibling", "other_family", "friend", "other")
OPTIONAL_PURPOSES = ("translation", "travel")


class InquiryPosts:
    """Inquiry posts per client address in a moving one-minute window (limits), as LoginAttempts
    counts failed logins: the form is public, so a burst from one address is refused."""

    def __init__(self, per_minute: int):
        self._limit = RateLimitItemPerMinute(per_minute)
        self._window = MovingWindowRateLimiter(MemoryStorage())

    def take(self, address: str) -> bool:
        return self._window.hit(self._limit, "inquiry", address)


def _posts(request: Request) -> InquiryPosts:
    state = request.app.state
    if getattr(state, "inquiry_posts", None) is None:
        state.inquiry_posts = InquiryPosts(state.settings.inquiry_posts_per_minute)
    return state.inquiry_posts


@dataclass
class InquiryForm:
    """What the person typed (shown again as typed) and the problems, by field name. Field names
    are the inquiry's own paths, so a validation error's location names its field."""

    values: dict[str, str] = field(default_factory=dict)
    chosen: dict[str, list[str]] = field(default_factory=dict)
    courses: int = 1
    nonce: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def checked(self, name: str, option: str) -> bool:
        return option in self.chosen.get(name, [])

    def error(self, name: str, line: str) -> None:
        if line not in self.errors.get(name, []):
            self.errors.setdefault(name, []).append(line)

    @classmethod
    def read(cls, form: FormData) -> InquiryForm:
        typed = cls()
        for key, raw in form.multi_items():
            if isinstance(raw, str) and key not in typed.values and key != "csrf_token":
                typed.values[key] = raw
        for group in ("destinations.countries", "modalities_of_interest", "consents",
                      "clinical.flags"):
            typed.chosen[group] = [v for v in form.getlist(group) if isinstance(v, str)]
        courses = typed.value("course_count")
        typed.courses = min(MAX_COURSES, max(1, int(courses))) if courses.isdigit() else 1
        nonce = typed.value("nonce")
        ok = 16 <= len(nonce) <= 64 and nonce.replace("-", "").replace("_", "").isalnum()
        typed.nonce = nonce if ok else secrets.token_urlsafe(24)
        return typed

    def inquiry_data(self, language: str, now: datetime) -> dict[str, Any]:
        """The inquiry as its model reads it; blanks are left out so a required one says so."""

        def text(prefix: str, *names: str) -> dict[str, Any]:
            return {n: v for n in names if (v := self.value(f"{prefix}.{n}").strip())}

        courses = []
        for index in range(self.courses):
            course = text(f"clinical.prior_rt_courses.{index}", "site", "technique",
                          "total_dose_gy", "fractions", "completed_on")
            course.setdefault("technique", NOT_KNOWN)
            courses.append(course)
        clinical: dict[str, Any] = text("clinical", "primary_site", "histology",
                                        "recurrence_pattern", "lesion_count",
                                        "largest_lesion_cm", "ecog")
        clinical.setdefault("histology", NOT_KNOWN)
        clinical |= {flag: True for flag in self.chosen.get("clinical.flags", [])
                     if flag in ("new_sites_outside_prior_field", "distant_metastases")}
        clinical["prior_rt_courses"] = courses
        patient = text("patient", "given_name", "family_name", "date_of_birth", "sex",
                       "country_of_residence", "email", "phone")
        patient["preferred_language"] = language_tag(language)
        given_by = self.value("filled_in_by") or None
        data: dict[str, Any] = {
            "patient": patient,
            "clinical": clinical,
            "destinations": {"countries": self.chosen.get("destinations.countries", [])},
            "modalities_of_interest": self.chosen.get("modalities_of_interest", []),
            "note": self.value("note").strip() or None,
            "consents": [
                _consent(language, choice, given_by or "patient", now)
                for choice in self.chosen.get("consents", [])
                if _known_choice(choice)
            ],
        }
        if given_by:
            data["filled_in_by"] = given_by
        if given_by == "representative":
            data["representative"] = text("representative", "name", "relation")
        return data


def _known_choice(choice: str) -> bool:
    purpose, _, country = choice.partition(":")
    if purpose == "records_review":
        return not country
    return purpose in ("referral", *OPTIONAL_PURPOSES) and country in COUNTRIES


def _hospital_names(country: str) -> list[str]:
    return [h.name for h in directory().in_country(country)]


def _consent(language: str, choice: str, given_by: str, now: datetime) -> dict[str, Any]:
    """A ticked box as the ledger keeps it: the very text the page showed for it."""
    purpose, _, country = choice.partition(":")
    shown = consent_texts.shown(
        language, purpose, country or None, _hospital_names(country) if country else None
    )
    return {
        "purpose": purpose, "country": country or None, "text_id": shown.text_id,
        "text_version": shown.version, "language": shown.language, "text": shown.text,
        "text_sha256": shown.sha256, "given_by": given_by, "given_at": now,
    }


def _messages(_) -> dict[str, str]:
    """Validation errors in the reader's words, by pydantic's error type."""
    return {
        "missing": _("Please fill this in."),
        "string_too_short": _("Please fill this in."),
        "string_too_long": _("This is too long."),
        "date_from_datetime_parsing": _("Please give a date, e.g. 1961-04-02."),
        "date_parsing": _("Please give a date, e.g. 1961-04-02."),
        "date_in_future": _("This date is in the future."),
        "date_implausible": _("Please check this date: it is before 1900."),
        "int_parsing": _("Please give a whole number."),
        "float_parsing": _("Please give a number."),
        "literal_error": _("Please choose one of the options."),
        "enum": _("Please choose one of the options."),
        "too_short": _("Please choose at least one."),
        "email_required": _("Please give an e-mail address: the confirmation link is sent there."),
    }


def _place_errors(typed: InquiryForm, invalid: ValidationError, _) -> None:
    words = _messages(_)
    for error in invalid.errors():
        where = ".".join(str(part) for part in error["loc"])
        kind = error["type"]
        context = error.get("ctx") or {}
        if kind == "string_pattern_mismatch":
            line = {
                "patient.email": _("Please give an e-mail address like name@example.com."),
                "patient.phone": _("Please give a phone number in digits, e.g. +86 138 0000 0000."),
            }.get(where, _("Please choose one of the options."))
        elif kind in ("greater_than", "greater_than_equal"):
            limit = context.get("gt", context.get("ge"))
            line = _("Please give a number above %(limit)s.") % {"limit": limit} if kind == \
                "greater_than" else _("Please give a number of at least %(limit)s.") % {
                    "limit": limit}
        elif kind in ("less_than", "less_than_equal"):
            line = _("Please give a number of at most %(limit)s.") % {
                "limit": context.get("lt", context.get("le"))}
        elif kind == "value_error":
            message = str(context.get("error", error["msg"]))
            if is_control_character_problem(message):
                # Beside the field it is in: invisible characters a paste can carry.
                line = _("Please remove the invisible control characters from this text "
                         "(a paste can carry them).")
            else:
                where, line = _rule(message, _)
        else:
            line = words.get(kind, _("Please check this."))
        if where.startswith("consents"):
            where = "consents"
        typed.error(where or "general", line)


def _rule(message: str, _) -> tuple[str, str]:
    """A rule across fields, by the field its one line names."""
    if message.startswith("representative"):
        return "representative", _("Please say who you are and how you are related to the patient.")
    if "records review" in message:
        return "consents", _("Please agree to the records review: without it we cannot look at "
                             "your inquiry.")
    if "not a chosen country" in message:
        return "consents", _("You agreed to a referral to a country you did not choose above.")
    if "before the date of birth" in message:
        return message.split(" ", 1)[0], _("This date is before the date of birth.")
    return "general", _("Please check the form.")


def _countries(language: str) -> list[tuple[str, str]]:
    names = Locale.parse(language.replace("-", "_")).territories
    return sorted(((code, name) for code, name in names.items()
                   if len(code) == 2 and code.isalpha() and code not in ("ZZ", "EU", "UN")),
                  key=lambda pair: pair[1])


def _context(request: Request, typed: InquiryForm, **more: Any) -> dict[str, Any]:
    language = language_of(request)
    consents = [("records_review", None)] + [
        (purpose, country) for country in COUNTRIES
        for purpose in ("referral", *OPTIONAL_PURPOSES)
    ]
    return {
        "form": typed,
        "form_csrf": csrf_token(request),
        "sexes": SEXES,
        "relations": RELATIONS,
        "sites": [s.value for s in PrimarySite],
        "patterns": [p.value for p in RecurrencePattern],
        "modalities": [m.value for m in Modality],
        "destination_countries": COUNTRIES,
        "residence_countries": _countries(language),
        "consent_texts": [
            (purpose, country,
             consent_texts.shown(language, purpose, country,
                                 _hospital_names(country) if country else None))
            for purpose, country in consents
        ],
        **more,
    }


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    response = render(request, template, status_code=status_code,
                      languages=[(code, Locale.parse(code).get_display_name(code) or code)
                                 for code in available_languages()],
                      here=request.url.path, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/inquiry", response_class=HTMLResponse)
async def inquiry_form(request: Request) -> Response:
    typed = InquiryForm(nonce=secrets.token_urlsafe(24))
    return _page(request, "portal/inquiry.html.j2", **_context(request, typed))


@router.post("/inquiry", response_class=HTMLResponse)
async def send_inquiry(request: Request) -> Response:
    _ = gettext_for(request)
    if not _posts(request).take(client_address(request)):
        return _page(request, "portal/message.html.j2", status_code=429,
                     title=_("Please wait a moment"),
                     message=_("Too many forms were sent from your connection in the last "
                               "minute. Please wait a minute and send it again."))
    try:
        await request.app.state.authenticator.check_csrf(request)
    except Forbidden:
        return _page(request, "portal/message.html.j2", status_code=403,
                     title=_("Please open the form again"),
                     message=_("This form has expired. Open the inquiry form again and fill "
                               "it in."), link="/portal/inquiry")
    form = await request.form()
    typed = InquiryForm.read(form)
    page = "portal/inquiry.html.j2"
    if form.get("add_course") or form.get("remove_course"):
        step = 1 if form.get("add_course") else -1
        typed.courses = max(1, min(MAX_COURSES, typed.courses + step))
        return _page(request, page, **_context(request, typed))
    language = typed.value("page_language")
    if language not in available_languages():
        language = language_of(request)
    now = datetime.now(UTC)
    try:
        inquiry = PatientInquiry.model_validate(
            typed.inquiry_data(language, now), context={TODAY_CONTEXT_KEY: now.date()}
        )
    except ValidationError as invalid:
        _place_errors(typed, invalid, _)
        return _page(request, page, status_code=400, **_context(request, typed))
    client = await temporal_client(request)
    await inquiries.submit(client, request.app.state.settings, inquiry, typed.nonce, now.date(),
                           directory())
    return RedirectResponse("/portal/inquiry/sent", status_code=303)


@router.get("/inquiry/sent", response_class=HTMLResponse)
async def inquiry_sent(request: Request) -> Response:
    _ = gettext_for(request)
    return _page(request, "portal/message.html.j2", title=_("Please check your e-mail"),
                 message=_("We have sent you an e-mail with a link. Open it to confirm your "
                           "inquiry. Until you do, nothing is kept beyond the inquiry itself, "
                           "and it is deleted if the link is not opened in time."))


@router.get("/confirm/{token}", response_class=HTMLResponse)
async def confirm_inquiry(request: Request, token: str) -> Response:
    _ = gettext_for(request)
    client = await temporal_client(request)
    try:
        confirmed = await inquiries.confirm(client, request.app.state.settings, token)
    except PortalLinkExpired:
        return _page(request, "portal/message.html.j2", status_code=410,
                     title=_("This link has expired"),
                     message=_("The confirmation link is no longer valid and your inquiry was "
                               "not kept. Please send the inquiry again."),
                     link="/portal/inquiry")
    except PortalLinkInvalid:
        return _page(request, "portal/message.html.j2", status_code=404,
                     title=_("This link is not valid"),
                     message=_("Please open the link exactly as it is in the e-mail."))
    if confirmed.already_confirmed:
        return _page(request, "portal/message.html.j2", title=_("Already confirmed"),
                     message=_("You have already confirmed this inquiry; nothing has changed. "
                               "A coordinator will contact you."))
    if confirmed.email_sha256 is not None:
        # The mailbox just proved itself, so records can follow at once (quarantined until a
        # coordinator accepts each); only the first use of the one-time link opens the visit.
        open_portal_session(request, confirmed.case_id, confirmed.email_sha256)
    return _page(request, "portal/message.html.j2", title=_("Thank you: your inquiry is confirmed"),
                 message=_("A coordinator will look at your inquiry and contact you, normally "
                           "within 24 hours."), confirmed=True,
                 records_link="/portal/records")
