"""How each kind of workflow step runs its activity: timeouts close to the real work, a heartbeat
so a dead worker's attempt is retried within seconds, and how long infrastructure errors are
retried before the step is parked for retry_step or skip_step. The one owner of these policies.

The patience (how long a person would wait) comes from settings through the case's input
(StepPatience, built by client/step_retry.py); the rest is fixed by what each activity does.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from temporalio.common import RetryPolicy

# Error types that mean the step can never succeed as asked (activities/failures.py raises them
# non-retryable as well; naming them here keeps old activities, which did not, from retrying).
REAL_FAILURES = [
    "ValidationError",
    "InvalidInput",
    "ConsentMissing",
    "StepFailed",
    "EndpointGone",
    "DeliveryRejected",
    "EndpointNotConfigured",
    "LetterMissing",
]


class StepKind(StrEnum):
    """What a step's activity waits on, which decides its timeouts and its patience."""

    PACKET = "packet"  # rendering and storing a packet: S3 and the PDF renderer
    STORAGE = "storage"  # other S3 work (translation manifests, erasure)
    WEBHOOK = "webhook"  # a hospital's endpoint
    EMAIL = "email"  # a hospital's mail, through the relay
    MAIL = "mail"  # caseflow's own mail (translation jobs, patients)


# Activity name -> kind, for every activity a workflow runs as a step (SlaWatch.run_step).
STEP_KINDS: dict[str, StepKind] = {
    "render_referral_packet": StepKind.PACKET,
    "store_translation_packet": StepKind.STORAGE,
    "erase_case_documents": StepKind.STORAGE,
    "deliver_packet_webhook": StepKind.WEBHOOK,
    "deliver_packet_email": StepKind.EMAIL,
    "send_translation_job": StepKind.MAIL,
    "send_inquiry_declined": StepKind.MAIL,
}


@dataclass(frozen=True)
class KindTimeouts:
    # One attempt's longest honest run; the heartbeat catches a dead worker much sooner.
    start_to_close: timedelta
    heartbeat: timedelta


# Activities heartbeat every second (activities/failures.py), so a few seconds of silence means
# the worker is gone. Start-to-close: the webhook's HTTP timeout is 15 s, an SMTP hand-off 30 s,
# a packet's render and puts a few seconds (its documents are links, not copies).
KIND_TIMEOUTS: dict[StepKind, KindTimeouts] = {
    StepKind.PACKET: KindTimeouts(timedelta(minutes=2), timedelta(seconds=5)),
    StepKind.STORAGE: KindTimeouts(timedelta(minutes=10), timedelta(seconds=5)),
    StepKind.WEBHOOK: KindTimeouts(timedelta(seconds=30), timedelta(seconds=5)),
    StepKind.EMAIL: KindTimeouts(timedelta(seconds=60), timedelta(seconds=5)),
    StepKind.MAIL: KindTimeouts(timedelta(seconds=60), timedelta(seconds=5)),
}


class StepPatience(BaseModel):
    """How long each kind of step retries infrastructure errors (S3 or an endpoint unreachable,
    5xx, timeouts, the relay down) before it is parked; from settings (client/step_retry.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by_kind: dict[StepKind, timedelta] = Field(default_factory=dict)
    default: timedelta = timedelta(hours=4)
    initial_interval: timedelta = timedelta(seconds=1)
    maximum_interval: timedelta = timedelta(minutes=5)

    def options(self, activity_name: str) -> "StepOptions":
        kind = STEP_KINDS.get(activity_name, StepKind.STORAGE)
        timeouts = KIND_TIMEOUTS[kind]
        return StepOptions(
            start_to_close=timeouts.start_to_close,
            heartbeat=timeouts.heartbeat,
            patience=self.by_kind.get(kind, self.default),
            retry_policy=RetryPolicy(
                initial_interval=self.initial_interval,
                backoff_coefficient=2.0,
                maximum_interval=self.maximum_interval,
                maximum_attempts=0,  # unlimited: the patience (schedule-to-close) bounds it
                non_retryable_error_types=REAL_FAILURES,
            ),
        )


@dataclass(frozen=True)
class StepOptions:
    start_to_close: timedelta
    heartbeat: timedelta
    patience: timedelta
    retry_policy: RetryPolicy
