"""Letters and mails name the coordinator's contact: the snapshot the case started with, carried
through continue-as-new, and replaced when the case is reassigned."""

import pydantic
import pytest

from caseflow.case_events import AddDocument, AssignCoordinator
from caseflow.case_status import CaseStage
from caseflow.contacts import CoordinatorContact
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from workflows.case import CaseWorkflow

from .cases import case_id_of, case_input, document, start_case, wait_for, wait_for_stage
from .drive import drive_to, proceed_review

WEBHOOK, EMAIL = "cn-xiamen-bnct", "in-chennai-proton"
DIRECTORY = HospitalDirectory.load_default()
ANA = CoordinatorContact(
    coordinator_id="coord-1", name="Ana Costa", email="ana@care.example.org",
    organisation="Cross-border Oncology Care",
)
BO = CoordinatorContact(
    coordinator_id="coord-2", name="Bo Li", email="bo.li@care.example.org",
    phone="+86 592 555 0100", organisation="Cross-border Oncology Care",
)


def delivered(status) -> bool:
    return all(h.delivered_at is not None for h in status.hospitals)


async def test_a_reassigned_case_sends_later_packets_with_the_new_contact(env, worker, recorded):
    input = case_input(
        hospitals=DIRECTORY.subset([WEBHOOK, EMAIL]).hospitals,
        coordinator_contact=ANA,
        continue_as_new_after_events=100,
    )
    handle = await start_case(env, input)
    case_id = case_id_of(handle)
    await wait_for_stage(handle, CaseStage.RECORDS)
    await handle.execute_update(
        CaseWorkflow.assign_coordinator, AssignCoordinator(coordinator_id="coord-2", contact=BO)
    )
    # The new contact survives continue-as-new (the state carries it, not the input).
    for index in range(30):
        await handle.execute_update(
            CaseWorkflow.add_document,
            AddDocument(ref=document(case_id, DocumentKind.OTHER, salt=str(index))),
        )
    await wait_for(handle, lambda s: s.run_count >= 2)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([WEBHOOK, EMAIL]))
    await wait_for(handle, delivered)

    packets = recorded.of(case_id, "render_referral_packet")
    assert {p.hospital.hospital_id for p in packets} == {WEBHOOK, EMAIL}
    assert all(p.coordinator_contact == BO and p.coordinator_id == "coord-2" for p in packets)
    sent = {r.notice.hospital_id: r.notice for r in recorded.sent(case_id)}
    assert set(sent) == {WEBHOOK, EMAIL}
    assert all(notice.contact == BO for notice in sent.values())


async def test_a_reassignment_without_a_contact_drops_the_previous_one(env, worker, recorded):
    input = case_input(
        hospitals=DIRECTORY.subset([WEBHOOK]).hospitals, coordinator_contact=ANA
    )
    handle = await start_case(env, input)
    case_id = case_id_of(handle)
    await wait_for_stage(handle, CaseStage.RECORDS)
    await handle.execute_update(
        CaseWorkflow.assign_coordinator, AssignCoordinator(coordinator_id="coord-3")
    )
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([WEBHOOK]))
    await wait_for(handle, delivered)
    [packet] = recorded.of(case_id, "render_referral_packet")
    # Ana no longer handles the case: the letter names coord-3's id rather than her.
    assert packet.coordinator_contact is None and packet.coordinator_id == "coord-3"
    [sent] = recorded.sent(case_id)
    assert sent.notice.contact is None


async def test_the_started_contact_reaches_the_packet(env, worker, recorded):
    input = case_input(hospitals=DIRECTORY.subset([EMAIL]).hospitals, coordinator_contact=ANA)
    handle = await start_case(env, input)
    await drive_to(env, handle, CaseStage.SPECIALIST_REVIEW)
    await handle.execute_update(CaseWorkflow.submit_review, proceed_review([EMAIL]))
    await wait_for(handle, delivered)
    [packet] = recorded.of(input.case_id, "render_referral_packet")
    assert packet.coordinator_contact == ANA
    [sent] = recorded.sent(input.case_id)
    assert sent.notice.contact == ANA


def test_a_contact_must_be_the_named_coordinators():
    with pytest.raises(pydantic.ValidationError, match="contact: is another coordinator's"):
        AssignCoordinator(coordinator_id="coord-3", contact=BO)
    with pytest.raises(pydantic.ValidationError, match="not the intake coordinator's"):
        case_input(coordinator_contact=BO)  # the intake's coordinator is coord-1
