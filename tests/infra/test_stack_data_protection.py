"""What `caseflow dev up` prepares for data protection: a dev key file, codec tokens in the env
file, the codec server process and the Web UI's codec endpoint (nothing is started here)."""

import json
import sys

from caseflow.keyring import Keyring
from caseflow.settings import CaseflowSettings
from infra.stack import EmbeddedStack, ensure_credentials


def test_dev_up_prepares_keys_tokens_and_the_ui_codec_endpoint(tmp_path, monkeypatch):
    env_file = ensure_credentials(tmp_path)
    lines = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    tokens = json.loads(lines["CASEFLOW_CODEC_TOKENS"])
    assert set(tokens) == {"ops-web-ui", "ops-cli"} and len(set(tokens.values())) == 2
    # A second run keeps the tokens (the UI's endpoint, and so the server's command, stay put).
    ensure_credentials(tmp_path)
    again = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert again["CASEFLOW_CODEC_TOKENS"] == lines["CASEFLOW_CODEC_TOKENS"]

    settings = CaseflowSettings(
        _env_file=str(env_file), data_dir=tmp_path, codec_server_url="http://127.0.0.1:18081"
    )
    stack = EmbeddedStack(settings)
    stack.ensure_keys()
    first = Keyring.from_file(tmp_path / "keys.json")
    stack.ensure_keys()  # never regenerated: that would orphan every history
    assert Keyring.from_file(tmp_path / "keys.json").keys == first.keys

    command = stack.temporal().command()
    endpoint = command[command.index("--ui-codec-endpoint") + 1]
    assert endpoint == f"http://127.0.0.1:18081/t/{tokens['ops-web-ui']}"
    codec = stack.codec_server()
    assert codec.command == [sys.executable, "-m", "coordinator.codec_server", "--port", "18081"]
    assert codec.ports == [18081]


def test_no_codec_endpoint_without_encryption(tmp_path):
    settings = CaseflowSettings(data_dir=tmp_path, encrypt_payloads=False)
    stack = EmbeddedStack(settings)
    stack.ensure_keys()
    assert not (tmp_path / "keys.json").exists()
    assert "--ui-codec-endpoint" not in stack.temporal().command()
