"""The shared S3 session's cut-down endpoint table resolves S3 and STS exactly as botocore's full
table does, in every partition, and holds no other service."""

from __future__ import annotations

import botocore.session
import pytest

from activities.s3_session import SERVICES, endpoint_table, s3_session

REGIONS = ["us-east-1", "eu-central-1", "ap-south-1", "cn-north-1", "us-gov-west-1", "eu-west-3"]


def test_the_table_keeps_only_the_services_caseflow_calls() -> None:
    table = endpoint_table()
    assert table["partitions"], "the partitions are kept"
    for partition in table["partitions"]:
        assert set(partition["services"]) <= SERVICES
        assert partition["regions"], "each partition keeps its regions"
    assert any("s3" in p["services"] for p in table["partitions"])


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("service", sorted(SERVICES))
def test_endpoints_resolve_as_with_the_full_table(service: str, region: str) -> None:
    options = {
        "region_name": region,
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "secret",
    }
    full = botocore.session.Session().create_client(service, **options)
    ours = s3_session().create_client(service, **options)
    assert ours.meta.endpoint_url == full.meta.endpoint_url
    assert ours.meta.partition == full.meta.partition
    if service == "s3":
        params = {"Bucket": "caseflow-documents", "Key": "cases/x/d1"}
        signed = [c.generate_presigned_url("put_object", Params=params) for c in (full, ours)]
        host = [url.split("?")[0] for url in signed]
        assert host[0] == host[1]
