"""What `caseflow dev up` prepares for data protection: a dev key file, the CLI's codec token in the
env file, the codec server process, and the Web UI served under the web service's path with the
service's codec endpoint, which holds no token (nothing is started here)."""

import json
import sys

from dotenv import dotenv_values

from caseflow.keyring import Keyring
from caseflow.settings import CaseflowSettings
from infra.stack import EmbeddedStack, ensure_credentials


def test_dev_up_prepares_keys_tokens_and_the_ui_codec_endpoint(tmp_path, monkeypatch):
    env_file = ensure_credentials(tmp_path)
    lines = dotenv_values(env_file)
    tokens = json.loads(lines["CASEFLOW_CODEC_TOKENS"] or "")
    # The CLI's token only: the Web UI decodes through the web service's login, with no token.
    assert set(tokens) == {"ops-cli"}
    # A second run keeps the token.
    ensure_credentials(tmp_path)
    again = dotenv_values(env_file)
    assert again["CASEFLOW_CODEC_TOKENS"] == lines["CASEFLOW_CODEC_TOKENS"]

    settings = CaseflowSettings(
        _env_file=str(env_file), data_dir=tmp_path, codec_server_url="http://127.0.0.1:18081",
        public_url="http://127.0.0.1:18000",
    )
    stack = EmbeddedStack(settings)
    stack.ensure_keys()
    first = Keyring.from_file(tmp_path / "keys.json")
    stack.ensure_keys()  # never regenerated: that would orphan every history
    assert Keyring.from_file(tmp_path / "keys.json").keys == first.keys

    command = stack.temporal().command()
    endpoint = command[command.index("--ui-codec-endpoint") + 1]
    assert endpoint == "http://127.0.0.1:18000/ops/codec"
    assert command[command.index("--ui-public-path") + 1] == "/ops/temporal"
    assert not any(token in " ".join(command) for token in tokens.values())
    codec = stack.codec_server()
    assert codec.command == [sys.executable, "-m", "coordinator.codec_server", "--port", "18081"]
    assert codec.ports == [18081]


def test_no_codec_endpoint_without_encryption(tmp_path):
    settings = CaseflowSettings(data_dir=tmp_path, encrypt_payloads=False)
    stack = EmbeddedStack(settings)
    stack.ensure_keys()
    assert not (tmp_path / "keys.json").exists()
    assert "--ui-codec-endpoint" not in stack.temporal().command()
