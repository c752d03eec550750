"""The CLI's contract for bad input: one `error: ...` line on stderr, a non-zero exit, no
traceback, no patient data, and nothing sent or stored (these run without any server)."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest

from coordinator.cli import run

CASE_ID = "a" * 26
PATIENT_NAME = "Zelphine"  # a name that must never appear in an error line

INTAKE = {
    "patient": {
        "given_name": PATIENT_NAME,
        "family_name": "Example",
        "date_of_birth": "1961-07-04",
        "sex": "female",
        "country_of_residence": "KE",
        "preferred_language": "en",
    },
    "clinical": {
        "primary_site": "head_and_neck",
        "histology": "squamous cell carcinoma",
        "recurrence_pattern": "local",
        "lesion_count": 1,
        "largest_lesion_cm": 3.2,
        "prior_rt_courses": [
            {"site": "oropharynx", "technique": "IMRT", "total_dose_gy": 70, "fractions": 35,
             "completed_on": "2024-09-10"}
        ],
        "ecog": 1,
    },
    "destinations": {"countries": ["CN"]},
    "coordinator_id": "coord-7",
}


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    # Unreachable servers: any command that got as far as the network would fail differently.
    monkeypatch.setenv("CASEFLOW_TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("CASEFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    # A test key, so the result never depends on whether .data/keys.json exists here.
    monkeypatch.setenv("CASEFLOW_ENCRYPTION_KEYS", '{"test": "' + "a" * 43 + '="}')
    from caseflow.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(sys, "argv", ["caseflow", *args])
    code = run()
    out, err = capsys.readouterr()
    get_settings.cache_clear()
    return code, out, err


def assert_one_line(code: int, err: str, *expected: str) -> str:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in err
    assert PATIENT_NAME not in err
    for text in expected:
        assert text in line, line
    return line


def write_json(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def intake_with(path: str, value) -> dict:
    data = copy.deepcopy(INTAKE)
    *parents, leaf = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[leaf] = value
    return data


def test_intake_that_is_not_json(monkeypatch, capsys, tmp_path):
    intake = write_json(tmp_path, "intake.json", '{"patient": {')
    code, out, err = run_cli(monkeypatch, capsys, "case", "start", intake)
    assert_one_line(code, err, "Invalid JSON")
    assert out == ""


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("clinical.ecog", 7, "clinical.ecog"),
        ("patient.date_of_birth", "2999-01-01", "patient.date_of_birth"),
        ("clinical.prior_rt_courses.0.total_dose_gy", -70, "total_dose_gy"),
        ("patient.phone", f"call {PATIENT_NAME}", "patient.phone"),
        ("patient.nickname", PATIENT_NAME, "patient.nickname"),  # an unknown field
        ("coordinator_id", "Coord 7", "coordinator_id"),
    ],
)
def test_intake_rejections_name_the_field_and_hide_the_value(
    monkeypatch, capsys, tmp_path, path, value, field
):
    intake = write_json(tmp_path, "intake.json", intake_with(path, value))
    code, out, err = run_cli(monkeypatch, capsys, "case", "start", intake)
    assert_one_line(code, err, field)
    assert out == ""


def test_missing_intake_file_is_a_usage_error(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "case", "start", str(tmp_path / "nope.json"))
    assert code == 2
    assert_one_line(code, err, "does not exist")


def test_unknown_document_kind(monkeypatch, capsys, tmp_path):
    document = tmp_path / "scan.pdf"
    document.write_bytes(b"%PDF-1.4 fictional")
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "upload", CASE_ID, str(document), "--kind", "xray_film"
    )
    assert code == 2
    assert_one_line(code, err, "--kind", "xray_film")


def test_malformed_case_id_is_rejected_before_any_upload(monkeypatch, capsys, tmp_path):
    document = tmp_path / "scan.pdf"
    document.write_bytes(b"%PDF-1.4 fictional")
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "upload", "case-123", str(document), "--kind", "labs"
    )
    assert_one_line(code, err, "CASE_ID")


def test_review_with_wrong_field(monkeypatch, capsys, tmp_path):
    review = write_json(tmp_path, "review.json", {
        "outcome": "proceed", "reviewer_id": "spec-1", "target_hospital_ids": ["cn-beijing-cancer"],
        "verdict": "yes",
    })
    code, _, err = run_cli(monkeypatch, capsys, "case", "review", CASE_ID, review)
    assert_one_line(code, err, "verdict", "Extra inputs are not permitted")


def test_review_proceed_without_hospitals(monkeypatch, capsys, tmp_path):
    review = write_json(tmp_path, "review.json", {"outcome": "proceed", "reviewer_id": "spec-1"})
    code, _, err = run_cli(monkeypatch, capsys, "case", "review", CASE_ID, review)
    assert_one_line(code, err, "target_hospital_ids")


def test_unknown_review_outcome(monkeypatch, capsys, tmp_path):
    review = write_json(tmp_path, "review.json", {"outcome": "maybe", "reviewer_id": "spec-1"})
    code, _, err = run_cli(monkeypatch, capsys, "case", "review", CASE_ID, review)
    assert_one_line(code, err, "outcome")


def test_response_with_unknown_attachment_kind_uploads_nothing(monkeypatch, capsys, tmp_path):
    response = write_json(tmp_path, "response.json", {"decision": "accept"})
    opinion = tmp_path / "opinion.pdf"
    opinion.write_bytes(b"%PDF-1.4 fictional")
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "respond", CASE_ID, "cn-beijing-cancer", response,
        "--document", f"{opinion}:verdict_letter",
    )
    assert code == 2
    assert_one_line(code, err, "--document", "verdict_letter")


def test_response_with_unknown_field(monkeypatch, capsys, tmp_path):
    response = write_json(tmp_path, "response.json", {"decision": "accept", "costs": 1})
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "respond", CASE_ID, "cn-beijing-cancer", response
    )
    assert_one_line(code, err, "costs")


def test_travel_event_of_unknown_kind(monkeypatch, capsys, tmp_path):
    event = write_json(tmp_path, "event.json", {"kind": "teleported", "on": "2026-01-01"})
    code, _, err = run_cli(monkeypatch, capsys, "case", "travel", CASE_ID, event)
    assert_one_line(code, err, "kind")


def test_bad_date_option(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "case", "admit", CASE_ID, "--on", "2026-13-40")
    assert code == 2
    assert_one_line(code, err, "--on", "YYYY-MM-DD")


def test_follow_up_with_unknown_status(monkeypatch, capsys):
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "follow-up", CASE_ID, "--day", "30", "--status", "great"
    )
    assert_one_line(code, err, "status")


def test_list_with_unknown_stage(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "case", "list", "--stage", "LIMBO")
    assert code == 2
    assert_one_line(code, err, "--stage")


def test_a_coordinator_filter_cannot_change_the_query(monkeypatch, capsys):
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "list", "--coordinator", 'c1" OR CaseStage != "x'
    )
    assert_one_line(code, err, "coordinator")


def test_visibility_query_uses_only_search_attributes():
    from caseflow.case_status import CaseStage
    from client.cases import visibility_query

    assert visibility_query(CaseStage.RECORDS, True, "coord-7") == (
        'WorkflowType = "CaseWorkflow" AND CaseStage = "RECORDS" AND Escalated = true'
        ' AND CoordinatorId = "coord-7"'
    )


def test_unreachable_temporal_is_one_line(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "case", "status", CASE_ID)
    assert_one_line(code, err, "cannot reach Temporal at 127.0.0.1:9")
    assert out == ""


def test_schema_intake_prints_the_json_schema(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "schema", "intake", "--json")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "CaseIntake"
    assert {"patient", "clinical", "destinations", "coordinator_id"} <= set(schema["properties"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--country", "FR", "--purpose", "referral"], ["country", "'IN' or 'CN'"]),
        (["--country", "CN", "--purpose", "marketing"], ["purpose"]),
        (["--purpose", "referral"], ["country", "Field required"]),
        (["--country", "CN", "--purpose", "referral", "--hospital", "CN Beijing"],
         ["hospital_id"]),
        (["--country", "CN", "--purpose", "referral", "--by", "Coord 7"], ["recorded_by"]),
        (["--country", "CN", "--purpose", "referral", "--granted-at", "2026-01-05T09:00:00"],
         ["granted_at", "time zone"]),
        (["--country", "CN", "--purpose", "referral", "--granted-at", "last tuesday"],
         ["granted_at"]),
    ],
)
def test_consent_record_rejections_name_the_field(monkeypatch, capsys, options, expected):
    code, out, err = run_cli(monkeypatch, capsys, "case", "consent", "record", CASE_ID, *options)
    assert_one_line(code, err, *expected)
    assert "cannot reach Temporal" not in err  # refused before any connection
    assert out == ""


def test_consent_withdraw_takes_no_signing_time(monkeypatch, capsys):
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "consent", "withdraw", CASE_ID,
        "--country", "CN", "--purpose", "referral", "--granted-at", "2026-01-05T09:00:00Z",
    )
    assert code == 2
    assert_one_line(code, err, "--granted-at")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--purpose", "referral"], ["country", "needed for every purpose but records_review"]),
        (["--purpose", "records_review", "--country", "CN"], ["country", "needed for every"]),
        (["--purpose", "records_review", "--hospital", "cn-beijing-cancer"],
         ["hospital_id", "names no hospital"]),
    ],
)
def test_consent_withdraw_has_a_country_exactly_unless_the_records_review(
    monkeypatch, capsys, options, expected
):
    code, out, err = run_cli(
        monkeypatch, capsys, "case", "consent", "withdraw", CASE_ID, *options
    )
    assert_one_line(code, err, *expected)
    assert "cannot reach Temporal" not in err and out == ""


def test_consent_file_with_unknown_field(monkeypatch, capsys, tmp_path):
    event = write_json(tmp_path, "consent.json", {
        "country": "CN", "purpose": "referral", "signed_by": PATIENT_NAME,
    })
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "consent", "withdraw", CASE_ID, "--file", event
    )
    assert_one_line(code, err, "signed_by", "Extra inputs are not permitted")


def test_consent_options_override_the_file(monkeypatch, capsys, tmp_path):
    # The file alone is valid; the option replaces its country with a wrong one.
    event = write_json(tmp_path, "consent.json", {"country": "CN", "purpose": "referral"})
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "consent", "record", CASE_ID, "--file", event,
        "--country", "US",
    )
    assert_one_line(code, err, "country")


def test_consent_for_a_malformed_case_id(monkeypatch, capsys):
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "consent", "record", "case-1",
        "--country", "CN", "--purpose", "referral",
    )
    assert_one_line(code, err, "CASE_ID")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["CN_Beijing"], ["hospital_id"]),
        (["cn-beijing-cancer", "--reference", "ticket 42"], ["reference"]),
    ],
)
def test_acknowledgement_rejections_name_the_field(monkeypatch, capsys, args, expected):
    code, _, err = run_cli(monkeypatch, capsys, "case", "acknowledge", CASE_ID, *args)
    assert_one_line(code, err, *expected)
    assert "cannot reach Temporal" not in err


def test_acknowledgement_file_with_unknown_field(monkeypatch, capsys, tmp_path):
    event = write_json(tmp_path, "ack.json", {"reference": "BJC-1", "received_by": "dr x"})
    code, _, err = run_cli(
        monkeypatch, capsys, "case", "acknowledge", CASE_ID, "cn-beijing-cancer", "--file", event
    )
    assert_one_line(code, err, "received_by")


def test_valid_consent_and_acknowledgement_reach_for_the_server(monkeypatch, capsys):
    # The control for the rejections above: good input gets as far as connecting.
    for args in (
        ["consent", "record", CASE_ID, "--country", "IN", "--purpose", "travel",
         "--granted-at", "2026-01-05T09:00:00+05:30", "--by", "coord-7"],
        ["consent", "withdraw", CASE_ID, "--country", "CN", "--purpose", "referral",
         "--hospital", "cn-beijing-cancer"],
        ["consent", "withdraw", CASE_ID, "--purpose", "records_review"],
        ["acknowledge", CASE_ID, "cn-beijing-cancer", "--reference", "BJC-INTL-2027/0142"],
    ):
        code, _, err = run_cli(monkeypatch, capsys, "case", *args)
        assert_one_line(code, err, "cannot reach Temporal")


@pytest.mark.parametrize(
    ("name", "example", "title"),
    [
        ("consent", "consent_referral_in.json", "RecordConsent"),
        ("consent-withdrawal", "consent_withdrawal_in.json", "WithdrawConsent"),
        ("acknowledgement", "hospital_acknowledgement.json", "HospitalAcknowledgement"),
    ],
)
def test_schema_event_for_consent_and_acknowledgement(monkeypatch, capsys, name, example, title):
    from pathlib import Path

    from coordinator.schema_command import EVENT_MODELS

    code, out, _ = run_cli(monkeypatch, capsys, "schema", "event", name, "--json")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == title
    # The example file validates as the command reads it (an acknowledgement file's hospital
    # comes from the HOSPITAL_ID argument).
    data = json.loads((Path(__file__).parents[2] / "examples" / example).read_text())
    if name == "acknowledgement":
        data["hospital_id"] = "cn-beijing-cancer"
    EVENT_MODELS[name].model_validate(data)
    assert set(data) <= set(schema["properties"])


# -- --json: errors are JSON too (the API's shape), on stderr, so stdout only holds results ------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["case", "status", CASE_ID, "--json"], "cannot reach Temporal at 127.0.0.1:9"),
        (["case", "admit", CASE_ID, "--on", "2026-13-40", "--json"], "YYYY-MM-DD"),  # usage
        (["case", "upload", "case-1", "--json", "--kind", "labs", "/dev/null"], "CASE_ID"),
        (["case", "consent", "record", CASE_ID, "--json", "--purpose", "referral"], "country"),
    ],
)
def test_with_json_an_error_is_one_json_document(monkeypatch, capsys, tmp_path, args, expected):
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code != 0 and out == ""
    [line] = err.strip().splitlines()
    assert set(json.loads(line)) == {"error"}
    assert expected in json.loads(line)["error"]
    assert PATIENT_NAME not in err


def test_with_json_intake_errors_name_the_field_in_json(monkeypatch, capsys, tmp_path):
    intake = write_json(tmp_path, "intake.json", intake_with("clinical.ecog", 7))
    code, out, err = run_cli(monkeypatch, capsys, "case", "start", intake, "--json")
    assert code == 1 and out == ""
    assert json.loads(err)["error"].startswith("clinical.ecog")


def test_without_json_the_error_stays_a_line_of_text(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "case", "status", CASE_ID, "--", "--json")
    assert_one_line(code, err)


# -- erasure asks first ---------------------------------------------------------------------------


def test_erase_without_a_terminal_and_without_yes_refuses_before_connecting(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "case", "erase", CASE_ID)
    line = assert_one_line(code, err, "--yes", "cannot be undone")
    assert "cannot reach Temporal" not in line
    assert out == ""


def test_erase_with_yes_goes_ahead(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "case", "erase", CASE_ID, "--yes")
    assert_one_line(code, err, "cannot reach Temporal")


@pytest.mark.parametrize(("answer", "goes_ahead"), [("n\n", False), ("\n", False), ("y\n", True)])
def test_erase_at_a_terminal_asks(monkeypatch, answer, goes_ahead):
    from typer.testing import CliRunner

    from coordinator import erasure_commands

    monkeypatch.setenv("CASEFLOW_TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("CASEFLOW_ENCRYPTION_KEYS", '{"test": "' + "a" * 43 + '="}')
    monkeypatch.setattr(erasure_commands, "_can_ask", lambda: True)
    with CliRunner().isolation(input=answer) as (_, err, _):
        code = run(["case", "erase", CASE_ID])
        sys.stderr.flush()
        text = err.getvalue().decode()
    assert f"Erase case {CASE_ID}" in text and "[y/N]" in text
    assert code == 1
    if goes_ahead:
        assert "cannot reach Temporal" in text
    else:
        assert f"error: case {CASE_ID}: not erased" in text
        assert "cannot reach Temporal" not in text


# -- demo --json ----------------------------------------------------------------------------------


def test_demo_with_json_prints_one_document_and_no_narration(monkeypatch, capsys):
    from datetime import UTC, datetime

    from caseflow.case_status import CaseOutcome, CaseResult
    from coordinator import demo

    async def scripted(settings, say, trial_case=None):
        say("RECORDS: 8 documents uploaded")
        say("HOSPITAL_SUBMISSION: packets delivered")
        return CaseResult(
            case_id=CASE_ID, outcome=CaseOutcome.COMPLETED, closed_at=datetime.now(UTC)
        )

    monkeypatch.setattr(demo, "run_demo", scripted)
    code, out, err = run_cli(monkeypatch, capsys, "demo", "--json")
    assert code == 0, err
    document = json.loads(out)  # the whole of stdout is one document
    assert document["case_id"] == CASE_ID and document["outcome"] == "completed"
    assert document["steps"] == ["RECORDS: 8 documents uploaded",
                                 "HOSPITAL_SUBMISSION: packets delivered"]
    assert document["ui"].endswith(f"/workflows/case-{CASE_ID}")
    assert document["console"].endswith(f"/console/cases/{CASE_ID}")


def test_demo_with_json_fails_in_json(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "demo", "--json")
    assert code == 1 and out == ""
    assert json.loads(err)["error"].startswith("cannot reach Temporal at 127.0.0.1:9")


# -- Temporal's words, said as caseflow's ---------------------------------------------------------


@pytest.mark.parametrize(
    ("temporal", "caseflow"),
    [
        (f"workflow not found for ID: case-{CASE_ID}", f"CASE_ID: no case {CASE_ID}"),
        ("workflow execution already completed", "the case is closed; it takes no more events"),
        (f"workflow not found for ID: referral-{CASE_ID}-cn-x", "no such case or referral"),
    ],
)
def test_temporal_words_become_caseflow_words(temporal, caseflow):
    from temporalio.service import RPCError, RPCStatusCode

    from client.errors import one_line

    line = one_line(RPCError(temporal, RPCStatusCode.NOT_FOUND, b""))
    assert line.startswith(caseflow), line
    assert "workflow" not in line


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_an_interrupted_command_exits_130_with_one_line(monkeypatch, capsys, json_output):
    # Typer turns Ctrl-C (and SIGTERM, which `case upload` raises as one) into an exit code it
    # returns rather than raises; the CLI once dropped it and exited 0.
    import coordinator.case_commands

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(coordinator.case_commands, "_emit", interrupted)
    args = ["case", "kinds", *(["--json"] if json_output else [])]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert (code, out) == (130, "")
    assert err == ('{"error": "interrupted"}\n' if json_output else "error: interrupted\n")
