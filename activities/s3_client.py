"""The boto3 S3 client for the documents bucket, built from settings alone, so the same code talks
to SeaweedFS on loopback and to AWS S3 in production."""

from __future__ import annotations

import boto3
from botocore.config import Config

from caseflow.settings import CaseflowSettings


def build_s3_client(
    settings: CaseflowSettings,
    *,
    read_timeout: float = 60,
    pool: int = 10,
    sign_payload: bool = True,
):
    """One client per activity class; `sign_payload=False` suits bodies that already carry an
    x-amz-checksum-sha256, which the server verifies and the signature covers, so hashing them
    again for SigV4 would only cost CPU."""
    secret = settings.s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            signature_version="s3v4",
            # Path style works with SeaweedFS, MinIO and AWS alike.
            s3={"addressing_style": "path", "payload_signing_enabled": sign_payload},
            connect_timeout=5,
            read_timeout=read_timeout,
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=pool,
            tcp_keepalive=True,
        ),
    )
