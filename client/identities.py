"""The identity store: staff logins with their roles and contact details, and API tokens (users'
and hospitals'), in SQL through SQLAlchemy Core. SQLite under data_dir by default; a database URL
in settings points it at Postgres in production. Staff data, never patient data."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from caseflow.contacts import (
    COORDINATOR_ID_PATTERN,
    EMAIL_PATTERN,
    PHONE_PATTERN,
    CoordinatorContact,
    DisplayText,
)
from caseflow.settings import CaseflowSettings


class Role(StrEnum):
    COORDINATOR = "coordinator"  # acts on the cases assigned to them
    SUPERVISOR = "supervisor"  # acts on every case
    OPS = "ops"  # keeps the stack healthy; reads decoded payloads in the Web UI, no case actions
    HOSPITAL = "hospital"  # sees its own referrals only (API tokens, never a login)


LOGIN_PATTERN = re.compile(COORDINATOR_ID_PATTERN)  # so a coordinator's login is their id
MIN_PASSWORD_LENGTH = 12
_TOKEN = re.compile(r"^cf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_LOGIN_ROLES = (Role.COORDINATOR, Role.SUPERVISOR, Role.OPS)


class UnknownUser(LookupError):
    """No user with that login."""


class UnknownToken(LookupError):
    """No token with that id."""


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str = Field(pattern=COORDINATOR_ID_PATTERN)
    role: Role
    name: DisplayText
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    phone: str | None = Field(default=None, pattern=PHONE_PATTERN)
    organisation: DisplayText | None = None
    coordinator_id: str | None = Field(default=None, pattern=COORDINATOR_ID_PATTERN)
    oidc_subject: str | None = Field(default=None, min_length=1, max_length=255)
    disabled: bool = False
    created_at: datetime

    @field_validator("role")
    @classmethod
    def _logs_in(cls, value: Role) -> Role:
        if value not in _LOGIN_ROLES:
            raise ValueError(
                "hospitals get API tokens ('caseflow tokens create --hospital ID'), not logins"
            )
        return value

    @property
    def identity(self) -> str:
        """How the audit trail names this user."""
        return f"user:{self.login}"


class TokenRecord(BaseModel):
    """A token as the store keeps it: never the secret, only who it stands for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_id: str
    role: Role
    user: str | None = None
    hospital_id: str | None = None
    coordinator_id: str | None = None  # the owner's, for coordinator tokens
    label: str = ""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"


class IssuedToken(BaseModel):
    """A new token's secret, shown once: the store keeps only its hash."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    secret: str
    expires_at: datetime | None = None


_metadata = sa.MetaData()
_users = sa.Table(
    "users",
    _metadata,
    sa.Column("login", sa.String(40), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("phone", sa.String(30)),
    sa.Column("organisation", sa.String(200)),
    sa.Column("coordinator_id", sa.String(40), index=True),
    sa.Column("oidc_subject", sa.String(255), unique=True),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
_tokens = sa.Table(
    "api_tokens",
    _metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("user_login", sa.String(40), sa.ForeignKey("users.login")),
    sa.Column("hospital_id", sa.String(60)),
    sa.Column("label", sa.String(100), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_dummy_hash: str | None = None


def _unknown_login_hash() -> str:
    # Verifying against a throwaway hash costs what a real check costs, so the answer time does
    # not tell whether a login exists.
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def _secret_digest(secret: str) -> str:
    # A token secret is 256 random bits, so nobody can guess it from its hash however fast the
    # hash is: a slow password hash (argon2) adds nothing but latency on every API request.
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    # SQLite hands datetimes back without their zone; everything here is stored in UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def check_login(login: str) -> str:
    if not LOGIN_PATTERN.fullmatch(login):
        raise ValueError("login: 1-40 characters of a-z, 0-9, '_' and '-'")
    return login


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise ValueError("password: at most 1024 characters")
    return password


def _user(row: Any) -> User:
    return User(
        login=row.login,
        role=Role(row.role),
        name=row.name,
        email=row.email,
        phone=row.phone,
        organisation=row.organisation,
        coordinator_id=row.coordinator_id,
        oidc_subject=row.oidc_subject,
        disabled=bool(row.disabled),
        created_at=_utc(row.created_at),
    )


class IdentityStore:
    """Users and tokens in one database. Every method is a short transaction, safe to call from
    several threads (the web service) and processes (the CLI next to it)."""

    def __init__(self, database_url: str):
        url = sa.make_url(database_url)
        kwargs: dict[str, Any] = {}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # The service's threads share the pool; the CLI may write while it runs.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        self._engine = sa.create_engine(url, **kwargs)
        try:
            _metadata.create_all(self._engine)
        except sa.exc.DatabaseError:
            # Another process (the CLI beside the web service) created a table between this
            # one's check and its CREATE; a second pass finds it, and any error is real.
            _metadata.create_all(self._engine)

    @classmethod
    def from_settings(cls, settings: CaseflowSettings) -> IdentityStore:
        return cls(settings.identity_database())

    def close(self) -> None:
        self._engine.dispose()

    # Users.

    def add_user(
        self,
        login: str,
        role: Role | str,
        *,
        name: str,
        email: str,
        phone: str | None = None,
        organisation: str | None = None,
        password: str | None = None,
        coordinator_id: str | None = None,
        oidc_subject: str | None = None,
    ) -> User:
        check_login(login)
        try:
            role = Role(role)
        except ValueError:
            known = ", ".join(r.value for r in _LOGIN_ROLES)
            raise ValueError(f"role: {role!r} is not one of {known}") from None
        if coordinator_id is None and role == Role.COORDINATOR:
            coordinator_id = login
        user = User(
            login=login,
            role=role,
            name=name,
            email=email,
            phone=phone,
            organisation=organisation,
            coordinator_id=coordinator_id,
            oidc_subject=oidc_subject,
            created_at=datetime.now(UTC),
        )
        password_hash = _hasher.hash(check_password(password)) if password is not None else None
        with self._engine.begin() as db:
            if db.execute(sa.select(_users.c.login).where(_users.c.login == login)).first():
                raise ValueError(f"user {login!r} already exists")
            if oidc_subject is not None and db.execute(
                sa.select(_users.c.login).where(_users.c.oidc_subject == oidc_subject)
            ).first():
                raise ValueError("oidc_subject: another user already has it")
            try:
                db.execute(
                    _users.insert().values(
                        **user.model_dump(exclude={"disabled"}), password_hash=password_hash,
                        disabled=False,
                    )
                )
            except sa.exc.IntegrityError:
                # Another process added it between the check and the insert.
                raise ValueError(f"user {login!r} already exists") from None
        return user

    def get_user(self, login: str) -> User | None:
        if not LOGIN_PATTERN.fullmatch(login):
            return None
        with self._engine.connect() as db:
            row = db.execute(sa.select(_users).where(_users.c.login == login)).first()
        return _user(row) if row else None

    def list_users(self) -> list[User]:
        with self._engine.connect() as db:
            rows = db.execute(sa.select(_users).order_by(_users.c.login)).all()
        return [_user(row) for row in rows]

    def set_password(self, login: str, password: str) -> None:
        password_hash = _hasher.hash(check_password(password))
        with self._engine.begin() as db:
            done = db.execute(
                _users.update().where(_users.c.login == login).values(password_hash=password_hash)
            )
        if done.rowcount == 0:
            raise UnknownUser(f"no user {login!r}")

    def disable_user(self, login: str) -> None:
        """Refuse the user's logins, sessions and tokens from now on. Safe to repeat."""
        with self._engine.begin() as db:
            done = db.execute(
                _users.update().where(_users.c.login == login).values(disabled=True)
            )
        if done.rowcount == 0:
            raise UnknownUser(f"no user {login!r}")

    def verify_password(self, login: str, password: str) -> User | None:
        """The user if the password is theirs and they may log in; None otherwise, in about the
        same time whether or not the login exists."""
        row = None
        if LOGIN_PATTERN.fullmatch(login):
            with self._engine.connect() as db:
                row = db.execute(sa.select(_users).where(_users.c.login == login)).first()
        if row is None or row.password_hash is None:
            with contextlib.suppress(VerificationError):
                _hasher.verify(_unknown_login_hash(), password)
            return None
        try:
            _hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if row.disabled:
            return None
        if _hasher.check_needs_rehash(row.password_hash):
            # Parameters have grown since this hash was made; the plain password is at hand now.
            with self._engine.begin() as db:
                db.execute(
                    _users.update()
                    .where(_users.c.login == login)
                    .values(password_hash=_hasher.hash(password))
                )
        return _user(row)

    def user_for_oidc(self, subject: str, email: str | None) -> User | None:
        """The enabled user an OpenID Connect login stands for: by subject, else by an e-mail the
        provider has verified (pass None otherwise) when exactly one user has it."""
        with self._engine.connect() as db:
            row = db.execute(sa.select(_users).where(_users.c.oidc_subject == subject)).first()
            if row is None and email:
                rows = db.execute(
                    sa.select(_users).where(
                        sa.func.lower(_users.c.email) == email.lower(),
                        _users.c.oidc_subject.is_(None),
                    )
                ).all()
                row = rows[0] if len(rows) == 1 else None
        if row is None or row.disabled:
            return None
        return _user(row)

    def coordinator_contact(self, coordinator_id: str) -> CoordinatorContact | None:
        """Who a case's coordinator id stands for, for letters and mail. None when nobody enabled
        has it: callers fall back to the team's address."""
        with self._engine.connect() as db:
            rows = db.execute(
                sa.select(_users)
                .where(_users.c.coordinator_id == coordinator_id, _users.c.disabled.is_(False))
                # The coordinator whose login is the id first, then any other holder.
                .order_by((_users.c.login == coordinator_id).desc(), _users.c.login)
            ).all()
        if not rows:
            return None
        row = rows[0]
        return CoordinatorContact(
            coordinator_id=coordinator_id,
            name=row.name,
            email=row.email,
            phone=row.phone,
            organisation=row.organisation,
        )

    # Tokens.

    def create_token(
        self,
        *,
        user: str | None = None,
        hospital_id: str | None = None,
        label: str = "",
        expires_in_days: int | None = None,
        expires_in: timedelta | None = None,
    ) -> IssuedToken:
        """A new API token for a user (their role) or a hospital (role hospital). The secret is
        returned once; only its SHA-256 is kept."""
        if (user is None) == (hospital_id is None):
            raise ValueError("a token is for one user or one hospital: give exactly one")
        if expires_in_days is not None:
            if expires_in is not None:
                raise ValueError("give expires_in_days or expires_in, not both")
            if expires_in_days <= 0:
                raise ValueError("days: must be at least 1")
            expires_in = timedelta(days=expires_in_days)
        if len(label) > 100 or any(ord(c) < 32 or ord(c) == 127 for c in label):
            raise ValueError("label: at most 100 characters, no control characters")
        now = datetime.now(UTC)
        with self._engine.begin() as db:
            if user is not None:
                row = db.execute(sa.select(_users).where(_users.c.login == user)).first()
                if row is None:
                    raise UnknownUser(f"no user {user!r}")
                if row.disabled:
                    raise ValueError(f"user {user!r} is disabled")
                role = Role(row.role)
            else:
                from caseflow.hospitals import HospitalDirectory

                HospitalDirectory.load_default().get(hospital_id or "")
                role = Role.HOSPITAL
            token_id = secrets.token_hex(8)
            secret = f"cf_{token_id}_{secrets.token_urlsafe(32)}"
            expires_at = now + expires_in if expires_in is not None else None
            db.execute(
                _tokens.insert().values(
                    token_id=token_id,
                    secret_sha256=_secret_digest(secret),
                    role=role.value,
                    user_login=user,
                    hospital_id=hospital_id,
                    label=label,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
        return IssuedToken(token_id=token_id, secret=secret, expires_at=expires_at)

    def revoke_token(self, token_id: str) -> None:
        """Refuse the token from now on. Revoking a revoked token keeps the first time."""
        with self._engine.begin() as db:
            row = db.execute(
                sa.select(_tokens.c.revoked_at).where(_tokens.c.token_id == token_id)
            ).first()
            if row is None:
                raise UnknownToken(f"no token {token_id!r}")
            if row.revoked_at is None:
                db.execute(
                    _tokens.update()
                    .where(_tokens.c.token_id == token_id)
                    .values(revoked_at=datetime.now(UTC))
                )

    def list_tokens(self) -> list[TokenRecord]:
        with self._engine.connect() as db:
            rows = db.execute(self._token_query().order_by(_tokens.c.created_at)).all()
        return [self._record(row) for row in rows]

    def resolve_token(self, secret: str) -> TokenRecord | None:
        """Who a presented secret stands for; None if unknown, revoked, expired, or its user is
        disabled or gone."""
        match = _TOKEN.fullmatch(secret)
        if match is None:
            return None
        with self._engine.connect() as db:
            row = db.execute(
                self._token_query().where(_tokens.c.token_id == match.group(1))
            ).first()
        if row is None or not secrets.compare_digest(row.secret_sha256, _secret_digest(secret)):
            return None
        if row.user_login is not None and (row.user_role is None or row.user_disabled):
            return None
        record = self._record(row)
        return record if record.state() == "active" else None

    @staticmethod
    def _token_query() -> sa.Select:
        return sa.select(
            _tokens,
            _users.c.role.label("user_role"),
            _users.c.disabled.label("user_disabled"),
            _users.c.coordinator_id.label("user_coordinator_id"),
        ).select_from(_tokens.outerjoin(_users, _tokens.c.user_login == _users.c.login))

    @staticmethod
    def _record(row: Any) -> TokenRecord:
        # A user's token carries the user's current role, so a role change applies at once.
        role = Role(row.user_role) if row.user_login and row.user_role else Role(row.role)
        return TokenRecord(
            token_id=row.token_id,
            role=role,
            user=row.user_login,
            hospital_id=row.hospital_id,
            coordinator_id=row.user_coordinator_id,
            label=row.label or "",
            created_at=_utc(row.created_at),
            expires_at=_utc_or_none(row.expires_at),
            revoked_at=_utc_or_none(row.revoked_at),
        )


# The demo stack's people: fictional, on a reserved domain, for 'caseflow dev up' only.
DEMO_USERS: tuple[dict[str, str], ...] = (
    {
        "login": "coord-demo",  # the coordinator id examples/intake.json carries
        "role": Role.COORDINATOR,
        "name": "Dana Whitfield",
        "email": "coord-demo@coordinators.example.invalid",
        "phone": "+44 20 7946 0001",
        "organisation": "CancerFax (demo)",
    },
    {
        "login": "supervisor-demo",
        "role": Role.SUPERVISOR,
        "name": "Sam Okafor",
        "email": "supervisor-demo@coordinators.example.invalid",
        "phone": "+44 20 7946 0002",
        "organisation": "CancerFax (demo)",
    },
    {
        "login": "ops-demo",
        "role": Role.OPS,
        "name": "Ops Demo",
        "email": "ops-demo@coordinators.example.invalid",
        "organisation": "CancerFax (demo)",
    },
)
DEMO_LOGINS_FILE = "demo-logins.txt"


def ensure_demo_users(settings: CaseflowSettings) -> Path:
    """Create the demo users that are missing, give any without a known password a new one, and
    write every demo login and password to <data_dir>/demo-logins.txt (mode 600)."""
    path = settings.data_dir / DEMO_LOGINS_FILE
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and not line.startswith("#"):
                known[parts[0]] = parts[2]
    store = IdentityStore.from_settings(settings)
    try:
        lines = ["# caseflow demo logins: the local stack only ('caseflow dev up')"]
        for spec in DEMO_USERS:
            login = spec["login"]
            password = known.get(login)
            user = store.get_user(login)
            if user is None:
                password = secrets.token_urlsafe(12)
                details = {k: v for k, v in spec.items() if k not in ("login", "role")}
                store.add_user(login, spec["role"], password=password, **details)
            elif password is None or store.verify_password(login, password) is None:
                password = secrets.token_urlsafe(12)
                store.set_password(login, password)
            lines.append(f"{login:<16} {spec['role']:<12} {password}")
    finally:
        store.close()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path
