"""Where settings find the stack's data directory and its env file, wherever a command runs, and
that the env file reads the same in a shell (`set -a; . caseflow.env`) as in settings."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from caseflow.keyring import key_file_path
from caseflow.settings import CaseflowSettings, find_data_dir, project_root
from infra.stack import ensure_credentials

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("CASEFLOW_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_the_data_dir_is_found_above_the_working_directory(tmp_path, clean_env):
    data = tmp_path / ".data"
    data.mkdir()
    (data / "caseflow.env").write_text(
        "CASEFLOW_S3_ACCESS_KEY_ID='caseflow-1234'\nCASEFLOW_S3_SECRET_ACCESS_KEY='s3cret'\n"
    )
    deeper = tmp_path / "cases" / "2027"
    deeper.mkdir(parents=True)
    clean_env.chdir(deeper)

    settings = CaseflowSettings()
    assert settings.data_dir == data
    assert settings.s3_access_key_id == "caseflow-1234"
    assert key_file_path(settings) == data / "keys.json"
    # Absolute, so a later chdir (a server's cwd) changes nothing.
    clean_env.chdir(tmp_path)
    assert settings.data_dir.is_absolute() and settings.data_dir == data


def test_caseflow_data_dir_wins(tmp_path, clean_env):
    (tmp_path / ".data").mkdir()
    (tmp_path / ".data" / "caseflow.env").write_text("CASEFLOW_S3_ACCESS_KEY_ID='near'\n")
    elsewhere = tmp_path / "stack"
    elsewhere.mkdir()
    (elsewhere / "caseflow.env").write_text("CASEFLOW_S3_ACCESS_KEY_ID='chosen'\n")
    clean_env.chdir(tmp_path)
    clean_env.setenv("CASEFLOW_DATA_DIR", str(elsewhere))

    settings = CaseflowSettings()
    assert (settings.data_dir, settings.s3_access_key_id) == (elsewhere, "chosen")


def test_without_a_data_dir_above_the_installed_project_is_used(tmp_path, clean_env):
    clean_env.chdir(tmp_path)  # no .data at or above a fresh temporary directory
    assert project_root() == REPO  # the editable install `make` makes
    assert find_data_dir() == REPO / ".data"
    assert CaseflowSettings().data_dir == REPO / ".data"


def test_a_data_dir_given_to_settings_brings_its_env_file(tmp_path, clean_env):
    (tmp_path / "caseflow.env").write_text("CASEFLOW_SMTP_PORT='2525'\n")
    assert CaseflowSettings(data_dir=tmp_path).smtp_port == 2525


def _source(env_file: Path) -> tuple[dict[str, str], str]:
    """What a shell has after `set -a; . FILE`: the CASEFLOW_ variables it exported, and what
    it complained of."""
    script = f'set -a; . "{env_file}"; set +a; python3 -c "import json, os; ' \
        "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('CASEFLOW_')}))\""
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")},
    )
    return json.loads(done.stdout), done.stderr


def _sourced(env_file: Path) -> dict[str, str]:
    exported, complaints = _source(env_file)
    assert complaints == ""
    return exported


def _as_settings_read_them(settings: CaseflowSettings) -> dict[str, str]:
    """The env file's settings, back in the form an env variable gives them."""
    def secrets(values: dict) -> str:
        return json.dumps({k: v.get_secret_value() for k, v in values.items()})

    assert settings.s3_secret_access_key is not None
    return {
        "CASEFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
        "CASEFLOW_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        "CASEFLOW_CODEC_TOKENS": secrets(settings.codec_tokens),
        "CASEFLOW_WEBHOOK_SECRETS": secrets(settings.webhook_secrets),
        "CASEFLOW_HOSPITAL_CALLBACK_SECRETS": secrets(settings.hospital_callback_secrets),
    }


def _normalised(sourced: dict[str, str]) -> dict[str, str]:
    names = (
        "CASEFLOW_S3_ACCESS_KEY_ID", "CASEFLOW_S3_SECRET_ACCESS_KEY", "CASEFLOW_CODEC_TOKENS",
        "CASEFLOW_WEBHOOK_SECRETS", "CASEFLOW_HOSPITAL_CALLBACK_SECRETS",
    )
    return {
        name: json.dumps(json.loads(sourced[name])) if sourced[name].startswith("{")
        else sourced[name]
        for name in names
    }


def test_the_env_file_sources_in_a_shell_as_settings_read_it(tmp_path, clean_env):
    env_file = ensure_credentials(tmp_path)
    sourced = _sourced(env_file)
    assert json.loads(sourced["CASEFLOW_WEBHOOK_SECRETS"])  # JSON survived the shell
    assert _normalised(sourced) == _as_settings_read_them(CaseflowSettings(data_dir=tmp_path))
    assert sourced["CASEFLOW_SESSION_SECRET"]
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"


def test_an_unquoted_env_file_from_an_older_dev_up_still_loads_and_is_quoted(
    tmp_path, clean_env
):
    env_file = tmp_path / "caseflow.env"
    hooks = {"cn-xiamen-bnct": "whsec_" + "A" * 43 + "="}
    env_file.write_text(
        "CASEFLOW_S3_ACCESS_KEY_ID=caseflow-abcd\n"
        "CASEFLOW_S3_SECRET_ACCESS_KEY=x-y_z\n"
        f'CASEFLOW_CODEC_TOKENS={json.dumps({"ops-cli": "tok"})}\n'
        f"CASEFLOW_WEBHOOK_SECRETS={json.dumps(hooks)}\n"
    )
    env_file.chmod(0o600)
    before = CaseflowSettings(data_dir=tmp_path)
    assert before.webhook_secrets["cn-xiamen-bnct"].get_secret_value() == hooks["cn-xiamen-bnct"]
    # What the issue found: a shell cannot source it.
    assert "command not found" in _source(env_file)[1]

    ensure_credentials(tmp_path)
    text = env_file.read_text()
    assert f"CASEFLOW_WEBHOOK_SECRETS='{json.dumps(hooks)}'\n" in text
    assert "CASEFLOW_S3_ACCESS_KEY_ID='caseflow-abcd'\n" in text
    after = CaseflowSettings(data_dir=tmp_path)
    # Nothing rotated: the old secrets read the same, now from a file a shell can source too.
    assert after.s3_access_key_id == "caseflow-abcd"
    assert after.webhook_secrets["cn-xiamen-bnct"].get_secret_value() == hooks["cn-xiamen-bnct"]
    assert after.codec_tokens["ops-cli"].get_secret_value() == "tok"
    assert _normalised(_sourced(env_file)) == _as_settings_read_them(after)
