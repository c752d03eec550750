"""The case worker leaves current bytecode for every workflow module, so the sandbox, which
imports them afresh for each workflow run, never compiles their source again."""

import importlib.util
import shutil
from pathlib import Path

import workflows
from worker import compile_workflow_bytecode

PACKAGE = Path(workflows.__file__).parent


def _current(source: Path) -> bool:
    """Whether the cached bytecode records this source's mtime and size (PEP 552 header)."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.exists():
        return False
    header = cached.read_bytes()[:16]
    stat = source.stat()
    flags = int.from_bytes(header[4:8], "little")
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    return flags == 0 and mtime == int(stat.st_mtime) & 0xFFFFFFFF and size == stat.st_size


def test_the_worker_writes_current_bytecode_for_every_workflow_module():
    cache = PACKAGE / "__pycache__"
    shutil.rmtree(cache, ignore_errors=True)  # as a fresh clone run with PYTHONDONTWRITEBYTECODE
    sources = sorted(PACKAGE.glob("*.py"))
    assert not any(_current(s) for s in sources)
    compile_workflow_bytecode()
    assert all(_current(s) for s in sources), [s.name for s in sources if not _current(s)]

