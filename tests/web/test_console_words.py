"""The console's words: every string the templates and the words module use is in the English
catalogue, every code a case can carry has its words, and a page renders in another language when
a catalogue for it exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po
from markupsafe import escape
from starlette.requests import Request

from caseflow import message_catalogues
from caseflow.case_events import HospitalDecision, ReviewOutcome, TravelEventKind
from caseflow.case_status import (
    CaseOutcome,
    CaseStage,
    CaseStatus,
    ChecklistEntry,
    ReferralState,
    WaitKind,
)
from caseflow.documents import DocumentKind
from caseflow.hospitals import Modality
from caseflow.intake import CaseIntake, ConsentGrant, Patient, PrimarySite, RecurrencePattern
from caseflow.settings import CaseflowSettings
from caseflow.sla import SlaStep
from caseflow.triage import TriageLevel
from web import console_words, pages
from web.access import Role
from web.case_pages import case_context

WEB = Path(pages.__file__).parent
ENGLISH = WEB / "locale" / "en" / "LC_MESSAGES" / "messages.po"


def extracted() -> dict[str, str]:
    """Every msgid `make messages` finds (web/babel.cfg), with where it was found."""
    with (WEB / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(WEB.parent), method_map, options_map
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found[msgid] = filename
    return found


def test_every_string_of_the_console_is_in_the_english_catalogue():
    with ENGLISH.open("rb") as source:
        # A plural entry's id is (singular, plural): both forms count as in the catalogue.
        english = {
            form for m in read_po(source) if m.id
            for form in ((m.id,) if isinstance(m.id, str) else m.id)
        }
    found = extracted()
    assert "Records checklist" in found and "Hospital submission" in found  # the scan works
    missing = {msgid: where for msgid, where in found.items() if msgid not in english}
    assert not missing, f"run `make messages` and commit the .po; missing: {missing}"


def test_the_words_module_and_the_templates_are_both_scanned():
    found = extracted()
    assert found["head and neck"].endswith("console_words.py")
    assert found["file: choose a file first"].endswith("case.html.j2")


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        ("stage", [s.value for s in CaseStage]),
        ("pathway", list(get_args(CaseIntake.model_fields["pathway"].annotation))),
        ("outcome", [o.value for o in CaseOutcome]),
        ("document_kind", [k.value for k in DocumentKind]),
        ("decision", [d.value for d in HospitalDecision]),
        ("referral_state", [s.value for s in ReferralState]),
        ("review_outcome", [o.value for o in ReviewOutcome]),
        ("modality", [m.value for m in Modality]),
        ("consent_purpose", list(get_args(ConsentGrant.model_fields["purpose"].annotation))),
        ("travel_kind", [k.value for k in TravelEventKind]),
        ("wait", [w.value for w in WaitKind]),
        ("sla_step", [s.value for s in SlaStep]),
        ("primary_site", [s.value for s in PrimarySite]),
        ("recurrence_pattern", [p.value for p in RecurrencePattern]),
        ("sex", list(get_args(Patient.model_fields["sex"].annotation))),
        ("triage_level", [t.value for t in TriageLevel]),
        ("role", [r.value for r in Role]),
    ],
)
def test_every_code_has_its_words(kind, codes):
    table = console_words.TABLES[kind]
    assert set(codes) <= set(table), set(codes) - set(table)


def test_every_travel_step_and_sla_step_has_a_timeline_word():
    events = console_words.TIMELINE_EVENT
    assert all(f"travel_{k.value}" in events for k in TravelEventKind)
    assert all(f"sla_{s.value}" in events for s in SlaStep)
    # A referral's own reports reach the case's timeline prefixed `referral_`.
    assert all(f"referral_sla_{s.value}" in events for s in SlaStep)
    assert all(f"referral_{state.value}" in events for state in ReferralState)


# -- a second language ---------------------------------------------------------------------------

CHINESE = {
    "Records checklist": "病历清单",
    "Specialist review": "专家评审",
    "Records": "病历",
    "biopsy report": "活检报告",
    "Biopsy report of the recurrence": "复发灶活检报告",
}


@pytest.fixture
def two_languages(tmp_path, monkeypatch):
    """A locale directory with the English catalogue and a small test-only zh_CN one."""
    for language, words in (("en", {}), ("zh_CN", CHINESE)):
        catalog = Catalog(locale=language, domain="messages")
        for msgid, msgstr in words.items():
            catalog.add(msgid, msgstr)
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        with (folder / "messages.po").open("wb") as out:
            write_po(out, catalog)
    # Pages and the patient's mails share one catalogue reader.
    monkeypatch.setattr(message_catalogues, "LOCALE_DIR", tmp_path)
    message_catalogues.translations.cache_clear()
    yield
    message_catalogues.translations.cache_clear()


def page_request(accept_language: str) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=CaseflowSettings()))
    return Request({
        "type": "http", "method": "GET", "path": "/console/cases/c-1", "query_string": b"",
        "headers": [(b"accept-language", accept_language.encode())], "app": app,
    })


def a_case() -> CaseStatus:
    now = datetime.now(UTC)
    return CaseStatus(
        case_id="case-20260101-abcd", workflow_id="case-case-20260101-abcd", pathway="recurrence",
        stage=CaseStage.RECORDS, stage_entered_at=now, time_in_stage=timedelta(0),
        coordinator_id="coord-ana",
        checklist=[ChecklistEntry(item_id="biopsy", title="Biopsy report of the recurrence",
                                  accepts=[DocumentKind.BIOPSY_REPORT], reason="r", source="s",
                                  missing=True)],
        missing_items=["biopsy"], triage_flags=[], documents=[], hospitals=[],
        open_deadlines=[], escalations=[], failed_steps=[], timeline=[],
    )


def render_case_page(accept_language: str, status: CaseStatus | None = None) -> str:
    request = page_request(accept_language)
    start = SimpleNamespace(
        hospitals=[], intake=SimpleNamespace(patient=SimpleNamespace(given_name="Ada",
                                                                     family_name="Test")),
    )
    principal = SimpleNamespace(identity="user:coord-ana", role=Role.COORDINATOR)
    context = case_context(request, principal, status or a_case(), start)  # type: ignore[arg-type]
    return bytes(pages.render(request, "console/case.html.j2", **context).body).decode()


def test_the_case_page_renders_in_a_second_language_when_its_catalogue_exists(two_languages):
    chinese = render_case_page("zh-CN,zh;q=0.9")
    assert '<html lang="zh-CN"' in chinese
    for words in ("病历清单", "专家评审", "活检报告", "复发灶活检报告"):
        assert words in chinese
    # What the test catalogue lacks falls back to English, never to a raw code.
    assert "Open deadlines" in chinese
    assert "SPECIALIST_REVIEW" not in chinese.replace('value="SPECIALIST_REVIEW"', "")
    english = render_case_page("en")
    assert "Records checklist" in english and "Specialist review" in english
    assert "病历清单" not in english


def test_a_deadline_in_the_queue_reads_in_the_readers_order():
    from web.queue_pages import due_words

    due = datetime(2026, 12, 2, 18, 2, tzinfo=UTC)
    assert due_words(due, "en") == "2 Dec, 18:02 UTC"
    # Not "2 12月": Chinese puts the month first and marks the day.
    assert due_words(due, "zh-CN") == "12月2日 18:02 UTC"


def test_a_triage_flag_reads_in_the_page_language_as_the_letter_words_it():
    from activities.letter_words import phrase_text
    from caseflow.case_status import TriageFlagEntry
    from caseflow.triage import triage
    from tests.workflows.cases import intake

    flags = [
        TriageFlagEntry(code=f.code, level=f.level.value, message=f.message, source=f.source,
                        phrases=list(f.phrases))
        for f in triage(intake(), datetime(2025, 6, 1).date())
    ]
    assert flags, "the test intake raises no triage flag"
    status = a_case().model_copy(update={"triage_flags": flags})
    chinese = render_case_page("zh-CN", status)
    english = render_case_page("en", status)
    for flag in flags:
        # The letter's catalogue translates it: the same sentence the hospital reads.
        words = " ".join(phrase_text("zh-CN", p) for p in flag.phrases)
        assert words != flag.message
        assert escape(words) in chinese
        assert escape(flag.message) not in chinese
        assert escape(flag.message) in english
    # A case from before flags carried their phrases shows the flag's own message.
    older = a_case().model_copy(
        update={"triage_flags": [flags[0].model_copy(update={"phrases": []})]}
    )
    assert escape(flags[0].message) in render_case_page("zh-CN", older)


def test_a_checklist_reason_reads_in_the_page_language_and_a_request_as_written():
    from caseflow.checklist import REQUEST_SOURCE, RecordsChecklist
    from caseflow.intake import PrimarySite
    from tests.workflows.cases import intake

    # Every reason the checklist can give, over every site, is in the Chinese catalogue.
    chinese = message_catalogues.translations("zh-CN")
    base = intake().model_dump(mode="json")
    for site in PrimarySite:
        data = {**base, "clinical": {**base["clinical"], "primary_site": site.value,
                                     "biomarkers": ["EGFR"]}}
        for item in RecordsChecklist.build(CaseIntake.model_validate(data)).items:
            assert chinese.gettext(item.reason) != item.reason, (site, item.item_id)

    biopsy = a_case().checklist[0].model_copy(
        update={"reason": "Confirms viable recurrent tumour, not radiation fibrosis."}
    )
    # A specialist's own words, with a '%' the template's gettext would have choked on.
    asked = biopsy.model_copy(update={
        "item_id": "requested_boron_pet", "source": REQUEST_SOURCE,
        "reason": "T/N ratio above 2.5 (100% of the centre's BNCT cases need it)",
    })
    status = a_case().model_copy(update={"checklist": [biopsy, asked]})
    page = render_case_page("zh-CN", status)
    assert "证实为存活的复发肿瘤，而非放射性纤维化。" in page
    assert "Confirms viable recurrent tumour" not in page
    assert str(escape(asked.reason)) in page
    assert "Confirms viable recurrent tumour, not radiation fibrosis." in render_case_page(
        "en", status
    )
