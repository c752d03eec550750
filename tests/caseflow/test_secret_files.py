"""Every secret setting can come from a mounted file (`CASEFLOW_<NAME>_FILE`), and a file that
cannot be used stops the command with one line naming the variable, never the secret."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import SecretStr

from caseflow.secret_files import SecretFileError, secret_fields
from caseflow.settings import CaseflowSettings, get_settings
from coordinator.cli import run

SECRET = "correct horse battery staple"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No CASEFLOW_ variable from the outer shell, and a data dir without a caseflow.env."""
    for name in list(os.environ):
        if name.startswith("CASEFLOW_"):
            monkeypatch.delenv(name)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CASEFLOW_DATA_DIR", str(data))
    return monkeypatch


def secret_file(tmp_path, text: str, name: str = "secret"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_secret_in_settings_is_covered():
    # A new SecretStr field is covered without being listed; this names the ones the brief lists.
    assert {
        "s3_access_key_id", "s3_secret_access_key", "session_secret", "reply_link_secret",
        "portal_link_secret", "hospital_callback_secrets", "webhook_secrets",
        "oidc_client_secret", "smtp_password", "temporal_api_key", "encryption_keys",
        "codec_tokens", "identity_db_url",
    } <= set(secret_fields(CaseflowSettings))
    # Ports and names are not secrets.
    assert not {"smtp_host", "temporal_address", "web_port"} & set(secret_fields(CaseflowSettings))


@pytest.mark.parametrize("name", sorted(secret_fields(CaseflowSettings)))
def test_each_secret_reads_from_its_file(name, tmp_path, env):
    field = CaseflowSettings.model_fields[name]
    is_mapping = "dict" in str(field.annotation)
    text = json.dumps({"one": "whsec_" + "A" * 32}) if is_mapping else SECRET
    env.setenv(f"CASEFLOW_{name.upper()}_FILE", str(secret_file(tmp_path, text + "\n")))

    value = getattr(CaseflowSettings(), name)

    if is_mapping:
        assert {k: v.get_secret_value() for k, v in value.items()} == {"one": "whsec_" + "A" * 32}
    else:
        plain = value.get_secret_value() if isinstance(value, SecretStr) else value
        assert plain == SECRET  # the trailing newline `echo` leaves is not part of it


def test_the_file_is_named_in_the_data_dirs_env_file_too(tmp_path, env):
    path = secret_file(tmp_path, SECRET)
    (tmp_path / "data" / "caseflow.env").write_text(f"CASEFLOW_SMTP_PASSWORD_FILE='{path}'\n")
    password = CaseflowSettings().smtp_password
    assert password is not None and password.get_secret_value() == SECRET


def test_a_value_and_its_file_both_set_is_one_clear_error(tmp_path, env):
    env.setenv("CASEFLOW_SESSION_SECRET", "inline-" + SECRET)
    env.setenv("CASEFLOW_SESSION_SECRET_FILE", str(secret_file(tmp_path, SECRET)))
    with pytest.raises(SecretFileError) as caught:
        CaseflowSettings()
    assert str(caught.value) == (
        "CASEFLOW_SESSION_SECRET and CASEFLOW_SESSION_SECRET_FILE are both set: set only one"
    )


def test_the_value_in_the_env_file_and_the_file_in_the_environment_conflict_too(tmp_path, env):
    (tmp_path / "data" / "caseflow.env").write_text("CASEFLOW_PORTAL_LINK_SECRET='from-dev-up'\n")
    env.setenv("CASEFLOW_PORTAL_LINK_SECRET_FILE", str(secret_file(tmp_path, SECRET)))
    with pytest.raises(SecretFileError, match="both set"):
        CaseflowSettings()


def test_a_missing_file_names_the_variable_and_the_path(tmp_path, env):
    missing = tmp_path / "run" / "secrets" / "smtp"
    env.setenv("CASEFLOW_SMTP_PASSWORD_FILE", str(missing))
    with pytest.raises(SecretFileError) as caught:
        CaseflowSettings()
    assert str(caught.value) == (
        f"CASEFLOW_SMTP_PASSWORD_FILE: cannot read {missing} (No such file or directory)"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_says_so(tmp_path, env):
    path = secret_file(tmp_path, SECRET)
    path.chmod(0)
    env.setenv("CASEFLOW_OIDC_CLIENT_SECRET_FILE", str(path))
    with pytest.raises(SecretFileError, match=r"OIDC_CLIENT_SECRET_FILE: cannot read .*denied"):
        CaseflowSettings()


def test_a_directory_or_an_empty_file_is_refused_without_the_secret(tmp_path, env):
    env.setenv("CASEFLOW_TEMPORAL_API_KEY_FILE", str(tmp_path))
    with pytest.raises(SecretFileError, match=r"^CASEFLOW_TEMPORAL_API_KEY_FILE: cannot read "):
        CaseflowSettings()
    env.setenv("CASEFLOW_TEMPORAL_API_KEY_FILE", str(secret_file(tmp_path, "\n", "empty")))
    with pytest.raises(SecretFileError, match="is empty$"):
        CaseflowSettings()


def test_a_mapping_file_that_is_not_json_does_not_echo_its_text(tmp_path, env):
    env.setenv("CASEFLOW_WEBHOOK_SECRETS_FILE", str(secret_file(tmp_path, "whsec_" + SECRET)))
    with pytest.raises(SecretFileError) as caught:
        CaseflowSettings()
    assert "does not hold a JSON object" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_cli_prints_the_one_line(tmp_path, env, capsys):
    env.setenv("CASEFLOW_S3_SECRET_ACCESS_KEY", SECRET)
    env.setenv("CASEFLOW_S3_SECRET_ACCESS_KEY_FILE", str(secret_file(tmp_path, SECRET)))
    get_settings.cache_clear()
    try:
        code = run(["keys", "list"])
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "error: CASEFLOW_S3_SECRET_ACCESS_KEY and CASEFLOW_S3_SECRET_ACCESS_KEY_FILE are both "
        "set: set only one\n"
    )
    assert SECRET not in err
