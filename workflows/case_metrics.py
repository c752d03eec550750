"""caseflow's own counters from inside workflows, on the SDK's metric meter, so they reach the
worker's Prometheus endpoint beside the SDK's metrics. The SDK skips them while replaying, so a
replayed history counts nothing twice. Opaque labels only: stages and SLA waits, never a case."""

from temporalio import workflow


def count_stage_entered(stage: str) -> None:
    workflow.metric_meter().create_counter(
        "caseflow_case_stage_entered", "Cases entering each stage"
    ).add(1, {"stage": stage})


def count_escalation(wait: str, level: int) -> None:
    workflow.metric_meter().create_counter(
        "caseflow_escalations", "SLA escalation steps that fell due"
    ).add(1, {"wait": wait, "level": str(level)})
