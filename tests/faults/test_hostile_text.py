"""Hostile text through the real CLI: control characters and bidirectional overrides are refused
with one line naming the field, nothing reaches the case; a very long reason is refused; HTML and
zero-width joiners are only text, kept as typed."""

from __future__ import annotations

import json

import pytest

from client import cases as case_client
from tests.faults.conftest import EXAMPLES, FaultStack
from tests.polling import until

pytestmark = pytest.mark.integration


def refused(code: int, err: str, field: str) -> None:
    assert code == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert field in err and "\x1b" not in err and "Traceback" not in err, err


async def test_hostile_text_is_refused_or_kept_as_text(faults: FaultStack, tmp_path):
    code, out, err = faults.caseflow("case", "start", str(EXAMPLES / "intake.json"), "--json")
    assert code == 0, err
    case_id = json.loads(out)["case_id"]
    await until("RECORDS", lambda: case_client.case_status(faults.client, case_id))

    for hostile in ("\x1b[2Jgone", "ok\u202eevil", "x" * 5000):
        code, _, err = faults.caseflow(
            "case", "waive", case_id, "organ_function", "--reason", hostile
        )
        refused(code, err, "reason")
    status = await case_client.case_status(faults.client, case_id)
    assert "organ_function" in status.missing_items  # nothing was waived

    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["patient"]["family_name"] = "Example\x07-Patient"
    path = tmp_path / "intake.json"
    path.write_text(json.dumps(intake))
    code, out, err = faults.caseflow("case", "start", str(path))
    refused(code, err, "patient.family_name")
    assert out == ""

    text = "<script>alert(1)</script> reviewed\u200don paper\nsecond line"
    code, _, err = faults.caseflow(
        "case", "waive", case_id, "organ_function", "--reason", text
    )
    assert code == 0, err
    code, out, err = faults.caseflow("case", "status", case_id, "--json")
    assert code == 0, err
    assert text in strings(json.loads(out)), "the reason comes back as typed"


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []
