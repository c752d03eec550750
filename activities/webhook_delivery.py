"""Packet delivery by signed webhook, per Standard Webhooks (standardwebhooks.com): webhook-id is
the packet id on every attempt, so the hospital can drop duplicates; the signature is
`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the endpoint's `whsec_` secret.

Secrets never travel in Temporal payloads: the request names an endpoint, and the activity
class holds the endpoint-id -> secret mapping loaded from settings.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditAction, AuditTrail, activity_event
from activities.consent_gate import ConsentGate
from activities.failures import step_activity
from activities.payloads import WebhookDeliveryRequest, WebhookReceipt
from caseflow.webhook_signature import parse_secret, sign

if TYPE_CHECKING:
    # Workflows import this module, and through them the web service and the CLI, which never
    # deliver: httpx (and the CLI libraries it pulls in) loads only where a delivery is made.
    import httpx


def retry_after(value: str | None, now: float, limit: timedelta) -> timedelta | None:
    """Retry-After as delta-seconds or an HTTP-date, capped at `limit`; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = max(timedelta(0), when - datetime.fromtimestamp(now, UTC))
    return min(delay, limit)


class WebhookDelivery:
    """Holds the HTTP client and the endpoint secrets; its activity sends one packet notice."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint_secrets: Mapping[str, str | SecretStr],
        consent_gate: ConsentGate,
        *,
        backoff_base: timedelta = timedelta(seconds=10),
        backoff_cap: timedelta = timedelta(hours=1),
        retry_after_limit: timedelta = timedelta(hours=6),
        clock: Callable[[], float] = time.time,
        audit: AuditTrail | None = None,
    ) -> None:
        self._http = http
        self._keys: dict[str, bytes] = {}
        for endpoint_id, secret in endpoint_secrets.items():
            raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            try:
                self._keys[endpoint_id] = parse_secret(raw)
            except ValueError as err:
                raise ValueError(f"webhook secret for endpoint {endpoint_id!r}: {err}") from None
        self._consent = consent_gate
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retry_after_limit = retry_after_limit
        self._clock = clock
        self._audit = audit

    def _backoff(self, attempt: int) -> timedelta:
        # "Equal jitter": half the exponential step fixed, half random, so parallel deliveries
        # to a recovering hospital spread out but never retry immediately.
        step = min(self._backoff_cap, self._backoff_base * 2 ** max(0, attempt - 1))
        return step * (0.5 + random.random() / 2)

    def _retryable(self, message: str, attempt: int, after: timedelta | None) -> ApplicationError:
        return ApplicationError(
            message,
            type="EndpointUnavailable",
            next_retry_delay=after if after is not None else self._backoff(attempt),
        )

    @activity.defn(name="deliver_packet_webhook")
    @step_activity
    async def deliver_packet_webhook(self, request: WebhookDeliveryRequest) -> WebhookReceipt:
        attempt = activity.info().attempt
        # First, on every attempt: nothing leaves without consent in force now.
        await self._consent.check(request.consent)
        key = self._keys.get(request.endpoint_id)
        if key is None:
            raise ApplicationError(
                f"no webhook secret configured for endpoint {request.endpoint_id}",
                type="EndpointNotConfigured",
                non_retryable=True,
            )
        body = request.body()
        now = self._clock()
        timestamp = int(now)
        headers = {
            "content-type": "application/json",
            "webhook-id": request.packet_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, request.packet_id, timestamp, body),
        }
        import httpx

        try:
            response = await self._http.post(request.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise self._retryable(
                f"endpoint {request.endpoint_id} timed out", attempt, None
            ) from None
        except httpx.TransportError as err:
            raise self._retryable(
                f"endpoint {request.endpoint_id} unreachable: {type(err).__name__}", attempt, None
            ) from None

        status = response.status_code
        where = f"endpoint {request.endpoint_id} answered {status}"
        activity.logger.info(
            "webhook %s attempt %d: %d", request.packet_id, attempt, status
        )
        if 200 <= status < 300:
            if self._audit is not None:
                # After the send: a failed write retries the attempt with the same webhook-id.
                event = activity_event(
                    case_id=request.notice.case_id,
                    action=AuditAction.PACKET_DELIVERED,
                    hospital_id=request.notice.hospital_id,
                    subject=request.packet_id,
                    detail={"channel": "webhook", "status": status, "attempt": attempt,
                            "documents": len(request.notice.documents)},
                )
                await asyncio.to_thread(self._audit.record, event)
            return WebhookReceipt(
                packet_id=request.packet_id,
                endpoint_id=request.endpoint_id,
                status_code=status,
                attempt=attempt,
                sent_at=datetime.fromtimestamp(now, UTC),
            )
        if status == 410:
            raise ApplicationError(where, type="EndpointGone", non_retryable=True)
        if status in (408, 429) or status >= 500:
            after = retry_after(
                response.headers.get("retry-after"), self._clock(), self._retry_after_limit
            )
            raise self._retryable(where, attempt, after)
        # Other 4xx, and 3xx: redirects are not followed with signed links to another host.
        raise ApplicationError(where, type="DeliveryRejected", non_retryable=True)
