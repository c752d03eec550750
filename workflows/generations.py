"""Which patched behaviours a run takes, without a marker per patch for runs started by this code.

A `workflow.patched` call records a marker in every run that takes the new path: sixteen events a
case (issue 14). A run started by this code instead carries its code generation in its input (the
client sets it), and takes every patch of that generation or older outright: the input is in
the history, so its replay decides the same way. Runs started before generations existed
(generation None), and patches newer than a run's generation, ask `workflow.patched` as their
histories expect.

A new patch goes into a new generation, and CURRENT_GENERATION moves to it, in the same change.
"""

from temporalio import workflow

GENERATIONS: tuple[frozenset[str], ...] = (
    # Generation 1: every patch written before generations existed, and the one SLA clock.
    frozenset(
        {
            "referral-status-owned-by-child",
            "patient-notices",
            "review-consent-withdrawn",
            "translation-by-language",
            "next-option-after-first-fails",
            "sla-waits-for-search-attribute",
            "coalesced-search-attribute-upserts",
            "packet-delivery-channels",
            "hospital-acknowledgement-sla",
            "referral-reports-every-answer-and-acknowledgement",
            "referral-reports-its-deadlines",
            "referral-batched-reports",
            "steps-retry-infrastructure-errors-patiently",
            "one-sla-clock",
        }
    ),
    # Generation 2: update acks name the stage after the run reacted (issue 14, cheap polling).
    frozenset({"settled-update-acks"}),
    # Generation 3: the case shows a hospital's answer and acknowledgement at once, without
    # waiting for its referral to report them back (issue 14, update p99).
    frozenset({"hospital-answers-shown-at-once"}),
    # Generation 4: a review's referrals start together (issue 14: one workflow task fewer).
    frozenset({"referrals-started-together"}),
)
# What clients put into the workflows they start.
CURRENT_GENERATION = len(GENERATIONS)


def takes(patch_id: str, generation: int | None) -> bool:
    """Whether this run takes the behaviour `patch_id` introduced (see the module docstring)."""
    if generation is not None and any(patch_id in g for g in GENERATIONS[:generation]):
        return True
    return workflow.patched(patch_id)
