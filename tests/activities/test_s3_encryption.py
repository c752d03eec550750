"""Every write caseflow's S3 clients make names its server-side encryption, decided in one place
(activities/s3_client.py) from settings: SSE-S3 by default, SSE-KMS with a key id on AWS. The
requests are checked as botocore builds them (its Stubber sends nothing); the embedded store's
encryption itself is tested for real in tests/integration/test_encryption_at_rest.py."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from activities.s3_client import build_s3_client, encryption_params, put_once
from caseflow.settings import CaseflowSettings


def settings(tmp_path, **fields) -> CaseflowSettings:
    return CaseflowSettings(data_dir=tmp_path, s3_access_key_id="ak", s3_secret_access_key="sk",
                            **fields)


def test_every_put_and_multipart_upload_asks_for_sse_s3_by_default(tmp_path):
    client = build_s3_client(settings(tmp_path))
    with Stubber(client) as stub:
        stub.add_response("put_object", {}, {
            "Bucket": "b", "Key": "k", "Body": b"x", "IfNoneMatch": "*",
            "ContentType": "application/json", "ServerSideEncryption": "AES256"})
        stub.add_response("create_multipart_upload", {"UploadId": "u"}, {
            "Bucket": "b", "Key": "k2", "ServerSideEncryption": "AES256"})
        assert put_once(client, "b", "k", b"x", ContentType="application/json")
        client.create_multipart_upload(Bucket="b", Key="k2")
        stub.assert_no_pending_responses()


def test_sse_kms_names_the_key_from_settings(tmp_path):
    kms = settings(tmp_path, s3_server_side_encryption="aws:kms",
                   s3_kms_key_id="arn:aws:kms:eu-west-1:111122223333:alias/caseflow")
    client = build_s3_client(kms)
    expected = {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True,
                "SSEKMSKeyId": "arn:aws:kms:eu-west-1:111122223333:alias/caseflow"}
    assert encryption_params(kms) == expected
    with Stubber(client) as stub:
        stub.add_response("put_object", {}, {"Bucket": "b", "Key": "k", "Body": b"x", **expected})
        stub.add_response("copy_object", {}, {
            "Bucket": "b", "Key": "k3", "CopySource": "b/k", **expected})
        client.put_object(Bucket="b", Key="k", Body=b"x")
        client.copy_object(Bucket="b", Key="k3", CopySource="b/k")
        stub.assert_no_pending_responses()
    # Without a key id, the account's aws/s3 key.
    assert encryption_params(settings(tmp_path, s3_server_side_encryption="aws:kms")) == {
        "ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True}


def test_a_kms_key_without_kms_is_refused(tmp_path):
    with pytest.raises(ValidationError, match="CASEFLOW_S3_KMS_KEY_ID needs"):
        settings(tmp_path, s3_kms_key_id="alias/caseflow")
    with pytest.raises(ValidationError, match="s3_server_side_encryption"):
        settings(tmp_path, s3_server_side_encryption="none")
