"""caseflow's activity counters, on the SDK's metric meter (one Prometheus endpoint per worker):
every delivery by outcome, and how long each letter takes to render and store. A worker
interceptor, so no activity measures itself."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

DELIVERIES = {"deliver_packet_webhook": "webhook", "deliver_packet_email": "email"}
RENDERS = {"render_referral_packet"}


class CaseflowActivityMetrics(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Measured(next)


class _Measured(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        if name not in DELIVERIES and name not in RENDERS:
            return await self.next.execute_activity(input)
        meter = activity.metric_meter()
        started = time.monotonic()
        outcome = "delivered"
        try:
            return await self.next.execute_activity(input)
        except ApplicationError as error:
            outcome = error.type or "failed"
            raise
        except BaseException as error:
            outcome = type(error).__name__
            raise
        finally:
            if name in DELIVERIES:
                meter.create_counter(
                    "caseflow_deliveries", "Packet delivery attempts by channel and outcome"
                ).add(1, {"channel": DELIVERIES[name], "outcome": outcome})
            else:
                meter.create_histogram_timedelta(
                    "caseflow_letter_render", "Time to render and store a referral packet",
                    unit="ms",
                ).record(timedelta(seconds=time.monotonic() - started),
                         {"outcome": "stored" if outcome == "delivered" else outcome})
