"""A stand-in for a case started before SETTLED_ACKS_PATCH, for the client's fallback test. Its
own module, so the workflow sandbox imports nothing but it."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from caseflow.case_events import AddDocument
    from caseflow.case_status import CaseProgress, CaseStage, EventAck


@workflow.defn(name="CaseWorkflow")
class CaseBeforeSettledAcks:
    """Stands in for a case started before SETTLED_ACKS_PATCH: its ack names the stage before
    the run reacted (the run here moves on right after answering)."""

    def __init__(self) -> None:
        self._stage = CaseStage.RECORDS

    @workflow.run
    async def run(self, case_id: str) -> None:
        await workflow.wait_condition(lambda: self._stage == CaseStage.CLOSED)

    @workflow.update
    def add_document(self, event: AddDocument) -> EventAck:
        ack = EventAck(case_id=event.ref.case_id, stage=self._stage)
        self._stage = CaseStage.SPECIALIST_REVIEW
        return ack

    @workflow.query
    def progress(self) -> CaseProgress:
        return CaseProgress(stage=self._stage)

    @workflow.signal
    def close(self) -> None:
        self._stage = CaseStage.CLOSED
