"""`caseflow keys ...`: the payload encryption keyring. Prints key ids, never key material."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from caseflow.keyring import (
    Keyring,
    KeyringError,
    key_file_path,
    keys_from_environment,
    load_keyring,
    rotate_key_file,
)
from caseflow.settings import get_settings

keys_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Payload encryption keys (ids only).",
)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _describe(ring: Keyring) -> dict:
    return {"current": ring.current_key_id, "keys": sorted(ring.keys), "source": ring.source}


@keys_app.command("list")
def list_keys(json_output: Json = False) -> None:
    """The key ids that can decrypt, and the current one new payloads use."""
    ring = load_keyring(get_settings())
    if json_output:
        print(json.dumps(_describe(ring)))
        return
    for key_id in sorted(ring.keys):
        print(f"{key_id}{'  (current)' if key_id == ring.current_key_id else ''}")


@keys_app.command("rotate")
def rotate(json_output: Json = False) -> None:
    """Add a new current key to the key file; old keys stay so old histories still decrypt.

    Restart the worker afterwards ('caseflow dev down && caseflow dev up --with-worker'):
    running processes keep encrypting with the key they started with. The codec server picks
    the new key up by itself.
    """
    settings = get_settings()
    if keys_from_environment(settings):
        raise KeyringError(
            "CASEFLOW_ENCRYPTION_KEYS: keys come from the environment; add a key there and set "
            "CASEFLOW_ENCRYPTION_CURRENT_KEY_ID ('keys rotate' only rewrites a key file)"
        )
    path = key_file_path(settings)
    if not path.exists():
        raise KeyringError(f"key file {path}: does not exist (run 'caseflow dev up' first)")
    ring = rotate_key_file(path)
    if json_output:
        print(json.dumps(_describe(ring)))
        return
    print(f"new current key {ring.current_key_id}; {len(ring.keys)} keys kept in {path}")
    print("restart the worker so new payloads use it")
