"""The way onto PATH is part of the setup: `make` says how to reach `caseflow`, and
`make install-cli` links it into ~/.local/bin, where it works from any directory."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make(*args: str, env: dict[str, str] | None = None) -> str:
    # -o: never re-run the install (the suite runs inside an installed .venv).
    done = subprocess.run(
        ["make", "-s", "--no-print-directory", "-o", ".venv/.installed", *args],
        cwd=REPO, capture_output=True, text=True, check=True, env=env,
    )
    return done.stdout


def test_setup_says_how_to_put_caseflow_on_path():
    hint = make("path-hint")
    assert f". {REPO}/.venv/bin/activate" in hint
    assert "make install-cli" in hint and "make shell" in hint


def test_install_cli_links_a_caseflow_that_runs_anywhere(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "PATH": f"{home}/.local/bin:{os.environ['PATH']}"}
    out = make("install-cli", f"HOME={home}", env=env)
    link = home / ".local" / "bin" / "caseflow"
    assert link.resolve() == (REPO / ".venv" / "bin" / "caseflow").resolve()
    assert f"caseflow: {link}" in out
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in env.items() if not k.startswith("CASEFLOW_")}
    done = subprocess.run(
        ["caseflow", "case", "kinds", "--json"], cwd=elsewhere, env=env,
        capture_output=True, text=True, check=True,
    )
    assert "biopsy_report" in done.stdout


def test_the_readme_puts_caseflow_on_path_before_its_first_command():
    readme = (REPO / "README.md").read_text()
    first_command = readme.index("caseflow schema intake")
    assert ". .venv/bin/activate" in readme[:first_command]
    assert "make install-cli" in readme[:first_command]
