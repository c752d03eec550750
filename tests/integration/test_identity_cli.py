"""`caseflow users` and `caseflow tokens` through the real CLI, on an identity store under
tmp_path and the audit trail in SeaweedFS: secrets printed once, one-line refusals, audit."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from activities.audit import AuditAction, AuditTrail
from caseflow.settings import get_settings
from client.identities import IdentityStore
from coordinator.cli import cli
from coordinator.errors import one_line_error

pytestmark = pytest.mark.integration


@pytest.fixture
def run_cli(seaweed, tmp_path):
    settings = seaweed.settings.model_copy(
        update={
            "identity_db_url": f"sqlite:///{tmp_path / 'identities.db'}",
            "audit_bucket": f"audit-cli-{uuid.uuid4().hex[:12]}",
        }
    )
    env = {
        "CASEFLOW_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
        "CASEFLOW_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
        "CASEFLOW_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        "CASEFLOW_IDENTITY_DB_URL": settings.identity_db_url,
        "CASEFLOW_AUDIT_BUCKET": settings.audit_bucket,
    }

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(cli, list(args), env=env, input=stdin)
        finally:
            get_settings.cache_clear()
        if result.exception and not isinstance(result.exception, SystemExit):
            message, code = one_line_error(result.exception)
            return code, result.stdout, message
        return result.exit_code, result.stdout, ""

    run.settings = settings  # type: ignore[attr-defined]  # the test reads the stack's settings
    return run


def test_users_add_list_disable(run_cli):
    code, out, _ = run_cli("users", "add", "coord-eve", "--role", "coordinator", "--name",
                           "Eve Adams", "--email", "eve@example.invalid", "--phone",
                           "+44 20 7946 0300", "--json")
    assert code == 0
    added = json.loads(out)
    assert added["coordinator_id"] == "coord-eve" and len(added["password"]) >= 12
    store = IdentityStore.from_settings(run_cli.settings)
    try:
        assert store.verify_password("coord-eve", added["password"]) is not None
        code, out, _ = run_cli("users", "add", "sup-fay", "--role", "supervisor", "--name",
                               "Fay Ng", "--email", "fay@example.invalid", "--password-stdin",
                               stdin="a password from stdin\n")
        assert code == 0 and "password" not in out
        assert store.verify_password("sup-fay", "a password from stdin") is not None
        code, _, error = run_cli("users", "add", "coord-eve", "--role", "coordinator", "--name",
                                 "Eve", "--email", "eve@example.invalid")
        assert (code, error) == (1, "user 'coord-eve' already exists")
        code, _, error = run_cli("users", "add", "h", "--role", "hospital", "--name", "H",
                                 "--email", "h@example.invalid")
        assert code == 1 and error.startswith("role: hospitals get API tokens")
        code, out, _ = run_cli("users", "list", "--json")
        assert [u["login"] for u in json.loads(out)] == ["coord-eve", "sup-fay"]
        assert added["password"] not in out
        assert run_cli("users", "disable", "coord-eve")[0] == 0
        eve = store.get_user("coord-eve")
        assert eve is not None and eve.disabled
        assert run_cli("users", "disable", "nobody")[2] == "no user 'nobody'"
    finally:
        store.close()
    actions = [(e.action, e.subject) for e in AuditTrail(run_cli.settings).access_entries()]
    assert (AuditAction.USER_ADDED, "user:coord-eve") in actions
    assert (AuditAction.USER_DISABLED, "user:coord-eve") in actions


def test_tokens_create_list_revoke(run_cli):
    run_cli("users", "add", "ops-gil", "--role", "ops", "--name", "Gil Ross", "--email",
            "gil@example.invalid", "--no-password")
    code, out, _ = run_cli("tokens", "create", "--user", "ops-gil", "--label", "grafana",
                           "--days", "7", "--json")
    assert code == 0
    user_token = json.loads(out)
    assert user_token["token"].startswith(f"cf_{user_token['token_id']}_")
    code, out, _ = run_cli("tokens", "create", "--hospital", "cn-xiamen-bnct")
    assert code == 0 and "secret (shown once): cf_" in out
    code, out, _ = run_cli("tokens", "list", "--json")
    listed = json.loads(out)
    assert {t["state"] for t in listed} == {"active"} and len(listed) == 2
    assert user_token["token"] not in out
    assert run_cli("tokens", "revoke", user_token["token_id"])[0] == 0
    code, out, _ = run_cli("tokens", "list", "--json")
    states = {t["token_id"]: t["state"] for t in json.loads(out)}
    assert states[user_token["token_id"]] == "revoked"
    for args, message in (
        (("tokens", "create"), "a token is for one user or one hospital: give exactly one"),
        (("tokens", "create", "--hospital", "nowhere"), "hospital_id: unknown hospital"),
        (("tokens", "create", "--user", "nobody"), "no user 'nobody'"),
        (("tokens", "revoke", "ffff"), "no token 'ffff'"),
    ):
        code, _, error = run_cli(*args)
        assert code == 1 and error.startswith(message), (args, error)
    actions = [(e.action, e.subject) for e in AuditTrail(run_cli.settings).access_entries()]
    assert (AuditAction.TOKEN_CREATED, user_token["token_id"]) in actions
    assert (AuditAction.TOKEN_REVOKED, user_token["token_id"]) in actions
