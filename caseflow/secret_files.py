"""Secrets read from files: every secret setting `CASEFLOW_<NAME>` may instead be given as
`CASEFLOW_<NAME>_FILE`, the path of a file holding it, as container platforms mount secrets
(Docker and Kubernetes secrets, systemd credentials). One settings source does it for every field.

A secret is a field typed SecretStr (alone, optional, or as the values of a mapping, whose file
then holds JSON), or one named in EXTRA_SECRETS. Errors name the variable and the path, never
what the file holds.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

# Secrets that are plain strings in settings: an S3 access key id names an account, and a
# database URL may carry its password.
EXTRA_SECRETS = frozenset({"s3_access_key_id", "identity_db_url"})

FILE_SUFFIX = "_FILE"


class SecretFileError(ValueError):
    """A `_FILE` setting that cannot be used; the message is one line and holds no secret."""


def holds_secret(annotation: Any) -> bool:
    """Whether a field type is or holds SecretStr (SecretStr | None, dict[str, SecretStr])."""
    if annotation is SecretStr:
        return True
    return any(holds_secret(arg) for arg in typing.get_args(annotation))


def secret_fields(settings_cls: type[BaseSettings]) -> dict[str, FieldInfo]:
    return {
        name: field
        for name, field in settings_cls.model_fields.items()
        if name in EXTRA_SECRETS or holds_secret(field.annotation)
    }


def read_secret_file(variable: str, path_text: str) -> str:
    """The file's text without the trailing newline an editor or `echo` leaves."""
    path = Path(path_text).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else (
            "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else type(error).__name__
        )
        raise SecretFileError(f"{variable}: cannot read {path} ({reason})") from None
    value = text.rstrip("\r\n")
    if not value:
        raise SecretFileError(f"{variable}: {path} is empty")
    return value


class SecretFilesSource(PydanticBaseSettingsSource):
    """Values of secret fields from the files `<PREFIX><NAME>_FILE` points at, looked up in the
    environment and in the env files given; `<NAME>` set as well is an error."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        *,
        env_prefix: str,
        variables: Iterable[Mapping[str, str | None]],
    ) -> None:
        super().__init__(settings_cls)
        self._prefix = env_prefix
        # Lower-cased names, as pydantic-settings keeps them when not case-sensitive.
        self._variables: dict[str, str] = {}
        for mapping in variables:
            for key, value in mapping.items():
                if value is not None:
                    self._variables.setdefault(key.lower(), value)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ reads every field at once.
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in secret_fields(self.settings_cls).items():
            direct = f"{self._prefix}{name}".upper()
            variable = f"{direct}{FILE_SUFFIX}"
            path_text = self._variables.get(variable.lower())
            if not path_text:
                continue
            if self._variables.get(direct.lower()):
                raise SecretFileError(f"{direct} and {variable} are both set: set only one")
            text = read_secret_file(variable, path_text)
            if self.field_is_complex(field):
                try:
                    values[name] = json.loads(text)
                except ValueError:
                    raise SecretFileError(
                        f"{variable}: {Path(path_text)} does not hold a JSON object"
                    ) from None
            else:
                values[name] = text
        return values
