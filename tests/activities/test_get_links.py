"""A packet's many presigned GET links (activities/s3_client.py GetLinks) are the very links
botocore's generate_presigned_url makes, for every endpoint shape caseflow is configured with,
with keys and dispositions that need encoding. botocore's clock is held still so two signings
can be compared; that the store accepts the links is tested against SeaweedFS in
tests/integration/test_packet_delivery.py (the letter's download)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.auth
import pytest
from botocore.exceptions import NoCredentialsError

from activities.letter_words import content_disposition
from activities.s3_client import GetLinks, build_s3_client, presign_get
from caseflow.settings import CaseflowSettings

KEYS = ["cases/abc/documents/d1", "cases/a b/ü+~!*'()&=?#x", "routes/packets/p.json"]
DISPOSITIONS = [None, 'attachment; filename="x.pdf"', content_disposition("活检报告-d1.pdf")]


@pytest.fixture
def still_clock(monkeypatch):
    now = datetime(2026, 3, 15, 10, 30, 5, tzinfo=UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_, **__: now)


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("http://127.0.0.1:8333", "us-east-1"),  # SeaweedFS on loopback
        (None, "eu-central-1"),  # AWS S3
        (None, "us-east-1"),
        ("https://s3.example.invalid:9000/prefix", "ap-south-1"),
    ],
)
def test_the_links_are_botocores_own(still_clock, tmp_path, endpoint, region):
    settings = CaseflowSettings(
        data_dir=tmp_path, s3_endpoint_url=endpoint, s3_region=region,
        s3_access_key_id="AKIDEXAMPLE", s3_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXA",
    )
    client = build_s3_client(settings)
    links = GetLinks(client, "caseflow-docs", settings)
    for key in KEYS:
        for disposition in DISPOSITIONS:
            for ttl in (timedelta(days=7), timedelta(seconds=90)):
                assert links.presign(key, ttl, disposition) == presign_get(
                    client, "caseflow-docs", key, ttl, disposition
                )
    client.close()


def test_a_link_past_seven_days_or_without_credentials_is_refused(tmp_path, monkeypatch):
    settings = CaseflowSettings(data_dir=tmp_path, s3_access_key_id="ak", s3_secret_access_key="sk")
    client = build_s3_client(settings)
    links = GetLinks(client, "b", settings)
    with pytest.raises(ValueError, match="at most 7 days"):
        links.presign("k", timedelta(days=7, seconds=1))
    # No keys in settings and none in the session's chain: refused, as botocore refuses.
    bare = GetLinks(client, "b", CaseflowSettings(data_dir=tmp_path))
    monkeypatch.setattr("activities.s3_client._credentials", lambda _settings: None)
    with pytest.raises(NoCredentialsError):
        bare.presign("k", timedelta(hours=1))
    client.close()
