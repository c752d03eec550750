"""The `caseflow case` commands against the real dev server, SeaweedFS and worker: what they
print, what they refuse (one line, non-zero), and what they leave in S3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caseflow.case_status import CaseStage
from client import cases as case_client
from coordinator.case_script import fictional_pdf
from tests.integration.test_case_lifecycle import CaseStack, case_stack, until

pytestmark = pytest.mark.integration
__all__ = ["case_stack"]  # the module-scoped stack fixture, shared with the lifecycle test

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def one_line(code: int, err: str, *expected: str) -> str:
    assert code == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    return err


def case_objects(seaweed, case_id: str) -> list[str]:
    listed = seaweed.client().list_objects_v2(Bucket=seaweed.bucket, Prefix=f"cases/{case_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


async def start_example(case_stack: CaseStack) -> str:
    code, out, err = await case_stack.caseflow(
        "case", "start", str(EXAMPLES / "intake.json"), "--json"
    )
    assert code == 0, err
    started = json.loads(out)
    assert started["ui"].endswith(f"/workflows/case-{started['case_id']}")
    return started["case_id"]


async def test_start_prints_the_id_and_status_shows_the_checklist(case_stack: CaseStack):
    code, out, err = await case_stack.caseflow("case", "start", str(EXAMPLES / "intake.json"))
    assert code == 0, err
    case_id = out.strip()
    assert case_client.CASE_ID_PATTERN.fullmatch(case_id)

    async def in_records():
        status = await case_client.case_status(case_stack.client, case_id)
        return status if status.stage == CaseStage.RECORDS else None

    status = await until("RECORDS", in_records)
    assert "biopsy" in status.missing_items
    assert status.triage_flags, "the example case has advisory triage flags"

    code, out, err = await case_stack.caseflow("case", "status", case_id)
    assert code == 0, err
    assert "RECORDS" in out and "ADVISORY" in out and "biopsy" in out
    # The summary view never prints the patient's name.
    assert "Example-Patient" not in out


async def test_a_rejected_upload_stores_nothing(case_stack: CaseStack, seaweed, tmp_path):
    case_id = await start_example(case_stack)
    notes = tmp_path / "mri.txt"
    notes.write_text("a fictional note, not an image\n")
    code, _, err = await case_stack.caseflow(
        "case", "upload", case_id, str(notes), "--kind", "imaging_mri"
    )
    one_line(code, err, "imaging_mri")
    assert case_objects(seaweed, case_id) == []

    unknown = "b" * 26
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(fictional_pdf("scan"))
    code, _, err = await case_stack.caseflow(
        "case", "upload", unknown, str(scan), "--kind", "imaging_mri"
    )
    one_line(code, err, "no case")
    assert case_objects(seaweed, unknown) == []


async def test_unknown_hospital_in_intake_is_refused_before_start(case_stack: CaseStack, tmp_path):
    intake = json.loads((EXAMPLES / "intake.json").read_text())
    intake["destinations"]["hospital_ids"] = ["cn-nowhere"]
    path = tmp_path / "intake.json"
    path.write_text(json.dumps(intake))
    code, out, err = await case_stack.caseflow("case", "start", str(path))
    one_line(code, err, "destinations.hospital_ids.0", "unknown hospital")
    assert out == ""


async def test_hold_resume_assign_and_list_by_coordinator(case_stack: CaseStack):
    case_id = await start_example(case_stack)
    code, out, err = await case_stack.caseflow("case", "hold", case_id, "--reason", "travel")
    assert code == 0, err
    code, _, err = await case_stack.caseflow("case", "hold", case_id, "--reason", "again")
    one_line(code, err, "already on hold")
    status = await case_client.case_status(case_stack.client, case_id)
    assert status.on_hold
    code, _, err = await case_stack.caseflow("case", "resume", case_id)
    assert code == 0, err

    code, out, err = await case_stack.caseflow("case", "assign", case_id, "coord-9", "--json")
    assert code == 0, err
    assert json.loads(out)["case_id"] == case_id

    async def listed():
        rows = await case_client.list_cases(case_stack.client, coordinator_id="coord-9")
        return [r for r in rows if r.case_id == case_id]

    [row] = await until("the case under its new coordinator", listed)
    assert row.stage == "RECORDS"
    code, out, err = await case_stack.caseflow("case", "list", "--coordinator", "coord-9")
    assert code == 0 and case_id in out


async def test_withdraw_with_erase_removes_the_documents(case_stack: CaseStack, seaweed, tmp_path):
    case_id = await start_example(case_stack)
    scan = tmp_path / "labs.pdf"
    scan.write_bytes(fictional_pdf("labs"))
    code, _, err = await case_stack.caseflow("case", "upload", case_id, str(scan), "--kind", "labs")
    assert code == 0, err
    assert len(case_objects(seaweed, case_id)) == 1

    code, out, err = await case_stack.caseflow(
        "case", "withdraw", case_id, "--reason", "patient chose local care", "--erase", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["stage"] == "CLOSED"
    assert case_objects(seaweed, case_id) == []
    status = await case_client.case_status(case_stack.client, case_id)
    assert status.outcome is not None and status.outcome.value == "withdrawn"

    code, _, err = await case_stack.caseflow("case", "upload", case_id, str(scan), "--kind", "labs")
    one_line(code, err, "is closed")


async def test_hospital_to_follow_up_through_the_cli(case_stack: CaseStack, tmp_path):
    """respond (with documents), select, translation, travel, admit, discharge, follow-up."""
    from datetime import date, timedelta

    from coordinator.case_script import OTHER_HOSPITAL, SELECTED_HOSPITAL
    from coordinator.demo import DemoCase

    case = DemoCase(case_stack.client, case_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.review()
    await case.packets_stored()

    def write(name: str, data: dict) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return str(path)

    opinion = tmp_path / "opinion.pdf"
    opinion.write_bytes(fictional_pdf("opinion"))
    accept = write("accept.json", {"decision": "accept", "visa_invitation_possible": True})
    code, out, err = await case_stack.caseflow(
        "case",
        "respond",
        case_id,
        SELECTED_HOSPITAL,
        accept,
        "--document",
        f"{opinion}:hospital_opinion",
        "--json",
    )
    assert code == 0, err
    decline = write("decline.json", {"decision": "decline", "opinion": "no capacity"})
    code, _, err = await case_stack.caseflow("case", "respond", case_id, OTHER_HOSPITAL, decline)
    assert code == 0, err
    code, _, err = await case_stack.caseflow("case", "select", case_id, OTHER_HOSPITAL)
    one_line(code, err, "has not accepted")
    code, _, err = await case_stack.caseflow("case", "select", case_id, SELECTED_HOSPITAL)
    assert code == 0, err

    translated = tmp_path / "translated.pdf"
    translated.write_bytes(fictional_pdf("translated"))
    code, out, err = await case_stack.caseflow(
        "case", "translation", case_id, str(translated), "--language", "zh-CN", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["stage"] in ("TRANSLATION", "TRAVEL")

    await case.wait_until("travel to start", lambda p: p.travel_started)
    trip = date.today() - timedelta(days=400)
    visa = tmp_path / "visa.pdf"
    visa.write_bytes(fictional_pdf("visa letter"))
    code, _, err = await case_stack.caseflow(
        "case",
        "travel",
        case_id,
        write("visa.json", {"kind": "visa_letter_received", "on": trip.isoformat()}),
        "--document",
        f"{visa}:visa_letter",
    )
    assert code == 0, err
    code, _, err = await case_stack.caseflow(
        "case",
        "travel",
        case_id,
        write("early.json", {"kind": "arrived", "on": trip.isoformat()}),
    )
    one_line(code, err, "arrived before flights were booked")
    for kind, day in (("visa_granted", 5), ("flights_booked", 7), ("arrived", 19)):
        event = {"kind": kind, "on": (trip + timedelta(days=day)).isoformat()}
        code, _, err = await case_stack.caseflow(
            "case", "travel", case_id, write(f"{kind}.json", event)
        )
        assert code == 0, err

    await case.wait_for_stage(CaseStage.ADMISSION)
    code, _, err = await case_stack.caseflow(
        "case", "admit", case_id, "--on", (trip + timedelta(days=20)).isoformat()
    )
    assert code == 0, err
    code, _, err = await case_stack.caseflow(
        "case", "discharge", case_id, "--on", (trip + timedelta(days=34)).isoformat()
    )
    assert code == 0, err

    progress = await case.wait_until(
        "due follow-ups",
        lambda p: p.follow_ups_open and p.follow_ups_due == p.follow_ups_open,
    )
    for day in progress.follow_ups_due:
        code, _, err = await case_stack.caseflow(
            "case", "follow-up", case_id, "--day", str(day), "--status", "well"
        )
        assert code == 0, err
    result = await case.result()
    assert result.outcome.value == "completed"
    status = await case_client.case_status(case_stack.client, case_id)
    kinds = {d.kind.value for d in status.documents}
    assert {"hospital_opinion", "translation", "visa_letter"} <= kinds


async def test_consent_recorded_and_withdrawn_through_the_cli(case_stack: CaseStack):
    """The example intake has no travel consent for India: record it, withdraw it, and see both
    in the consent ledger the delivery gate reads and in the case's timeline."""
    case_id = await start_example(case_stack)
    scope = ["--country", "IN", "--purpose", "travel"]

    code, out, err = await case_stack.caseflow(
        "case", "consent", "record", case_id, *scope, "--by", "coord-demo", "--json"
    )
    assert code == 0, err
    assert "travel consent for any hospital in IN recorded" in json.loads(out)["detail"]
    ledger = await case_client.consent_ledger(case_stack.client, case_id)
    assert ledger.allows("IN", "in-chennai-proton", "travel")
    granted = ledger.events[-1]
    assert (granted.action, granted.country, granted.hospital_id, granted.recorded_by) == (
        "grant", "IN", None, "coord-demo"
    )

    code, _, err = await case_stack.caseflow("case", "consent", "record", case_id, *scope)
    one_line(code, err, "consent: travel consent for any hospital in IN is already in force")

    code, out, err = await case_stack.caseflow(
        "case", "consent", "withdraw", case_id, "--file",
        str(EXAMPLES / "consent_withdrawal_in.json"), "--purpose", "travel",
    )
    assert code == 0, err
    assert "withdrawn" in out
    ledger = await case_client.consent_ledger(case_stack.client, case_id)
    withdrawn = ledger.events[-1]
    assert (withdrawn.action, withdrawn.hospital_id, withdrawn.purpose) == (
        "withdraw", "in-chennai-proton", "travel"
    )
    assert not ledger.allows("IN", "in-chennai-proton", "travel")
    assert ledger.allows("IN", "in-mumbai-rlt", "travel")  # the country-wide grant still holds

    code, _, err = await case_stack.caseflow(
        "case", "consent", "withdraw", case_id, *scope, "--hospital", "in-chennai-proton"
    )
    one_line(code, err, "no travel consent for hospital in-chennai-proton in IN is in force")
    code, _, err = await case_stack.caseflow(
        "case", "consent", "withdraw", case_id, *scope, "--hospital", "in-nowhere"
    )
    one_line(code, err, "hospital_id: unknown hospital 'in-nowhere'")

    status = await case_client.case_status(case_stack.client, case_id)
    events = [(e.event, e.actor) for e in status.timeline if e.event.startswith("consent_")]
    assert events == [("consent_recorded", "coord-demo"), ("consent_withdrawn", "coord-demo")]
    assert len(ledger.events) == 6  # four from the intake, then exactly the two accepted


async def test_acknowledgement_is_shown_apart_from_delivery_and_answer(
    case_stack: CaseStack, tmp_path
):
    from coordinator.case_script import OTHER_HOSPITAL, SELECTED_HOSPITAL
    from coordinator.demo import DemoCase

    case = DemoCase(case_stack.client, case_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.review()
    # Both demo hospitals take their packet by hand: delivered when handed to the coordinator.
    await case.wait_until(
        "manual deliveries",
        lambda p: SELECTED_HOSPITAL in p.delivered,
    )

    code, _, err = await case_stack.caseflow("case", "acknowledge", case_id, "cn-nowhere")
    one_line(code, err, "hospital_id: no open referral to hospital cn-nowhere")

    code, out, err = await case_stack.caseflow(
        "case", "acknowledge", case_id, SELECTED_HOSPITAL,
        "--file", str(EXAMPLES / "hospital_acknowledgement.json"), "--json",
    )
    assert code == 0, err
    assert json.loads(out)["stage"] == "HOSPITAL_SUBMISSION"
    # A repeat succeeds and says so, changing nothing; a different reference is refused.
    code, out, err = await case_stack.caseflow("case", "acknowledge", case_id, SELECTED_HOSPITAL)
    assert code == 0, err
    assert out.startswith(f"already recorded: hospital {SELECTED_HOSPITAL} acknowledged"), out
    assert "nothing changed" in out
    code, out, err = await case_stack.caseflow(
        "case", "acknowledge", case_id, SELECTED_HOSPITAL,
        "--reference", "BJC-INTL-2027-0142", "--json",
    )
    assert code == 0, err
    assert json.loads(out)["replayed"] is True and "already recorded" in json.loads(out)["detail"]
    code, _, err = await case_stack.caseflow(
        "case", "acknowledge", case_id, SELECTED_HOSPITAL, "--reference", "BJC-OTHER-1"
    )
    one_line(code, err, "reference: ", "already acknowledged the packet with reference BJC-INTL")

    code, out, err = await case_stack.caseflow("case", "status", case_id, "--json")
    assert code == 0, err
    hospitals = {h["hospital_id"]: h for h in json.loads(out)["hospitals"]}
    acknowledged = hospitals[SELECTED_HOSPITAL]
    assert acknowledged["channel"] == "manual"
    assert acknowledged["delivered_at"] and acknowledged["acknowledged_at"]
    assert acknowledged["acknowledged_at"] >= acknowledged["delivered_at"]
    assert acknowledged["acknowledgement_reference"] == "BJC-INTL-2027-0142"
    assert acknowledged["responded_at"] is None
    assert hospitals[OTHER_HOSPITAL]["acknowledged_at"] is None
    timeline = [e for e in json.loads(out)["timeline"] if e["event"] == "hospital_acknowledged"]
    assert len(timeline) == 1  # the repeats recorded nothing

    # The table keeps delivery, acknowledgement and answer on their own lines.
    code, out, err = await case_stack.caseflow("case", "status", case_id)
    assert code == 0, err
    section = out[out.index(f"hospital {SELECTED_HOSPITAL}"):]
    section = section[: section.index(f"hospital {OTHER_HOSPITAL}")] if (
        f"hospital {OTHER_HOSPITAL}" in section
    ) else section
    lines = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in section.splitlines()
        if line.count("│") >= 3
    }
    assert "handed to the coordinator" in lines["delivered"]
    assert "BJC-INTL-2027-0142" in lines["acknowledged"]
    assert lines["answered"] == "-"
    assert lines["packet sha256"] == acknowledged["packet_sha256"][:12]
    assert lines["recipients"] == "coordinator:coord-demo"
    assert lines["endpoint disabled"] == "no" and lines["delivery blocked"] == "no"


async def test_status_and_list_show_the_hospitals_deadlines(case_stack: CaseStack, tmp_path):
    """During HOSPITAL_SUBMISSION the hospitals' acknowledgement and answer deadlines are open
    deadlines, and `case list` shows the earliest with what it waits for (SlaDueAt and
    SlaWaitsFor through real visibility)."""
    from datetime import timedelta

    from caseflow.case_status import CaseStatus, next_due
    from coordinator.case_commands import _when
    from coordinator.case_script import OTHER_HOSPITAL, SELECTED_HOSPITAL
    from coordinator.demo import DemoCase

    case = DemoCase(case_stack.client, case_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.review()
    hospitals = {SELECTED_HOSPITAL, OTHER_HOSPITAL}

    def waits(status: CaseStatus) -> set[str]:
        return {d.waits_for for d in status.open_deadlines if d.due_at is not None}

    everything = {f"{kind}:{h}" for kind in ("hospital_acknowledgement", "hospital_response")
                  for h in hospitals}
    await case.wait_for_status("the hospitals' deadlines", lambda s: waits(s) == everything)

    code, out, err = await case_stack.caseflow("case", "status", case_id, "--json")
    assert code == 0, err
    status = CaseStatus.model_validate_json(out)
    assert status.stage == CaseStage.HOSPITAL_SUBMISSION
    assert {d.hospital_id for d in status.open_deadlines} == hospitals
    first = next_due(status.open_deadlines)
    assert first is not None and first.wait == "hospital_acknowledgement"
    code, out, err = await case_stack.caseflow("case", "status", case_id, columns=200)
    assert code == 0, err
    table = out[out.index("open deadlines"):]
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in table.splitlines()
        if line.count("│") >= 6
    ]
    # waits for, started, level, next step, due
    shown = {(r[0], r[2], r[3]) for r in rows}
    assert {(w, "0", "remind") for w in everything} <= shown, rows

    async def listed(waits_for: str):
        rows = await case_client.list_cases(case_stack.client, stage=CaseStage.HOSPITAL_SUBMISSION)
        row = next((r for r in rows if r.case_id == case_id), None)
        return row if row is not None and row.sla_waits_for == waits_for else None

    row = await until("the earliest hospital wait in visibility", lambda: listed(first.waits_for))
    assert row.sla_due_at == first.due_at and first.due_at is not None
    code, out, err = await case_stack.caseflow(
        "case", "list", "--stage", "HOSPITAL_SUBMISSION", columns=250
    )
    assert code == 0, err
    [line] = [line for line in out.splitlines() if case_id in line]
    assert _when(first.due_at) in line and first.waits_for in line
    code, out, err = await case_stack.caseflow("case", "list", "--json")
    assert code == 0, err
    [listed_row] = [r for r in json.loads(out) if r["case_id"] == case_id]
    assert listed_row["sla_waits_for"] == first.waits_for and listed_row["sla_due_at"]

    # The Web UI's filters, as the README gives them.
    due_by = (first.due_at + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    query = (
        f'WorkflowId = "case-{case_id}" AND SlaWaitsFor STARTS_WITH "hospital_" '
        f'AND SlaDueAt < "{due_by}"'
    )
    assert [e.id async for e in case_stack.client.list_workflows(query)] == [f"case-{case_id}"]

    # That hospital acknowledges: the other's acknowledgement is due first now.
    assert first.hospital_id is not None
    code, _, err = await case_stack.caseflow("case", "acknowledge", case_id, first.hospital_id)
    assert code == 0, err
    (other,) = hospitals - {first.hospital_id}
    row = await until(
        "the next hospital wait in visibility",
        lambda: listed(f"hospital_acknowledgement:{other}"),
    )
    status = await case_client.case_status(case_stack.client, case_id)
    assert f"hospital_acknowledgement:{first.hospital_id}" not in waits(status)
    assert row.sla_due_at == next_due(status.open_deadlines).due_at  # type: ignore[union-attr]


def review_file(tmp_path: Path, hospitals: list[str]) -> str:
    path = tmp_path / "review.json"
    path.write_text(json.dumps({
        "outcome": "proceed",
        "reviewer_id": "specialist-demo",
        "modalities": ["bnct", "sbrt", "imrt_reirradiation"],
        "target_hospital_ids": hospitals,
    }))
    return str(path)


async def test_acks_show_the_stage_the_event_led_to_and_packets_land_per_hospital(
    case_stack: CaseStack, tmp_path
):
    """A review that proceeds is acknowledged in HOSPITAL_SUBMISSION (where the case goes), not
    SPECIALIST_REVIEW (where the handler found it); two hospitals' packets fetched to one
    directory keep their own files, and the command says what it wrote."""
    from coordinator.case_script import OTHER_HOSPITAL, SELECTED_HOSPITAL
    from coordinator.demo import DemoCase

    case = DemoCase(case_stack.client, case_stack.settings, tmp_path, say=lambda _: None)
    case_id = await case.start()
    await case.upload_records()
    await case.wait_for_stage(CaseStage.SPECIALIST_REVIEW)
    review = review_file(tmp_path, [SELECTED_HOSPITAL, OTHER_HOSPITAL])
    code, out, err = await case_stack.caseflow("case", "review", case_id, review, "--json")
    assert code == 0, err
    assert json.loads(out)["stage"] == "HOSPITAL_SUBMISSION"
    await case.packets_stored()

    out_dir = tmp_path / "packets"
    written: dict[str, list[str]] = {}
    for hospital_id in (SELECTED_HOSPITAL, OTHER_HOSPITAL):
        code, out, err = await case_stack.caseflow(
            "case", "packet", case_id, hospital_id, "--out", str(out_dir)
        )
        assert code == 0, err
        assert out.startswith(f"wrote {hospital_id}'s packet for case {case_id} to "
                              f"{out_dir / hospital_id}/"), out
        written[hospital_id] = sorted(p.name for p in (out_dir / hospital_id).iterdir())
        assert all(f"  {name}" in out for name in written[hospital_id])
    assert set(written[SELECTED_HOSPITAL]) == set(written[OTHER_HOSPITAL])  # same file names,
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(written)  # in their own folders
    manifests = {h: (out_dir / h / "manifest.json").read_bytes() for h in written
                 if (out_dir / h / "manifest.json").exists()}
    assert len(set(manifests.values())) == len(manifests)  # nothing overwritten
    code, out, err = await case_stack.caseflow(
        "case", "packet", case_id, OTHER_HOSPITAL, "--out", str(out_dir), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["directory"] == str(out_dir / OTHER_HOSPITAL)

    # The audit trail as one JSON document.
    code, out, err = await case_stack.caseflow("case", "audit", case_id, "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert isinstance(entries, list) and entries
    assert {"at", "action", "actor"} <= set(entries[0])


async def test_unknown_and_closed_cases_in_caseflow_words(case_stack: CaseStack, tmp_path):
    unknown = "c" * 26
    case_id = await start_example(case_stack)
    code, _, err = await case_stack.caseflow("case", "withdraw", case_id, "--reason", "test")
    assert code == 0, err
    event = tmp_path / "visa.json"
    event.write_text(json.dumps({"kind": "visa_granted", "on": "2027-01-01"}))
    commands = [
        ["status"], ["hold", "--reason", "x"], ["resume"], ["admit"], ["discharge"],
        ["waive", "organ_function", "--reason", "x"], ["select", "cn-beijing-cancer"],
        ["acknowledge", "cn-beijing-cancer"], ["assign", "coord-9"], ["travel", str(event)],
        ["consent", "record", "{id}", "--country", "IN", "--purpose", "travel"],
        ["packet", "cn-beijing-cancer", "--out", str(tmp_path)],
        ["withdraw", "--reason", "again"], ["erase", "--yes"],
    ]
    for which, expected in ((unknown, f"no case {unknown}"), (case_id, "closed")):
        for command in commands:
            args = [a.replace("{id}", which) for a in command]
            if "{id}" not in command:
                args = [args[0], which, *args[1:]] if args[0] != "consent" else args
            code, out, err = await case_stack.caseflow("case", *args)
            if which == case_id and args[0] in ("status", "erase"):
                continue  # a closed case still answers, and may be erased
            assert code != 0, (args, out)
            line = one_line(code, err)
            assert "workflow" not in line.lower() and "Temporal" not in line, (args, line)
            if args[0] != "packet" or which == unknown:
                assert expected in line or "no referral" in line, (args, line)
            code, out, err = await case_stack.caseflow("case", *args, "--json")
            assert code != 0 and out == ""
            assert set(json.loads(err)) == {"error"}, (args, err)


async def test_destinations_change_through_the_cli(case_stack: CaseStack):
    """Issue 12: the example goes to IN and CN; narrowing it to CN works once, a repeat says
    "already recorded", and a country caseflow does not serve is one line."""
    case_id = await start_example(case_stack)
    code, out, err = await case_stack.caseflow(
        "case", "destinations", case_id, "--countries", "cn", "--reason", "BNCT only", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["detail"].startswith("destinations CN; ")
    code, out, err = await case_stack.caseflow(
        "case", "destinations", case_id, "--countries", "CN", "--reason", "BNCT only"
    )
    assert code == 0, err
    assert "already recorded: destinations CN" in out
    code, _, err = await case_stack.caseflow(
        "case", "destinations", case_id, "--countries", "IN,US", "--reason", "x"
    )
    one_line(code, err, "countries.1")
    code, _, err = await case_stack.caseflow(
        "case", "translation-skip", case_id, "--reason", "not needed"
    )
    one_line(code, err, "skip_translation: case is in")
    status = await case_client.case_status(case_stack.client, case_id)
    assert any(e.event == "destinations_changed" and e.detail.startswith("IN,CN to CN")
               for e in status.timeline)
