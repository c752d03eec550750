"""The consent check a delivery activity makes on every attempt, before it sends anything.

Temporal retries an activity with its original input, so a ledger passed in the input is the
state at scheduling time. A withdrawal recorded between attempts must still stop the retry
[docs/sources.md, "Consent and erasure": "check it before every delivery, retries included"], so
the gate also asks the workflow that owns the ledger (query `consent_ledger`) on each attempt.
"""

from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.payloads import CONSENT_LEDGER_QUERY, DeliveryConsent
from caseflow.consent import ConsentLedger, ConsentMissing


class ConsentGate:
    """Holds the Temporal client used to read the live ledger."""

    def __init__(self, client: Client | None = None) -> None:
        self._client = client

    async def check(self, consent: DeliveryConsent) -> None:
        """Raise a non-retryable ApplicationError "ConsentMissing" unless consent is in force,
        both in the snapshot and in the live ledger; "ConsentUnavailable" (retryable) when the
        live ledger cannot be read, because sending without knowing is not allowed."""
        self._require(consent.ledger, consent)
        if consent.ledger_workflow_id is None:
            return
        if self._client is None:
            raise ApplicationError(
                "consent ledger unavailable: the worker has no Temporal client for the gate",
                type="ConsentUnavailable",
            )
        try:
            live = await self._client.get_workflow_handle(consent.ledger_workflow_id).query(
                CONSENT_LEDGER_QUERY, result_type=ConsentLedger
            )
        except Exception as err:
            raise ApplicationError(
                f"consent ledger unavailable from {consent.ledger_workflow_id}: "
                f"{type(err).__name__}",
                type="ConsentUnavailable",
            ) from None
        self._require(live, consent)

    @staticmethod
    def _require(ledger: ConsentLedger, consent: DeliveryConsent) -> None:
        try:
            ledger.check(consent.country, consent.hospital_id, consent.purpose)
        except ConsentMissing as missing:
            raise ApplicationError(
                str(missing), type="ConsentMissing", non_retryable=True
            ) from None
