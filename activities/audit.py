"""The audit trail: who was sent, shown or erased what, as append-only JSON lines per case in S3.

Each entry is one object `audit/<case_id>/<time>-<entry_id>.jsonl`, written with If-None-Match so
nothing is ever overwritten, under Object Lock (governance mode) when the bucket has it. Entries
hold opaque ids, counts, channels and key ids only: never patient data, never plaintext.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.s3_client import build_s3_client, error_code, put_once
from caseflow.ids import CASE_ID_PATTERN
from caseflow.settings import CaseflowSettings

AUDIT_PREFIX = "audit/"
# Codec decodes the UI makes outside any case page (a workflow list, a query) go here.
UNATTRIBUTED = "_unattributed"
# Logins, logouts and API tokens: who got in, under no case (client/access_audit.py writes them).
ACCESS = "_access"
_DETAIL_VALUE = str | int | bool | None


class AuditAction(StrEnum):
    PACKET_GENERATED = "packet_generated"
    PACKET_DELIVERED = "packet_delivered"
    PRESIGNED_URL_ISSUED = "presigned_url_issued"
    DOCUMENTS_ERASED = "documents_erased"
    ERASURE_NOTICE_SENT = "erasure_notice_sent"
    HISTORY_DELETED = "history_deleted"
    PAYLOADS_DECODED = "payloads_decoded"
    PAYLOADS_ENCODED = "payloads_encoded"
    CASE_ACCESSED = "case_accessed"  # a person or token read or acted on a case through the API
    # Access to the web service and the API (audit/_access/).
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGGED_OUT = "logged_out"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_USED = "token_used"  # one entry per token per minute, with the count of requests
    USER_ADDED = "user_added"
    USER_DISABLED = "user_disabled"


ACCESS_ACTIONS = frozenset({
    AuditAction.LOGIN_SUCCEEDED, AuditAction.LOGIN_FAILED, AuditAction.LOGGED_OUT,
    AuditAction.TOKEN_CREATED, AuditAction.TOKEN_REVOKED, AuditAction.TOKEN_USED,
    AuditAction.USER_ADDED, AuditAction.USER_DISABLED,
})


class AuditEvent(BaseModel):
    """One entry. `entry_id` and `at` come from the caller (a workflow passes workflow.uuid4()
    and workflow.now()), so a retried write lands on the same key and is not doubled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str | None = Field(default=None, pattern=CASE_ID_PATTERN.pattern)
    action: AuditAction
    actor: str = Field(pattern=r"^[A-Za-z0-9@._:/+-]{1,120}$")  # an identity, never a name
    at: datetime
    entry_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    workflow_id: str | None = None
    hospital_id: str | None = None
    subject: str | None = None  # an opaque id: packet, document, message, run
    detail: dict[str, _DETAIL_VALUE] = Field(default_factory=dict)

    @classmethod
    def now(cls, **fields) -> AuditEvent:
        return cls(at=datetime.now(UTC), entry_id=uuid.uuid4().hex, **fields)


def audit_prefix(case_id: str | None) -> str:
    return f"{AUDIT_PREFIX}{case_id or UNATTRIBUTED}/"


def audit_key(event: AuditEvent) -> str:
    stamp = event.at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    if event.case_id is None and event.action in ACCESS_ACTIONS:
        return f"{AUDIT_PREFIX}{ACCESS}/{stamp}-{event.entry_id}.jsonl"
    return f"{audit_prefix(event.case_id)}{stamp}-{event.entry_id}.jsonl"


def activity_entry_id() -> str:
    """A stable id for an entry an activity writes about its own attempt: a retry of the same
    attempt (a lost S3 answer) writes the same key; the next attempt is a new entry."""
    info = activity.info()
    name = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}/{info.attempt}"
    return uuid.uuid5(uuid.NAMESPACE_URL, name).hex


def activity_event(**fields) -> AuditEvent:
    """An entry about what the running activity did (or, called outside an activity, what the
    caller did just now): inside an activity the id and time are fixed per attempt."""
    if not activity.in_activity():
        fields.setdefault("actor", "coordinator")
        return AuditEvent.now(**fields)
    fields.setdefault("actor", "worker")
    fields.setdefault("workflow_id", activity.info().workflow_id)
    return AuditEvent(
        at=activity.info().current_attempt_scheduled_time, entry_id=activity_entry_id(), **fields
    )


class AuditTrail:
    """Holds the S3 client for the audit bucket. Writing is synchronous (boto3): activities run
    it on the worker's thread pool, async callers through asyncio.to_thread."""

    def __init__(self, settings: CaseflowSettings, s3_client=None) -> None:
        self._bucket = settings.audit_bucket
        self._retention = timedelta(days=settings.audit_retention_days)
        self._client = s3_client or build_s3_client(settings)
        self._ready = threading.Lock()
        self._locked: bool | None = None  # whether the bucket has Object Lock; None: not checked

    @property
    def bucket(self) -> str:
        return self._bucket

    def ensure_bucket(self) -> bool:
        """Create the bucket with Object Lock (and so versioning) if missing. Returns whether the
        bucket has Object Lock. Safe to call on every start."""
        with self._ready:
            if self._locked is not None:
                return self._locked
            try:
                self._client.head_bucket(Bucket=self._bucket)
            except ClientError as error:
                if error_code(error) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                # Object Lock can only be turned on when the bucket is created.
                try:
                    self._client.create_bucket(
                        Bucket=self._bucket, ObjectLockEnabledForBucket=True
                    )
                except ClientError as error:
                    if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
            try:
                config = self._client.get_object_lock_configuration(Bucket=self._bucket)
                enabled = config["ObjectLockConfiguration"].get("ObjectLockEnabled")
                self._locked = enabled == "Enabled"
            except ClientError as error:
                unsupported = ("ObjectLockConfigurationNotFoundError", "NotImplemented")
                if error_code(error) not in unsupported:
                    raise
                self._locked = False
            return self._locked

    def record(self, event: AuditEvent) -> str:
        """Write one entry; an entry already written under the same key counts as written."""
        locked = self.ensure_bucket()
        key = audit_key(event)
        extra = {}
        if locked:
            extra = {
                "ObjectLockMode": "GOVERNANCE",
                "ObjectLockRetainUntilDate": datetime.now(UTC) + self._retention,
            }
        try:
            put_once(
                self._client,
                self._bucket,
                key,
                event.model_dump_json().encode() + b"\n",
                ContentType="application/x-ndjson",
                **extra,
            )
        except ClientError as error:
            reason = error_code(error) or "error"
            raise ApplicationError(
                f"audit trail: write failed ({reason})", type="AuditUnavailable"
            ) from None
        return key

    def entries(self, case_id: str) -> list[AuditEvent]:
        """Every entry of a case, oldest first."""
        return self._entries_under(audit_prefix(case_id))

    def access_entries(self) -> list[AuditEvent]:
        """Every login, logout and token entry, oldest first."""
        return self._entries_under(f"{AUDIT_PREFIX}{ACCESS}/")

    def _entries_under(self, prefix: str) -> list[AuditEvent]:
        if self.ensure_bucket() is None:  # pragma: no cover - ensure_bucket always answers
            return []
        found = []
        pages = self._client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = self._client.get_object(Bucket=self._bucket, Key=item["Key"])["Body"]
                for line in body.read().decode().splitlines():
                    if line.strip():
                        found.append(AuditEvent.model_validate(json.loads(line)))
        return sorted(found, key=lambda e: (e.at, e.entry_id))
