"""The identity store: password hashing, disabling, tokens (hash only, revoke, expiry), one-line
refusals, and the coordinator contact letters name."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from caseflow.contacts import CoordinatorContact
from caseflow.settings import CaseflowSettings
from client.errors import one_line
from client.identities import IdentityStore, Role, ensure_demo_users

PASSWORD = "correct horse battery"


@pytest.fixture
def store(tmp_path) -> Iterator[IdentityStore]:
    store = IdentityStore(f"sqlite:///{tmp_path / 'identities.db'}")
    yield store
    store.close()


def add_coordinator(store: IdentityStore, login: str = "coord-ana", **fields):
    return store.add_user(
        login,
        "coordinator",
        name="Ana Lima",
        email=f"{login}@coordinators.example.invalid",
        phone="+44 20 7946 0100",
        organisation="CancerFax",
        password=PASSWORD,
        **fields,
    )


def test_password_is_stored_as_argon2_and_verified(store, tmp_path):
    user = add_coordinator(store)
    assert user.coordinator_id == "coord-ana"  # a coordinator's id defaults to the login
    assert store.verify_password("coord-ana", PASSWORD) == user
    assert store.verify_password("coord-ana", "wrong password!") is None
    assert store.verify_password("nobody", PASSWORD) is None
    assert store.verify_password("NOT A LOGIN", PASSWORD) is None
    stored = sqlite3.connect(tmp_path / "identities.db").execute(
        "select password_hash from users"
    ).fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_weak_hash_is_replaced_on_login(store, tmp_path):
    add_coordinator(store)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    db = sqlite3.connect(tmp_path / "identities.db")
    db.execute("update users set password_hash = ?", (weak,))
    db.commit()
    assert store.verify_password("coord-ana", PASSWORD) is not None
    rehashed = db.execute("select password_hash from users").fetchone()[0]
    assert rehashed != weak and not PasswordHasher().check_needs_rehash(rehashed)


def test_disabled_user_cannot_log_in_nor_use_tokens(store):
    add_coordinator(store)
    issued = store.create_token(user="coord-ana")
    assert store.resolve_token(issued.secret) is not None
    store.disable_user("coord-ana")
    store.disable_user("coord-ana")  # again: no error
    assert store.get_user("coord-ana").disabled
    assert store.verify_password("coord-ana", PASSWORD) is None
    assert store.resolve_token(issued.secret) is None
    with pytest.raises(ValueError, match="disabled"):
        store.create_token(user="coord-ana")


def test_token_secret_is_hashed_and_resolves_to_its_owner(store, tmp_path):
    add_coordinator(store)
    issued = store.create_token(user="coord-ana", label="laptop")
    assert issued.secret.startswith(f"cf_{issued.token_id}_")
    record = store.resolve_token(issued.secret)
    assert (record.token_id, record.role, record.user, record.coordinator_id) == (
        issued.token_id, Role.COORDINATOR, "coord-ana", "coord-ana",
    )
    raw = (tmp_path / "identities.db").read_bytes()
    assert issued.secret.encode() not in raw
    assert store.resolve_token(issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")) \
        is None
    assert store.resolve_token("not a token") is None
    assert [t.token_id for t in store.list_tokens()] == [issued.token_id]


def test_revoked_and_expired_tokens_are_refused(store):
    add_coordinator(store)
    revoked = store.create_token(user="coord-ana")
    store.revoke_token(revoked.token_id)
    store.revoke_token(revoked.token_id)  # again: no error
    assert store.resolve_token(revoked.secret) is None
    expired = store.create_token(user="coord-ana", expires_in=timedelta(seconds=-1))
    assert store.resolve_token(expired.secret) is None
    lasting = store.create_token(user="coord-ana", expires_in_days=30)
    assert store.resolve_token(lasting.secret) is not None
    states = {t.token_id: t.state() for t in store.list_tokens()}
    assert states == {
        revoked.token_id: "revoked", expired.token_id: "expired", lasting.token_id: "active"
    }
    with pytest.raises(LookupError, match="no token 'ffff'"):
        store.revoke_token("ffff")


def test_hospital_token_names_a_known_hospital(store):
    issued = store.create_token(hospital_id="in-mumbai-rlt", label="RLT intl desk")
    record = store.resolve_token(issued.secret)
    assert (record.role, record.hospital_id, record.user) == (Role.HOSPITAL, "in-mumbai-rlt", None)
    with pytest.raises(LookupError) as unknown:
        store.create_token(hospital_id="nowhere")
    assert "unknown hospital 'nowhere'" in one_line(unknown.value)
    with pytest.raises(ValueError, match="exactly one"):
        store.create_token(user="coord-ana", hospital_id="in-mumbai-rlt")


def test_refusals_are_one_line(store):
    add_coordinator(store)
    cases = [
        (lambda: add_coordinator(store), "user 'coord-ana' already exists"),
        (lambda: store.add_user("Bad Login", "ops", name="X", email="x@example.invalid"),
         "login: 1-40 characters of a-z, 0-9, '_' and '-'"),
        (lambda: store.add_user("x", "admin", name="X", email="x@example.invalid"),
         "role: 'admin' is not one of coordinator, supervisor, ops"),
        (lambda: store.add_user("x", "hospital", name="X", email="x@example.invalid"),
         "role: hospitals get API tokens"),
        (lambda: store.add_user("x", "ops", name="X\x07", email="x@example.invalid"),
         "name: must not contain control characters"),
        (lambda: store.add_user("x", "ops", name="X", email="nope"), "email: String should"),
        (lambda: store.add_user("x", "ops", name="X", email="x@example.invalid",
                                password="short"), "password: at least 12 characters"),
        (lambda: store.set_password("nobody", PASSWORD), "no user 'nobody'"),
        (lambda: store.disable_user("nobody"), "no user 'nobody'"),
    ]
    for action, message in cases:
        with pytest.raises((ValueError, LookupError)) as refused:
            action()
        line = one_line(refused.value)
        assert line.startswith(message) and "\n" not in line, line
    assert [u.login for u in store.list_users()] == ["coord-ana"]  # nothing half-added


def test_coordinator_contact_for_letters(store):
    add_coordinator(store)
    store.add_user("sup-bo", "supervisor", name="Bo Chen", email="bo@example.invalid")
    assert store.coordinator_contact("coord-ana") == CoordinatorContact(
        coordinator_id="coord-ana",
        name="Ana Lima",
        email="coord-ana@coordinators.example.invalid",
        phone="+44 20 7946 0100",
        organisation="CancerFax",
    )
    assert store.coordinator_contact("sup-bo") is None  # not a coordinator id
    assert store.coordinator_contact("nobody") is None
    store.disable_user("coord-ana")
    assert store.coordinator_contact("coord-ana") is None


def test_oidc_maps_subject_then_verified_email(store):
    add_coordinator(store, oidc_subject="sub-123")
    store.add_user("ops-li", "ops", name="Li Wei", email="li@example.invalid")
    assert store.user_for_oidc("sub-123", None).login == "coord-ana"
    assert store.user_for_oidc("other", "LI@example.invalid").login == "ops-li"
    assert store.user_for_oidc("other", None) is None
    store.disable_user("ops-li")
    assert store.user_for_oidc("other", "li@example.invalid") is None


def test_demo_users_are_created_once_with_a_private_logins_file(tmp_path):
    settings = CaseflowSettings(data_dir=tmp_path)
    path = ensure_demo_users(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert ensure_demo_users(settings).read_text() == first  # again: same passwords
    logins = {line.split()[0]: line.split()[2] for line in first.splitlines()[1:]}
    assert set(logins) == {"coord-demo", "supervisor-demo", "ops-demo"}
    store = IdentityStore.from_settings(settings)
    try:
        user = store.verify_password("coord-demo", logins["coord-demo"])
        assert user is not None and user.role == Role.COORDINATOR
        contact = store.coordinator_contact("coord-demo")
        assert contact is not None
        assert contact.email == "coord-demo@coordinators.example.invalid"
        assert contact.organisation == "CancerFax (demo)"
    finally:
        store.close()


def test_a_store_opens_while_another_process_creates_the_same_tables(tmp_path, monkeypatch):
    """The web service and the CLI may create a new database at once: the one whose CREATE
    loses (the table appeared after its check) opens the database the other made."""
    import sqlalchemy as sa

    from client import identities

    url = f"sqlite:///{tmp_path / 'identities.db'}"
    other = sa.create_engine(url)
    created: list[bool] = []

    def the_other_process_wins(target, connection, **_):
        if not created:  # once: as if the CLI's CREATE ran between this check and this CREATE
            created.append(True)
            identities._metadata.create_all(other)

    users = identities._users
    sa.event.listen(users, "before_create", the_other_process_wins)
    try:
        store = IdentityStore(url)
    finally:
        sa.event.remove(users, "before_create", the_other_process_wins)
        other.dispose()
    assert created
    add_coordinator(store)
    assert store.get_user("coord-ana") is not None
    store.close()
