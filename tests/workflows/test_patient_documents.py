"""The portal's quarantine: a patient's upload waits outside the checklist until a coordinator
accepts it (onto an item, taking that item's kind) or rejects it with a reason."""

import pytest
from temporalio.client import WorkflowUpdateFailedError

from caseflow.case_events import AcceptPatientDocument, AddPatientDocument, RejectPatientDocument
from caseflow.case_status import CaseStage
from caseflow.documents import DocumentKind
from workflows.case import CaseWorkflow

from .cases import case_id_of, document, start_case, status, wait_for_stage


async def test_a_patient_upload_waits_until_accepted_onto_the_checklist(env, worker):
    handle = await start_case(env)
    await wait_for_stage(handle, CaseStage.RECORDS)
    ref = document(case_id_of(handle), DocumentKind.OTHER, salt="portal")
    ack = await handle.execute_update(
        CaseWorkflow.add_patient_document, AddPatientDocument(ref=ref)
    )
    assert "awaits a coordinator" in ack.detail
    held = await status(handle)
    assert [d.document_id for d in held.quarantined] == [ref.document_id]
    assert ref.document_id not in [d.document_id for d in held.documents]
    assert "biopsy" in held.missing_items
    # The same upload again (a retried completion) changes nothing.
    await handle.execute_update(CaseWorkflow.add_patient_document, AddPatientDocument(ref=ref))

    ack = await handle.execute_update(
        CaseWorkflow.accept_patient_document,
        AcceptPatientDocument(document_id=ref.document_id, item_id="biopsy", accepted_by="coord-a"),
    )
    assert ack.detail == "satisfies biopsy"
    after = await status(handle)
    assert after.quarantined == []
    (accepted,) = [d for d in after.documents if d.document_id == ref.document_id]
    assert accepted.kind == DocumentKind.BIOPSY_REPORT and accepted.sha256 == ref.sha256
    assert "biopsy" not in after.missing_items
    biopsy = next(item for item in after.checklist if item.item_id == "biopsy")
    assert biopsy.satisfied_by == [ref.document_id]
    assert ("patient_document_accepted", "coord-a") in [(e.event, e.actor) for e in after.timeline]
    # Accepting again is answered, not refused (a double click).
    again = await handle.execute_update(
        CaseWorkflow.accept_patient_document, AcceptPatientDocument(document_id=ref.document_id)
    )
    assert "already in the case" in again.detail


async def test_a_rejected_upload_leaves_the_case_and_cannot_come_back(env, worker):
    handle = await start_case(env)
    await wait_for_stage(handle, CaseStage.RECORDS)
    ref = document(case_id_of(handle), DocumentKind.IMAGING_MRI, salt="portal")
    await handle.execute_update(CaseWorkflow.add_patient_document, AddPatientDocument(ref=ref))
    await handle.execute_update(
        CaseWorkflow.reject_patient_document,
        RejectPatientDocument(document_id=ref.document_id, reason="another person's scan"),
    )
    after = await status(handle)
    assert after.quarantined == [] and ref.document_id not in [
        d.document_id for d in after.documents
    ]
    assert "imaging" in after.missing_items
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(CaseWorkflow.add_patient_document, AddPatientDocument(ref=ref))
    assert "was rejected" in str(refused.value.cause)


async def test_decisions_on_unknown_documents_and_unsuitable_items_are_refused(env, worker):
    handle = await start_case(env)
    await wait_for_stage(handle, CaseStage.RECORDS)
    case_id = case_id_of(handle)
    stray = document(case_id, DocumentKind.OTHER, salt="never uploaded")
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CaseWorkflow.accept_patient_document,
            AcceptPatientDocument(document_id=stray.document_id),
        )
    assert "is not awaiting a decision" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CaseWorkflow.reject_patient_document,
            RejectPatientDocument(document_id=stray.document_id, reason="x"),
        )
    assert "is not awaiting a decision" in str(refused.value.cause)
    text = document(case_id, DocumentKind.OTHER, salt="text").model_copy(
        update={"content_type": "text/plain"}
    )
    await handle.execute_update(CaseWorkflow.add_patient_document, AddPatientDocument(ref=text))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CaseWorkflow.accept_patient_document,
            AcceptPatientDocument(document_id=text.document_id, item_id="imaging"),
        )
    assert "accepts no document of type text/plain" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            CaseWorkflow.accept_patient_document,
            AcceptPatientDocument(document_id=text.document_id, item_id="no_such_item"),
        )
    assert "unknown checklist item" in str(refused.value.cause)
