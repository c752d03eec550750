"""What a case shows of itself: its search attributes, the Web UI's current details and the
`status` query's answer, all projected from CaseState. Workflow-side (it upserts search
attributes), but decides nothing."""

from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

from workflows.generations import takes

with workflow.unsafe.imports_passed_through():
    from caseflow import search_attributes as sa
    from caseflow.case_status import (
        CaseProgress,
        CaseStage,
        CaseStatus,
        ChecklistEntry,
        Deadline,
        HospitalReferralStatus,
        TrialReferralView,
        next_due,
    )
    from caseflow.ids import case_workflow_id
    from workflows.case_state import CaseState, CaseWorkflowInput
    from workflows.upserts import CoalescedUpserts


# Cases started before SlaWaitsFor existed upserted nothing when only what the earliest wait is
# for changed (two waits due at once, one ended); replaying them must not upsert it either.
WAITS_FOR_PATCH = "sla-waits-for-search-attribute"
# Lean histories (issue 14): one search-attribute upsert per workflow task, of what changed over
# the whole task, instead of one per publish. Cases started before it upsert as they did.
COALESCED_UPSERTS_PATCH = "coalesced-search-attribute-upserts"



def escalation_level(own_level: int, referrals: Iterable[HospitalReferralStatus]) -> int:
    """The case's level: its own open waits' and its open referrals'. `status` and the
    EscalationLevel search attribute both show this one."""
    return max([own_level] + [r.escalation_level for r in referrals if not r.final])


def open_deadlines(s: CaseState) -> list[Deadline]:
    """Every wait still open: the case's own, then each open referral's (labelled with its
    hospital), as the children last reported them."""
    return list(s.deadlines.values()) + [
        d for r in s.referrals.values() if not r.final for d in r.open_deadlines
    ]


class CaseView:
    def __init__(self, input: CaseWorkflowInput) -> None:
        self._case_id = input.case_id
        self._intake = input.intake
        self._generation = input.generation
        self._published: dict[str, object] = {}
        self._upserts: CoalescedUpserts | None = None

    def flush(self) -> None:
        """Send what this workflow task changed now: before the run returns or continues."""
        if self._upserts is not None:
            self._upserts.flush()

    def publish(self, s: CaseState, level: int) -> None:
        """Mirror the case in search attributes (only what changed, in one upsert) and the UI's
        details. SlaDueAt and SlaWaitsFor name the earliest wait, the hospitals' included."""
        intake = self._intake
        first = next_due(open_deadlines(s))
        due = first.due_at if first else None
        hospitals = list(s.referrals) or list(intake.destinations.hospital_ids)
        wanted: dict[str, object] = {
            sa.CASE_STAGE.name: s.stage.value,
            sa.PATHWAY.name: intake.pathway,
            sa.DESTINATION_COUNTRIES.name: list(
                s.destination_countries or intake.destinations.countries
            ),
            sa.HOSPITALS.name: hospitals,
            sa.ESCALATED.name: level >= 2,
            sa.ESCALATION_LEVEL.name: level,
            sa.SLA_DUE_AT.name: due,
            sa.COORDINATOR_ID.name: s.coordinator_id,
            sa.STAGE_ENTERED_AT.name: s.stage_entered_at,
        }
        if takes(WAITS_FOR_PATCH, self._generation):
            wanted[sa.SLA_WAITS_FOR.name] = first.waits_for if first else None
        keys = {key.name: key for key in sa.ALL}
        if self._upserts is None and takes(COALESCED_UPSERTS_PATCH, self._generation):
            self._upserts = CoalescedUpserts()
        if self._upserts is not None:
            self._upserts.set({name: (keys[name], value) for name, value in wanted.items()})
            self._details(s, level, first, due)
            return
        updates = []
        for name, value in wanted.items():
            if name in self._published and self._published[name] == value:
                continue
            key = keys[name]
            empty = value is None or value == []
            updates.append(key.value_unset() if empty else key.value_set(value))  # type: ignore[arg-type]
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = wanted
        self._details(s, level, first, due)

    def _details(self, s: CaseState, level: int, first: Deadline | None, due) -> None:
        details = [f"**{s.stage.value}**"]
        if s.stage == CaseStage.RECORDS:
            details.append(f"{len(s.checklist.missing())} checklist item(s) missing")
        if s.on_hold:
            details.append("on hold")
        if level:
            details.append(f"escalation level {level}")
        if first and due:
            details.append(
                f"next SLA step due {due.isoformat(timespec='minutes')} ({first.waits_for})"
            )
        workflow.set_current_details(" · ".join(details))

    def progress(self, s: CaseState, level: int) -> CaseProgress:
        """What pollers wait for, read from the same state as `status` (its fields of the same
        names, and the referrals' packet, delivery and answer), so the two never disagree."""
        referrals = list(s.referrals.values())
        return CaseProgress(
            stage=s.stage,
            outcome=s.outcome,
            on_hold=s.on_hold,
            escalation_level=level,
            missing_items=[i.item_id for i in s.checklist.missing()],
            packets_stored=[r.hospital_id for r in referrals if r.packet_prefix],
            delivered=[r.hospital_id for r in referrals if r.delivered_at],
            answered=[r.hospital_id for r in referrals if r.response is not None],
            travel_started=s.travel is not None,
            follow_ups_due=[f.day for f in s.follow_ups if f.status == "due"],
            follow_ups_open=[f.day for f in s.follow_ups if f.status != "recorded"],
            failed_steps=[f.step_id for f in s.failed_steps.values()],
        )

    def status(self, s: CaseState, level: int, now: datetime) -> CaseStatus:
        return CaseStatus(
            case_id=self._case_id,
            workflow_id=case_workflow_id(self._case_id),
            pathway=self._intake.pathway,
            stage=s.stage,
            stage_entered_at=s.stage_entered_at,
            time_in_stage=now - s.stage_entered_at,
            outcome=s.outcome,
            coordinator_id=s.coordinator_id,
            on_hold=s.on_hold,
            hold_reason=s.hold_reason,
            withdrawal_reason=s.withdrawal.reason if s.withdrawal else None,
            checklist=[
                ChecklistEntry(
                    item_id=i.item_id,
                    title=i.title,
                    accepts=list(i.accepts),
                    reason=i.reason,
                    source=i.source,
                    satisfied_by=list(i.satisfied_by),
                    waived_reason=i.waived_reason,
                    missing=not i.done,
                )
                for i in s.checklist.items
            ],
            missing_items=[i.item_id for i in s.checklist.missing()],
            triage_flags=s.triage_flags,
            documents=list(s.documents.values()),
            quarantined=list(s.quarantined.values()),
            review_outcome=s.review.outcome if s.review else None,
            target_hospital_ids=list(s.review.target_hospital_ids) if s.review else [],
            hospitals=list(s.referrals.values()),
            selected_hospital_id=s.selected_hospital_id,
            travel=s.travel,
            admitted_on=s.admitted_on,
            discharged_on=s.discharged_on,
            follow_ups=s.follow_ups,
            open_deadlines=open_deadlines(s),
            escalations=s.escalations,
            escalation_level=level,
            failed_steps=list(s.failed_steps.values()),
            timeline=s.timeline,
            run_count=s.run_count,
            next_option_why=s.next_option_why,
            closed_reason=s.closed_reason,
            trials=[
                TrialReferralView(
                    site_id=site_id, registry=t.registry, study_id=t.study_id, title=t.title
                )
                for site_id, t in s.trial_targets.items()
            ],
        )
