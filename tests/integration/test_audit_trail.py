"""The audit trail on real SeaweedFS, and what SeaweedFS 4.48's Object Lock does and does not
enforce (docs/data-protection.md quotes these results)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from activities.audit import AuditAction, AuditEvent, AuditTrail, audit_key
from caseflow.ids import new_case_id

pytestmark = pytest.mark.integration


def code_of(call) -> str:
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return "ok"


def test_seaweedfs_object_lock_in_governance_mode(seaweed):
    s3 = seaweed.client()
    bucket = f"lock-probe-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    # Object Lock turns versioning on, as on AWS.
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"

    until = datetime.now(UTC) + timedelta(days=1)
    put = s3.put_object(
        Bucket=bucket, Key="a", Body=b"1", ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until, IfNoneMatch="*",
    )
    version = put["VersionId"]
    assert s3.get_object_retention(Bucket=bucket, Key="a")["Retention"]["Mode"] == "GOVERNANCE"

    # Enforced: a locked version cannot be deleted, singly or in a batch, nor its retention
    # shortened; If-None-Match refuses a second write to the key.
    assert code_of(lambda: s3.delete_object(Bucket=bucket, Key="a", VersionId=version)) == (
        "AccessDenied"
    )
    batch = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": version}]}
    )
    assert batch["Errors"][0]["Code"] == "AccessDenied"
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(seconds=1)}
    assert code_of(
        lambda: s3.put_object_retention(Bucket=bucket, Key="a", VersionId=version,
                                        Retention=shorter)
    ) == "AccessDenied"
    assert code_of(
        lambda: s3.put_object(Bucket=bucket, Key="a", Body=b"2", IfNoneMatch="*")
    ) == "PreconditionFailed"
    assert code_of(lambda: s3.delete_bucket(Bucket=bucket)) == "BucketNotEmpty"

    # Not prevented (as on AWS): a plain PUT adds a newer version and a plain DELETE adds a delete
    # marker; the locked version stays readable by its version id.
    s3.put_object(Bucket=bucket, Key="a", Body=b"3")
    s3.delete_object(Bucket=bucket, Key="a")
    assert s3.get_object(Bucket=bucket, Key="a", VersionId=version)["Body"].read() == b"1"

    # Governance mode yields to BypassGovernanceRetention, which this store's admin identity
    # holds: the lock stops accidents and ordinary deletes, not an administrator.
    assert code_of(
        lambda: s3.delete_object(Bucket=bucket, Key="a", VersionId=version,
                                 BypassGovernanceRetention=True)
    ) == "ok"

    # Compliance mode refuses even the bypass.
    sealed = s3.put_object(
        Bucket=bucket, Key="c", Body=b"1", ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )["VersionId"]
    assert code_of(
        lambda: s3.delete_object(Bucket=bucket, Key="c", VersionId=sealed,
                                 BypassGovernanceRetention=True)
    ) == "AccessDenied"

    # A bucket's default retention applies to writes that name none.
    s3.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    plain = s3.put_object(Bucket=bucket, Key="d", Body=b"1")["VersionId"]
    assert code_of(lambda: s3.delete_object(Bucket=bucket, Key="d", VersionId=plain)) == (
        "AccessDenied"
    )

    # A bucket created without Object Lock refuses retention outright.
    unlocked = f"{bucket}-plain"
    s3.create_bucket(Bucket=unlocked)
    assert code_of(
        lambda: s3.put_object(Bucket=unlocked, Key="x", Body=b"1", ObjectLockMode="GOVERNANCE",
                              ObjectLockRetainUntilDate=until)
    ) == "InvalidRequest"


def test_audit_entries_are_append_only_and_locked(seaweed):
    settings = seaweed.settings.model_copy(
        update={"audit_bucket": f"audit-{uuid.uuid4().hex[:8]}"}
    )
    trail = AuditTrail(settings)
    assert trail.ensure_bucket() is True
    case_id = new_case_id()
    first = AuditEvent.now(
        case_id=case_id, action=AuditAction.PACKET_GENERATED, actor="worker",
        subject="packet-1234abcd", hospital_id="cn-beijing-cancer", detail={"documents": 3},
    )
    second = AuditEvent.now(
        case_id=case_id, action=AuditAction.PACKET_DELIVERED, actor="worker",
        subject="packet-1234abcd", hospital_id="cn-beijing-cancer", detail={"channel": "email"},
    )
    key = trail.record(second)
    trail.record(first)
    assert trail.record(second) == key  # a retried write is the same entry, not a second one
    assert [e.action for e in trail.entries(case_id)] == [
        AuditAction.PACKET_GENERATED,
        AuditAction.PACKET_DELIVERED,
    ]
    s3 = seaweed.client()
    listed = s3.list_object_versions(Bucket=trail.bucket, Prefix=f"audit/{case_id}/")
    assert len(listed["Versions"]) == 2
    assert key == audit_key(second) and key.startswith(f"audit/{case_id}/")
    head = s3.head_object(Bucket=trail.bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(days=365 * 5)
    version = head["VersionId"]
    assert code_of(
        lambda: s3.delete_object(Bucket=trail.bucket, Key=key, VersionId=version)
    ) == "AccessDenied"


def test_audit_events_refuse_free_text_identities():
    with pytest.raises(ValueError, match="actor"):
        AuditEvent.now(action=AuditAction.PAYLOADS_DECODED, actor="Dr Jane Roe")
    with pytest.raises(ValueError, match="case_id"):
        AuditEvent.now(case_id="Jane", action=AuditAction.PAYLOADS_DECODED, actor="ops")
