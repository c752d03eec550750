"""The keyring and the AES-GCM payload codec: round trips, rotation, tampering, key sources."""

import base64
import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from caseflow.keyring import Keyring, KeyringError, ensure_key_file, load_keyring, rotate_key_file
from caseflow.payload_codec import EncryptionCodec, PayloadDecryptionError, encrypted_data_converter
from caseflow.settings import CaseflowSettings
from caseflow.temporal_client import data_converter

CANARY = "Zyxwanda Canarysdottir"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_round_trip_hides_data_and_metadata():
    codec = EncryptionCodec(Keyring.generate())
    [sealed] = await codec.encode([plain(CANARY)])
    assert CANARY.encode() not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    assert sealed.metadata["encoding"] == b"binary/encrypted"
    assert sealed.metadata["encryption-key-id"].decode() == codec.keyring.current_key_id
    [opened] = await codec.decode([sealed])
    assert opened == plain(CANARY)


async def test_rotated_keyring_still_decrypts_old_payloads_and_encrypts_with_the_new_key():
    old = Keyring.generate()
    [sealed_old] = await EncryptionCodec(old).encode([plain("a")])
    rotated = old.rotated()
    assert rotated.current_key_id != old.current_key_id and old.current_key_id in rotated.keys
    codec = EncryptionCodec(rotated)
    [sealed_new] = await codec.encode([plain("b")])
    assert sealed_new.metadata["encryption-key-id"].decode() == rotated.current_key_id
    assert await codec.decode([sealed_old, sealed_new]) == [plain("a"), plain("b")]
    # The old keyring alone cannot read what the new key wrote, and says which key it lacks.
    with pytest.raises(PayloadDecryptionError, match=rotated.current_key_id):
        await EncryptionCodec(old).decode([sealed_new])


async def test_tampered_or_relabelled_payloads_are_refused():
    ring = Keyring.generate().rotated()
    codec = EncryptionCodec(ring)
    [sealed] = await codec.encode([plain(CANARY)])
    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="failed authentication") as caught:
        await codec.decode([flipped])
    assert CANARY not in str(caught.value)
    # The key id is bound into the ciphertext: naming the other key fails too.
    other = next(k for k in ring.keys if k != ring.current_key_id)
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata["encryption-key-id"] = other.encode()
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([relabelled])


async def test_plaintext_payloads_pass_through_decode():
    codec = EncryptionCodec(Keyring.generate())
    assert await codec.decode([plain("x")]) == [plain("x")]


async def test_failure_messages_and_stack_traces_are_encrypted():
    converter = encrypted_data_converter(EncryptionCodec(Keyring.generate()))
    failure = Failure()
    try:
        raise ApplicationError(f"bad value {CANARY}", type="X")
    except ApplicationError as error:
        await converter.encode_failure(error, failure)
    assert CANARY.encode() not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert CANARY in str(decoded)


async def test_memos_go_through_the_codec():
    converter = encrypted_data_converter(EncryptionCodec(Keyring.generate()))
    memo = await converter._encode_memo({"note": CANARY})
    assert CANARY.encode() not in memo.SerializeToString()
    assert (await converter._decode_memo(memo)) == {"note": CANARY}


def test_key_file_is_generated_once_owner_only_and_rotated(tmp_path):
    path = tmp_path / "keys.json"
    assert ensure_key_file(path) is True
    assert path.stat().st_mode & 0o077 == 0
    first = Keyring.from_file(path)
    assert ensure_key_file(path) is False
    assert Keyring.from_file(path).keys == first.keys
    rotated = rotate_key_file(path)
    again = Keyring.from_file(path)
    assert again.current_key_id == rotated.current_key_id != first.current_key_id
    assert set(first.keys) < set(again.keys)
    assert path.stat().st_mode & 0o077 == 0


def test_settings_choose_environment_keys_over_the_file(tmp_path):
    ensure_key_file(tmp_path / "keys.json")
    key = base64.b64encode(b"k" * 32).decode()
    env = CaseflowSettings(
        data_dir=tmp_path, encryption_keys={"a": key, "b": key}, encryption_current_key_id="b"
    )
    ring = load_keyring(env)
    assert set(ring.keys) == {"a", "b"} and ring.current_key_id == "b"
    from_file = load_keyring(CaseflowSettings(data_dir=tmp_path))
    assert from_file.source == str(tmp_path / "keys.json")
    assert data_converter(CaseflowSettings(data_dir=tmp_path)).payload_codec is not None
    assert data_converter(CaseflowSettings(encrypt_payloads=False)).payload_codec is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "no payload encryption keys"),
        ({"encryption_keys": {"a": base64.b64encode(b"k" * 12).decode()}}, "is 12 bytes"),
        ({"encryption_keys": {"a": "!!"}}, "not base64"),
        ({"encryption_keys": {"bad id": base64.b64encode(b"k" * 32).decode()}}, "key id"),
        (
            {"encryption_keys": {"a": base64.b64encode(b"k" * 32).decode(), "b": "b" * 43 + "="}},
            "CASEFLOW_ENCRYPTION_CURRENT_KEY_ID",
        ),
        (
            {
                "encryption_keys": {"a": base64.b64encode(b"k" * 32).decode()},
                "encryption_current_key_id": "z",
            },
            "current key id 'z' not among keys",
        ),
    ],
)
def test_bad_key_settings_are_refused_by_name(tmp_path, settings, message):
    with pytest.raises(KeyringError, match=message) as caught:
        load_keyring(CaseflowSettings(data_dir=tmp_path, **settings))
    assert "kkkk" not in str(caught.value)


def test_a_malformed_key_file_is_refused(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('{"current": "a", "keys": {"a": "AAAA"}}')
    with pytest.raises(KeyringError, match="is 3 bytes"):
        Keyring.from_file(path)
    path.write_text("not json")
    with pytest.raises(KeyringError, match="unreadable"):
        Keyring.from_file(path)
