"""`caseflow users ...` and `caseflow tokens ...`: staff logins, roles and API tokens in the
identity store. A password or token secret is printed once, when made, and never again."""

from __future__ import annotations

import getpass
import json
import re
import secrets
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from activities.audit import AuditAction, AuditTrail
from caseflow.settings import CaseflowSettings, get_settings
from client.access_audit import record_now
from client.identities import IdentityStore, Role, check_password

users_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Staff logins and their roles.",
)
tokens_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="API tokens for users and hospitals.",
)
console = Console()

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _store(settings: CaseflowSettings) -> IdentityStore:
    return IdentityStore.from_settings(settings)


def _audit(settings: CaseflowSettings, action: AuditAction, **fields) -> None:
    """Record who changed the identity store. The change is made by then: if the audit bucket
    is away, say so rather than hide a password or secret that was already made."""
    actor = "cli:" + (re.sub(r"[^A-Za-z0-9@._+-]", "_", getpass.getuser())[:60] or "unknown")
    try:
        record_now(AuditTrail(settings), action, actor, **fields)
    except Exception as error:  # noqa: BLE001 - the one-line warning is the contract
        print(f"warning: not written to the audit trail ({type(error).__name__})", file=sys.stderr)


@users_app.command("add")
def add_user(
    login: Annotated[str, typer.Argument(help="1-40 of a-z 0-9 _ -; a coordinator's login is "
                                              "their coordinator id.")],
    role: Annotated[Role, typer.Option("--role", help="coordinator, supervisor or ops.")],
    name: Annotated[str, typer.Option("--name", help="Full name, as letters show it.")],
    email: Annotated[str, typer.Option(
        "--email", help="Work address; letters and notices name it.")],
    phone: Annotated[str | None, typer.Option(
        "--phone", help="Work phone, as letters print it.")] = None,
    organisation: Annotated[str | None, typer.Option(
        "--organisation", help="Organisation letters name beside the person.")] = None,
    oidc_subject: Annotated[str | None, typer.Option(
        "--oidc-subject", help="The identity provider's 'sub' for this person.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input.")] = False,
    no_password: Annotated[bool, typer.Option(
        "--no-password", help="No password: the person signs in through OpenID Connect.")] = False,
    json_output: Json = False,
) -> None:
    """Add a user. Without --password-stdin or --no-password a password is generated and
    printed once."""
    if password_stdin and no_password:
        raise ValueError("give --password-stdin or --no-password, not both")
    generated = None
    if password_stdin:
        password: str | None = check_password(sys.stdin.readline().rstrip("\n"))
    elif no_password:
        password = None
    else:
        password = generated = secrets.token_urlsafe(15)
    settings = get_settings()
    store = _store(settings)
    try:
        user = store.add_user(login, role, name=name, email=email, phone=phone,
                              organisation=organisation, password=password,
                              oidc_subject=oidc_subject)
    finally:
        store.close()
    _audit(settings, AuditAction.USER_ADDED, subject=f"user:{user.login}", role=user.role.value)
    if json_output:
        print(json.dumps({**user.model_dump(mode="json"), "password": generated}))
        return
    console.print(f"added {user.login} ({user.role.value})")
    if generated:
        print(f"password (shown once): {generated}")  # plain print: rich would wrap it


@users_app.command("list")
def list_users(json_output: Json = False) -> None:
    """Every user, with role and state."""
    store = _store(get_settings())
    try:
        users = store.list_users()
    finally:
        store.close()
    if json_output:
        print(json.dumps([u.model_dump(mode="json") for u in users]))
        return
    table = Table("login", "role", "name", "email", "coordinator id", "state")
    for user in users:
        table.add_row(user.login, user.role.value, user.name, user.email,
                      user.coordinator_id or "", "disabled" if user.disabled else "active")
    console.print(table)


@users_app.command("disable")
def disable_user(login: str, json_output: Json = False) -> None:
    """Refuse the user's logins, sessions and tokens from now on."""
    settings = get_settings()
    store = _store(settings)
    try:
        store.disable_user(login)
    finally:
        store.close()
    _audit(settings, AuditAction.USER_DISABLED, subject=f"user:{login}")
    if json_output:
        print(json.dumps({"login": login, "disabled": True}))
    else:
        console.print(f"disabled {login}: its sessions and tokens no longer work")


@tokens_app.command("create")
def create_token(
    user: Annotated[str | None, typer.Option("--user", help="A user's login: their role.")] = None,
    hospital: Annotated[str | None, typer.Option(
        "--hospital", help="A hospital id: sees its own referrals only.")] = None,
    label: Annotated[str, typer.Option("--label", help="What the token is for.")] = "",
    days: Annotated[int | None, typer.Option("--days", help="Expire after N days.")] = None,
    json_output: Json = False,
) -> None:
    """Make an API token and print its secret once (send it as 'Authorization: Bearer ...')."""
    settings = get_settings()
    store = _store(settings)
    try:
        issued = store.create_token(user=user, hospital_id=hospital, label=label,
                                    expires_in_days=days)
    finally:
        store.close()
    expires = issued.expires_at.isoformat() if issued.expires_at else None
    if json_output:
        print(json.dumps({"token_id": issued.token_id, "token": issued.secret,
                          "expires_at": expires}))
    else:
        console.print(f"token {issued.token_id}" + (f", expires {expires}" if expires else ""))
        print(f"secret (shown once): {issued.secret}")  # plain print: rich would wrap it
    owner = f"user:{user}" if user else f"hospital:{hospital}"
    _audit(settings, AuditAction.TOKEN_CREATED, subject=issued.token_id, hospital_id=hospital,
           owner=owner)


@tokens_app.command("list")
def list_tokens(json_output: Json = False) -> None:
    """Every token (never a secret): owner, role, label, state."""
    store = _store(get_settings())
    try:
        tokens = store.list_tokens()
    finally:
        store.close()
    if json_output:
        print(json.dumps([{**t.model_dump(mode="json"), "state": t.state()} for t in tokens]))
        return
    table = Table("token id", "owner", "role", "label", "expires", "state")
    for token in tokens:
        owner = token.user or f"hospital {token.hospital_id}"
        expires = token.expires_at.strftime("%Y-%m-%d %H:%M") if token.expires_at else "never"
        table.add_row(token.token_id, owner, token.role.value, token.label, expires,
                      token.state())
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: str, json_output: Json = False) -> None:
    """Refuse the token from now on."""
    settings = get_settings()
    store = _store(settings)
    try:
        store.revoke_token(token_id)
    finally:
        store.close()
    _audit(settings, AuditAction.TOKEN_REVOKED, subject=token_id)
    if json_output:
        print(json.dumps({"token_id": token_id, "revoked": True}))
    else:
        console.print(f"revoked {token_id}")
