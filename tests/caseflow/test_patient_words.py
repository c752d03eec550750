"""Plain words for the patient: every stage, document kind, checklist item and consent purpose has
them, in English and in Simplified Chinese; and the portal's links are bound to their purpose and
expire."""

from typing import get_args

import pytest

from caseflow import patient_words as words
from caseflow.case_status import CaseStage
from caseflow.checklist import _REQUESTABLE, RecordsChecklist
from caseflow.consent import LedgerPurpose
from caseflow.documents import DocumentKind
from caseflow.intake import PrimarySite
from caseflow.message_catalogues import best_language, translations
from caseflow.portal_links import (
    PortalClaims,
    PortalLinkExpired,
    PortalLinkInvalid,
    email_digest,
    make_token,
    read_token,
)
from tests.workflows.cases import intake

LANGUAGES = ["en", "zh_CN"]


def _every_checklist_item() -> set[str]:
    base = intake()
    found = set()
    for site in PrimarySite:
        clinical = base.clinical.model_copy(
            update={"primary_site": site, "biomarkers": ["EGFR"], "sins": None}
        )
        found |= {i.item_id for i in RecordsChecklist.build(
            base.model_copy(update={"clinical": clinical})).items}
    return found | {item_id for item_id, _, _ in _REQUESTABLE.values()}


def _translated(language: str, english: str) -> str:
    text = translations(language).gettext(english)
    if language != "en":
        assert text != english, f"{english!r} has no {language} translation"
    return text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_stage_kind_item_and_purpose_has_plain_words(language):
    _ = translations(language).gettext
    assert set(words.STAGE_WORDS) == set(CaseStage) == set(words.STAGE_NAMES)
    assert set(words.KIND_WORDS) == set(DocumentKind)
    assert set(words.PURPOSE_WORDS) == set(get_args(LedgerPurpose))
    items = _every_checklist_item()
    assert items <= set(words.CHECKLIST_WORDS), items - set(words.CHECKLIST_WORDS)
    for english in [
        *words.STAGE_WORDS.values(), *words.STAGE_NAMES.values(), *words.KIND_WORDS.values(),
        *words.CHECKLIST_WORDS.values(), *words.PURPOSE_WORDS.values(),
        *words.COUNTRY_WORDS.values(), words.REQUESTED_TEMPLATE,
    ]:
        _translated(language, english)
    # Never the schema's names: no snake_case id reaches the patient.
    for item_id in items:
        assert "_" not in words.checklist_words(item_id, [], _)


def test_a_requested_kind_reads_as_the_specialists_request():
    _ = translations("zh_CN").gettext
    assert words.checklist_words("more_imaging_ct", [DocumentKind.IMAGING_CT], _) == (
        "专家要求补充：CT 检查"
    )
    en = translations("en").gettext
    assert words.checklist_words("more_labs", [DocumentKind.LABS], en) == (
        "Asked for by the specialist: Blood test results"
    )


@pytest.mark.parametrize(
    ("tags", "expected"),
    [(("zh-CN",), "zh_CN"), (("zh",), "zh_CN"), (("zh-Hans-CN",), "zh_CN"), (("en-GB",), "en"),
     (("hi", "en"), "en"), (("hi",), None)],
)
def test_a_language_tag_finds_its_catalogue(tags, expected):
    assert best_language(*tags) == expected


def _claims(purpose="case_status") -> PortalClaims:
    return PortalClaims(
        purpose=purpose, subject_id="a" * 26, email_sha256=email_digest(" P@Example.invalid ")
    )


def test_a_status_link_opens_only_as_a_status_link_and_only_while_valid():
    token = make_token("secret", _claims())
    claims = read_token("secret", token, "case_status", 3600)
    assert claims.subject_id == "a" * 26
    assert claims.email_sha256 == email_digest("p@example.invalid")
    with pytest.raises(PortalLinkInvalid):
        read_token("secret", token, "confirm_inquiry", 3600)
    with pytest.raises(PortalLinkInvalid):
        read_token("another secret", token, "case_status", 3600)
    with pytest.raises(PortalLinkInvalid):
        read_token("secret", token[:-2] + "xx", "case_status", 3600)
    with pytest.raises(PortalLinkExpired):
        read_token("secret", token, "case_status", -1)
    confirm = make_token("secret", _claims("confirm_inquiry"))
    with pytest.raises(PortalLinkInvalid):
        read_token("secret", confirm, "case_status", 3600)
