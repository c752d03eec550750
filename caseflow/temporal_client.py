"""Connecting to Temporal: the embedded dev server, a cluster, or Temporal Cloud, by settings alone.

Client-side plumbing; workflows never import it.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from caseflow.settings import CaseflowSettings


def data_converter(settings: CaseflowSettings) -> DataConverter:
    """The converter settings decide: encrypted payloads (the default) or plain pydantic."""
    if not settings.encrypt_payloads:
        return pydantic_data_converter
    from caseflow.keyring import load_keyring
    from caseflow.payload_codec import EncryptionCodec, encrypted_data_converter

    return encrypted_data_converter(EncryptionCodec(load_keyring(settings)))


async def connect(settings: CaseflowSettings) -> Client:
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        # Temporal Cloud API keys require TLS; a self-hosted cluster may use TLS without a key.
        tls=settings.temporal_tls or api_key is not None,
        api_key=api_key,
    )
