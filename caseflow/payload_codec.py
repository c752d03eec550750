"""Payload encryption for everything Temporal stores: an AES-256-GCM PayloadCodec over a keyring,
and the data converter that combines it with pydantic and encoded failure messages.

Client-side plumbing (worker, CLI, codec server); workflows never import it. The codec covers
inputs, results, signals, updates, queries, memos, static summaries/details and failure messages
and stack traces. Search attributes are NOT encoded by Temporal, so they must never hold PHI.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from caseflow.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID_META = "encryption-key-id"
NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """A payload cannot be decrypted: unknown key id or tampered bytes. Carries no plaintext."""


class EncryptionCodec(PayloadCodec):
    """Encrypts each payload whole (metadata and data) with the keyring's current key.

    The key id travels in the clear in the payload's metadata and is also bound into the
    ciphertext as associated data, so relabelling a payload with another key id fails.
    `refresh` (optional) re-reads the keyring when a payload names a key it does not know, so a
    long-running codec server follows `caseflow keys rotate` without a restart.
    """

    def __init__(self, keyring: Keyring, refresh: Callable[[], Keyring] | None = None) -> None:
        super().__init__()
        self._keyring = keyring
        self._refresh = refresh

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        key_id = self._keyring.current_key_id
        cipher = AESGCM(self._keyring.current_key)
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id.encode())
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID_META: key_id.encode()},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                # Written before encryption was on (or by a client without the codec).
                decoded.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID_META, b"").decode(errors="replace")
            decoded.append(Payload.FromString(self._decrypt(key_id, payload.data)))
        return decoded

    def key_ids(self, payloads: Sequence[Payload]) -> list[str]:
        """The key ids the payloads name (for the audit trail); '' for plaintext ones."""
        return [p.metadata.get(KEY_ID_META, b"").decode(errors="replace") for p in payloads]

    def _decrypt(self, key_id: str, data: bytes) -> bytes:
        key = self._keyring.key(key_id)
        if key is None and self._refresh is not None:
            self._keyring = self._refresh()
            key = self._keyring.key(key_id)
        if key is None:
            raise PayloadDecryptionError(f"payload encrypted with unknown key id {key_id!r}")
        try:
            return AESGCM(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload under key id {key_id!r} failed authentication"
            ) from None


def encrypted_data_converter(codec: EncryptionCodec) -> DataConverter:
    """pydantic payloads, encrypted; failure messages and stack traces moved into the encrypted
    encoded attributes."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
