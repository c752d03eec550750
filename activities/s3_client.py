"""The S3 client (botocore) for the documents bucket, built from settings alone, so the same code
talks to SeaweedFS on loopback and to AWS S3 in production; the server-side encryption every write
asks for (the one place it is decided); and the few S3 operations every activity class shares:
write once, read if present, presign within the 7-day limit."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.utils import percent_encode

from activities.s3_session import s3_session
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
    client = s3_session().create_client(
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
    ask_for_encryption(client, settings)
    return client


# The operations that create an object: each names the encryption it is stored under. Parts of a
# multipart upload take the one named at its creation (SSE-S3 and SSE-KMS need nothing per part).
WRITES = ("PutObject", "CreateMultipartUpload", "CopyObject")


def encryption_params(settings: CaseflowSettings) -> dict[str, Any]:
    """The server-side encryption parameters of every object caseflow writes."""
    if settings.s3_server_side_encryption == "aws:kms":
        params: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True}
        if settings.s3_kms_key_id:
            params["SSEKMSKeyId"] = settings.s3_kms_key_id
        return params
    return {"ServerSideEncryption": "AES256"}


def ask_for_encryption(client, settings: CaseflowSettings) -> None:
    """Make every write through `client` ask for `encryption_params`, whoever builds the call
    (documents, letters, audit, portal records, multipart uploads), so no put can forget it.
    A bucket default would cover SeaweedFS, but on AWS the service need not own the bucket."""
    wanted = encryption_params(settings)

    def add_encryption(params: dict[str, Any], **_: Any) -> None:
        # botocore passes the call's parameters as `params`; what the caller named stays.
        for name, value in wanted.items():
            params.setdefault(name, value)

    for operation in WRITES:
        client.meta.events.register(f"provide-client-params.s3.{operation}", add_encryption)


# The SigV4 limit for presigned URLs: no link caseflow signs lives longer.
PRESIGN_LIMIT = timedelta(days=7)

_MISSING = ("NoSuchKey", "404", "NotFound")
# What S3 and SeaweedFS answer when an If-None-Match put finds the key taken (or racing).
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict", "412")


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing(error: ClientError) -> bool:
    return error_code(error) in _MISSING


def is_taken(error: ClientError) -> bool:
    """A conditional write lost: the key already holds an object."""
    return error_code(error) in _TAKEN


def put_once(client, bucket: str, key: str, body: Any, **params: Any) -> bool:
    """Write `key` unless it exists (If-None-Match); False when it was already there. Objects
    caseflow writes are never overwritten, so a retry finds what the first attempt stored."""
    try:
        client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", **params)
    except ClientError as error:
        if is_taken(error):
            return False
        raise
    return True


def get_bytes(client, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when there is none."""
    try:
        answer = client.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing(error):
            return None
        raise
    return answer["Body"].read()


def check_presign_ttl(ttl: timedelta, field: str) -> int:
    """The link's lifetime in whole seconds; ValueError unless 0 < ttl <= PRESIGN_LIMIT."""
    seconds = int(ttl.total_seconds())
    if seconds <= 0 or ttl > PRESIGN_LIMIT:
        raise ValueError(f"{field}: must be more than 0 s and at most 7 days")
    return seconds


def presign_get(
    client, bucket: str, key: str, ttl: timedelta, disposition: str | None = None
) -> str:
    """A GET link for `key` that expires after `ttl` (at most PRESIGN_LIMIT). `disposition`
    is the Content-Disposition the download answers with (S3's response-content-disposition),
    so it saves under a real file name; it travels in the URL, so it must hold no patient data."""
    params = {"Bucket": bucket, "Key": key}
    if disposition is not None:
        params["ResponseContentDisposition"] = disposition
    return client.generate_presigned_url(
        "get_object", Params=params, ExpiresIn=check_presign_ttl(ttl, "expires_in")
    )


class GetLinks:
    """Presigned GET links for many keys of one bucket, for a packet's fifty-odd documents.

    The same links as presign_get at about half the CPU: the client resolves the bucket's URL
    once, and each link is then signed by botocore's own S3 SigV4 query signer, skipping the
    client's parameter events, endpoint rules and serialiser that generate_presigned_url runs
    for every link. Credentials are the client's (the settings' keys, or the session's chain),
    frozen per link, so a refreshed role's keys are used as they change."""

    def __init__(self, client, bucket: str, settings: CaseflowSettings) -> None:
        self._client = client
        self._bucket = bucket
        self._settings = settings

    @cached_property
    def _bucket_url(self) -> str:
        # The URL botocore builds for a key is the bucket's URL and the key, percent-encoded as
        # its serialiser does a greedy path label; the probe's own link is never used.
        probe = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": "_"}, ExpiresIn=1
        )
        return probe.split("?", 1)[0].removesuffix("_")

    @cached_property
    def _credentials(self) -> Credentials | None:
        # Resolved on the first link, as the client resolves its own when it first signs.
        return _credentials(self._settings)

    def presign(self, key: str, ttl: timedelta, disposition: str | None = None) -> str:
        """presign_get's link for `key` (see there for `ttl` and `disposition`)."""
        if self._credentials is None:
            raise NoCredentialsError()
        signer = S3SigV4QueryAuth(
            self._credentials.get_frozen_credentials(), "s3", self._client.meta.region_name,
            expires=check_presign_ttl(ttl, "expires_in"),
        )
        request = AWSRequest(
            method="GET",
            url=self._bucket_url + percent_encode(key, safe="/~"),
            params={} if disposition is None else {"response-content-disposition": disposition},
        )
        signer.add_auth(request)
        return request.prepare().url


def _credentials(settings: CaseflowSettings) -> Credentials | None:
    """The credentials build_s3_client's client signs with: the settings' keys when both are
    given (its client refuses one alone), else the session's provider chain."""
    secret = settings.s3_secret_access_key
    if settings.s3_access_key_id is not None and secret is not None:
        return Credentials(settings.s3_access_key_id, secret.get_secret_value())
    return s3_session().get_credentials()
