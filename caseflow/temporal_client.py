"""Connecting to Temporal: the embedded dev server, a cluster, or Temporal Cloud, by settings alone.

Client-side plumbing; workflows never import it.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from caseflow.settings import CaseflowSettings


def data_converter(settings: CaseflowSettings) -> DataConverter:
    """The converter settings decide: encrypted payloads (the default) or plain pydantic."""
    if not settings.encrypt_payloads:
        return pydantic_data_converter
    from caseflow.keyring import load_keyring
    from caseflow.payload_codec import EncryptionCodec, encrypted_data_converter

    return encrypted_data_converter(EncryptionCodec(load_keyring(settings)))


def _pem(setting: str, path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.expanduser().read_bytes()
    except OSError as error:
        raise ValueError(f"{setting}: cannot read {path} ({error.strerror or 'error'})") from None


def tls_config(settings: CaseflowSettings) -> TLSConfig | bool:
    """What the client's TLS is: mTLS with the configured certificate, key and CA; TLS on the
    system's CA store (temporal_tls, or an API key, which Temporal Cloud accepts only over
    TLS); or off, for the loopback dev server."""
    cert, key = settings.temporal_tls_client_cert, settings.temporal_tls_client_key
    if (cert is None) != (key is None):
        raise ValueError(
            "temporal_tls_client_cert and temporal_tls_client_key: set both or neither"
        )
    ca, name = settings.temporal_tls_server_ca, settings.temporal_tls_server_name
    if cert is None and ca is None and name is None:
        return settings.temporal_tls or settings.temporal_api_key is not None
    return TLSConfig(
        client_cert=_pem("temporal_tls_client_cert", cert),
        client_private_key=_pem("temporal_tls_client_key", key),
        server_root_ca_cert=_pem("temporal_tls_server_ca", ca),
        domain=name,
    )


def uses_tls(settings: CaseflowSettings) -> bool:
    return bool(
        settings.temporal_tls or settings.temporal_api_key is not None
        or settings.temporal_tls_client_cert or settings.temporal_tls_server_ca
        or settings.temporal_tls_server_name
    )


async def connect(settings: CaseflowSettings) -> Client:
    """The one place a Temporal client is made (worker, CLI, web service, benchmarks)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
        api_key=api_key,
    )
