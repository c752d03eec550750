"""The portal upload's plan and checks: part sizes within S3's limits, completion only when S3
holds exactly the planned parts, and which unfinished uploads the sweeper aborts."""

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.document_content import rejected
from activities.portal_uploads import checksum_from_b64
from caseflow.documents import DocumentKind
from caseflow.portal_uploads import (
    MAX_PARTS,
    MiB,
    PendingMultipart,
    PortalUpload,
    PortalUploadProblem,
    StoredPart,
    check_parts,
    choose_aborts,
    part_size_for,
)

NOW = datetime(2027, 1, 10, 12, tzinfo=UTC)
CASE = "a" * 26


def upload(size: int, part: int = 16 * MiB) -> PortalUpload:
    return PortalUpload(
        upload_id="d" + "b" * 26,
        case_id=CASE,
        kind=DocumentKind.IMAGING_MRI,
        size=size,
        part_size=part,
        s3_upload_id="u1",
        created_at=NOW,
        expires_at=NOW + timedelta(hours=48),
    )


def parts(plan: PortalUpload, numbers=None, sizes=None) -> list[StoredPart]:
    numbers = numbers or range(1, plan.part_count + 1)
    return [
        StoredPart(number=n, size=(sizes or {}).get(n, plan.part_length(n)), etag=f'"{n}"')
        for n in numbers
    ]


def test_part_size_grows_so_that_ten_thousand_parts_hold_the_file():
    assert part_size_for(1024 * MiB, 16 * MiB) == 16 * MiB
    assert part_size_for(200_000 * MiB, 16 * MiB) == 32 * MiB
    assert part_size_for(10, 1 * MiB) == 5 * MiB  # S3's minimum part
    big = 5 * 1024**4
    assert -(-big // part_size_for(big, 16 * MiB)) <= MAX_PARTS


def test_the_last_part_is_the_remainder():
    plan = upload(40 * MiB + 7)
    assert plan.part_count == 3
    assert [plan.part_length(n) for n in (1, 2, 3)] == [16 * MiB, 16 * MiB, 8 * MiB + 7]
    with pytest.raises(PortalUploadProblem, match="outside 1..3"):
        plan.part_length(4)


def test_complete_parts_are_returned_in_order():
    plan = upload(40 * MiB)
    stored = list(reversed(parts(plan)))
    assert [p.number for p in check_parts(plan, stored)] == [1, 2, 3]


def test_a_missing_part_is_named():
    plan = upload(40 * MiB)
    with pytest.raises(PortalUploadProblem, match=r"1 not uploaded yet \(2\)"):
        check_parts(plan, parts(plan, numbers=[1, 3]))


def test_a_part_of_the_wrong_size_is_refused():
    plan = upload(40 * MiB)
    with pytest.raises(PortalUploadProblem, match="part 2: 100 bytes"):
        check_parts(plan, parts(plan, sizes={2: 100}))


def test_a_part_beyond_the_plan_is_refused():
    plan = upload(40 * MiB)
    extra = parts(plan) + [StoredPart(number=4, size=5 * MiB, etag='"4"')]
    with pytest.raises(PortalUploadProblem, match="part 4: beyond"):
        check_parts(plan, extra)


def test_a_part_checksum_must_be_a_sha256():
    assert checksum_from_b64("A" * 43 + "=") == "A" * 43 + "="
    for bad in ("not base64!", "AAAA", ""):
        with pytest.raises(ApplicationError, match="sha256: must be the base64"):
            checksum_from_b64(bad)
    assert rejected("x").type == "DocumentRejected"


def test_the_sweeper_aborts_only_old_uploads_under_cases():
    expiry = timedelta(hours=48)

    def pending(key: str, hours_ago: float) -> PendingMultipart:
        return PendingMultipart(
            key=key, s3_upload_id=key, initiated=NOW - timedelta(hours=hours_ago)
        )

    old = pending(f"cases/{CASE}/d1", 49)
    exactly = pending(f"cases/{CASE}/d2", 48)
    fresh = pending(f"cases/{CASE}/d3", 1)  # a patient still uploading, or a CLI upload
    foreign = pending("audit/x", 500)  # not a document: not ours to touch
    chosen = choose_aborts([old, exactly, fresh, foreign], NOW, expiry)
    assert chosen == [old, exactly]
