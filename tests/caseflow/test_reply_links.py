"""Reply links and the FHIR Task mapping: pure functions, no servers."""

import time

import pytest

from caseflow import hospital_reply_task as mapping
from caseflow import reply_links

SECRET = "s" * 32
CLAIMS = reply_links.ReplyClaims(
    case_id="abcdefghijklmnopqrstuvwxyz", hospital_id="cn-xiamen-bnct",
    packet_id="0f8e7d6c-1234-4abc-9def-000000000001",
)


def test_a_token_round_trips_and_is_the_same_for_the_same_issue_time():
    issued = time.time() - 60
    token = reply_links.make_token(SECRET, CLAIMS, issued)
    assert token == reply_links.make_token(SECRET, CLAIMS, issued)  # a re-rendered letter
    assert reply_links.read_token(SECRET, token, 30) == CLAIMS


def test_forged_damaged_and_expired_tokens_are_refused():
    token = reply_links.make_token(SECRET, CLAIMS)
    with pytest.raises(reply_links.ReplyLinkInvalid):
        reply_links.read_token("other" * 8, token, 30)
    with pytest.raises(reply_links.ReplyLinkInvalid):
        reply_links.read_token(SECRET, token[:-3] + "abc", 30)
    old = reply_links.make_token(SECRET, CLAIMS, time.time() - 31 * 86400)
    with pytest.raises(reply_links.ReplyLinkExpired, match="expired"):
        reply_links.read_token(SECRET, old, 30)


def test_the_form_token_is_bound_to_the_link():
    token = reply_links.make_token(SECRET, CLAIMS)
    other = reply_links.make_token(SECRET, CLAIMS.model_copy(update={"hospital_id": "x"}))
    csrf = reply_links.csrf_token(SECRET, token)
    assert reply_links.csrf_matches(SECRET, token, csrf)
    assert not reply_links.csrf_matches(SECRET, other, csrf)
    assert not reply_links.csrf_matches(SECRET, token, None)


def task(status, **fields):
    return mapping.parse_task({"resourceType": "Task", "status": status, "intent": "order",
                               **fields})


def test_task_statuses_map_to_acknowledgement_and_decisions():
    ack = task("received", identifier=[{"value": "IPD-1"}])
    assert mapping.kind_of(ack) == "acknowledgement"
    assert mapping.acknowledgement_fields(ack) == {"reference": "IPD-1"}
    assert mapping.response_fields(task("accepted"))["decision"] == "accept"
    assert mapping.response_fields(task("rejected"))["decision"] == "decline"
    assert mapping.response_fields(task("on-hold"))["decision"] == "needs_more_information"
    more = task("in-progress", businessStatus={"coding": [{"code": "needs-more-information"}]})
    assert mapping.response_fields(more)["decision"] == "needs_more_information"
    with pytest.raises(mapping.TaskNotMapped, match="^status:"):
        mapping.kind_of(task("draft"))


def test_task_outputs_carry_the_answer():
    fields = mapping.response_fields(task(
        "accepted",
        note=[{"text": "fallback"}],
        output=[
            {"type": {"text": "proposed-treatment"}, "valueString": "BNCT"},
            {"type": {"text": "cost-estimate"}, "valueMoney": {"value": 10, "currency": "CNY"}},
            {"type": {"text": "earliest-admission-date"}, "valueDate": "2027-01-05"},
            {"type": {"text": "visa-invitation-possible"}, "valueBoolean": False},
            {"type": {"text": "document"},
             "valueReference": {"reference": "DocumentReference/dabc"}},
        ],
    ))
    assert fields == {
        "decision": "accept", "opinion": "fallback", "proposed_treatment": "BNCT",
        "cost_estimate": {"amount": 10.0, "currency": "CNY"},
        "earliest_admission_date": "2027-01-05", "visa_invitation_possible": False,
        "documents": ["dabc"],
    }
    with pytest.raises(mapping.TaskNotMapped, match="^output.type:"):
        mapping.response_fields(task("accepted", output=[{"type": {"text": "x"},
                                                          "valueString": "y"}]))
    with pytest.raises(mapping.TaskNotMapped, match="^basedOn:"):
        mapping.check_referral(task("accepted", basedOn=[{"reference": "ServiceRequest/b"}]),
                               "a")
