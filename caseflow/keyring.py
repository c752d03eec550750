"""The payload encryption keyring: AES-256 keys by id, one of them current.

Client-side plumbing (the worker, the CLI, the codec server); never imported by workflows. Keys
come from settings: CASEFLOW_ENCRYPTION_KEYS (JSON {id: base64 key}) with
CASEFLOW_ENCRYPTION_CURRENT_KEY_ID, or a key file outside the repo (CASEFLOW_KEY_FILE, by default
<data_dir>/keys.json, which `caseflow dev up` generates). Never from code.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from caseflow.settings import CaseflowSettings

KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
KEY_FILE_NAME = "keys.json"


class KeyringError(ValueError):
    """The keys are missing or malformed; the message names the setting, never a key."""


def new_key_id(now: datetime | None = None) -> str:
    """Sortable and unique: the creation time plus a random suffix."""
    now = now or datetime.now(UTC)
    return f"k{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _decode_key(key_id: str, encoded: str, where: str) -> bytes:
    if not KEY_ID.fullmatch(key_id):
        raise KeyringError(f"{where}: key id {key_id!r} is not [A-Za-z0-9._-]{{1,64}}")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"{where}: key {key_id} is not base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"{where}: key {key_id} is {len(raw)} bytes, expected {KEY_BYTES}")
    return raw


@dataclass(frozen=True)
class Keyring:
    """Every key that may still decrypt something, and the id new payloads are encrypted with."""

    keys: dict[str, bytes] = field(repr=False)
    current_key_id: str
    source: str = "settings"  # where it came from, for messages (a path or a setting name)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyringError(f"{self.source}: no keys")
        if self.current_key_id not in self.keys:
            raise KeyringError(
                f"{self.source}: current key id {self.current_key_id!r} not among keys"
            )

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_key_id]

    def key(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)

    @classmethod
    def generate(cls, source: str = "generated") -> Keyring:
        key_id = new_key_id()
        return cls({key_id: secrets.token_bytes(KEY_BYTES)}, key_id, source)

    def rotated(self) -> Keyring:
        """A new current key; every old key kept so old histories still decrypt."""
        key_id = new_key_id()
        while key_id in self.keys:
            key_id = new_key_id()
        return Keyring({**self.keys, key_id: secrets.token_bytes(KEY_BYTES)}, key_id, self.source)

    # -- the key file ------------------------------------------------------------------------------

    def to_json(self) -> str:
        keys = {key_id: base64.b64encode(key).decode() for key_id, key in self.keys.items()}
        return json.dumps({"current": self.current_key_id, "keys": keys}, indent=2) + "\n"

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        where = str(path)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeyringError(f"key file {where}: does not exist") from None
        except (OSError, ValueError) as error:
            raise KeyringError(f"key file {where}: unreadable ({type(error).__name__})") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
            raise KeyringError(f"key file {where}: expected {{\"current\": id, \"keys\": {{...}}}}")
        current = document.get("current")
        if not isinstance(current, str):
            raise KeyringError(f"key file {where}: 'current' is missing")
        keys = {
            key_id: _decode_key(key_id, str(encoded), f"key file {where}")
            for key_id, encoded in document["keys"].items()
        }
        return cls(keys, current, where)

    def write(self, path: Path) -> None:
        """Replace the key file atomically, readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(self.to_json())
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def key_file_path(settings: CaseflowSettings) -> Path:
    return settings.key_file or settings.data_dir / KEY_FILE_NAME


def keys_from_environment(settings: CaseflowSettings) -> bool:
    return bool(settings.encryption_keys)


def load_keyring(settings: CaseflowSettings) -> Keyring:
    """The keyring settings name: the environment's keys if set, otherwise the key file."""
    if settings.encryption_keys:
        where = "CASEFLOW_ENCRYPTION_KEYS"
        keys = {
            key_id: _decode_key(key_id, secret.get_secret_value(), where)
            for key_id, secret in settings.encryption_keys.items()
        }
        current = settings.encryption_current_key_id
        if current is None:
            if len(keys) != 1:
                raise KeyringError(
                    "CASEFLOW_ENCRYPTION_CURRENT_KEY_ID: required when there is more than one key"
                )
            current = next(iter(keys))
        return Keyring(keys, current, where)
    path = key_file_path(settings)
    if not path.exists():
        raise KeyringError(
            f"no payload encryption keys: set CASEFLOW_ENCRYPTION_KEYS, or CASEFLOW_KEY_FILE, or "
            f"run 'caseflow dev up' to generate {path}"
        )
    return Keyring.from_file(path)


def ensure_key_file(path: Path) -> bool:
    """Generate a development key file if none exists. Returns whether it wrote one."""
    if path.exists():
        return False
    Keyring.generate(str(path)).write(path)
    return True


def rotate_key_file(path: Path) -> Keyring:
    rotated = Keyring.from_file(path).rotated()
    rotated.write(path)
    return rotated
