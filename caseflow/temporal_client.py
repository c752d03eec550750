"""Connecting to Temporal: the embedded dev server, a cluster, or Temporal Cloud, by settings alone.

Client-side plumbing; workflows never import it.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from caseflow.settings import CaseflowSettings


async def connect(settings: CaseflowSettings) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        # Temporal Cloud API keys require TLS; a self-hosted cluster may use TLS without a key.
        tls=settings.temporal_tls or api_key is not None,
        api_key=api_key,
    )
