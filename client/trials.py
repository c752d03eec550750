"""Trial navigation for the CLI and the web service (issue 15): import a registry download as the
snapshot in force, list it, match a case against it, refer a case to studies, and choose a case's
next option. One action, one place: `caseflow trials ...`, `caseflow case trials|trial-refer|
next-option` and the API call these.

The snapshot lives in the documents bucket under `registry/<registry>/snapshot.json.gz`, apart
from `cases/`: registry data is public and carries no patient data. One PUT replaces it whole, so
a refused or failed import leaves the previous snapshot in force, and the bucket's versioning
keeps the ones it replaced. Production needs nothing more than the S3 caseflow already has.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client

from activities.s3_client import build_s3_client, is_missing
from caseflow.case_status import EventAck
from caseflow.ids import registry_snapshot_key
from caseflow.settings import CaseflowSettings
from caseflow.trial_matching import TrialMatch, TrialMatchProfile, match_case
from caseflow.trial_referrals import (
    ChooseNextOption,
    ReferToTrials,
    referral_target,
)
from caseflow.trial_registry import (
    REGISTRIES,
    RegistryFileError,
    RegistrySnapshot,
    SnapshotSummary,
    TrialStudy,
    reader_for,
)
from client.cases import _update, case_handle, in_caseflow_words
from workflows.case import CaseWorkflow

ADVISORY = (
    "Trial matching is advisory: it ranks on what the case knows; each trial team decides "
    "eligibility for screening."
)
# Import files larger than this are refused before they are read (a registry download of every
# oncology study with sites in India and China is far smaller).
MAX_IMPORT_BYTES = 512 * 1024 * 1024
_META = ("imported-at", "source-sha256", "study-count")


def _key(registry: str) -> str:
    return registry_snapshot_key(registry) + ".gz"


def _head(s3, settings: CaseflowSettings, registry: str) -> dict | None:
    """The registry's snapshot object's head, or None before its first import."""
    try:
        return s3.head_object(Bucket=settings.s3_bucket, Key=_key(registry))
    except ClientError as error:
        if is_missing(error):
            return None
        raise


def read_registry_file(path: Path, registry: str = "clinicaltrials.gov") -> RegistrySnapshot:
    """The snapshot a file makes, or RegistryFileError with one line; nothing is stored."""
    reader = reader_for(registry)
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_IMPORT_BYTES:
            raise RegistryFileError(
                f"{name}: {size:,} bytes is over the {MAX_IMPORT_BYTES:,} limit"
            )
        raw = path.read_bytes()
    except OSError as error:
        raise RegistryFileError(f"{name}: cannot read the file ({error.strerror})") from None
    if not raw.strip():
        raise RegistryFileError(f"{name}: the file is empty")
    studies = reader.read(raw, name)
    return RegistrySnapshot(
        registry=registry,
        imported_at=datetime.now(UTC).replace(microsecond=0),
        source_sha256=hashlib.sha256(raw).hexdigest(),
        study_count=len(studies),
        studies=studies,
    )


def import_registry_file(
    settings: CaseflowSettings, path: Path, registry: str = "clinicaltrials.gov"
) -> SnapshotSummary:
    """Read, check and store a registry download as the snapshot in force. A refused file
    raises RegistryFileError before anything is written."""
    snapshot = read_registry_file(path, registry)
    body = gzip.compress(snapshot.model_dump_json().encode(), compresslevel=1)
    s3 = build_s3_client(settings)
    try:
        s3.put_object(
            Bucket=settings.s3_bucket,
            Key=_key(registry),
            Body=body,
            ContentType="application/json",
            ContentEncoding="gzip",
            ChecksumAlgorithm="SHA256",
            Metadata={
                "imported-at": snapshot.imported_at.isoformat(),
                "source-sha256": snapshot.source_sha256,
                "study-count": str(snapshot.study_count),
            },
        )
    finally:
        s3.close()
    _CACHE.pop(registry, None)
    return _summary(snapshot)


def _summary(snapshot: RegistrySnapshot) -> SnapshotSummary:
    return SnapshotSummary(
        registry=snapshot.registry, imported_at=snapshot.imported_at,
        source_sha256=snapshot.source_sha256, study_count=snapshot.study_count,
    )


def snapshot_summaries(settings: CaseflowSettings) -> list[SnapshotSummary]:
    """The snapshot in force for each registry imported so far (its date, file hash, count)."""
    s3 = build_s3_client(settings)
    found = []
    try:
        for registry in REGISTRIES:
            head = _head(s3, settings, registry)
            if head is None:
                continue
            meta = head.get("Metadata", {})
            if not all(k in meta for k in _META):
                continue
            found.append(SnapshotSummary(
                registry=registry,
                imported_at=datetime.fromisoformat(meta["imported-at"]),
                source_sha256=meta["source-sha256"],
                study_count=int(meta["study-count"]),
            ))
    finally:
        s3.close()
    return found


# The web service matches on every case page: keep each snapshot once per ETag.
_CACHE: dict[str, tuple[str, RegistrySnapshot]] = {}
_CACHE_LOCK = threading.Lock()


def load_snapshots(settings: CaseflowSettings) -> list[RegistrySnapshot]:
    """Every registry's snapshot in force (none imported: an empty list)."""
    s3 = build_s3_client(settings)
    snapshots = []
    try:
        for registry in REGISTRIES:
            head = _head(s3, settings, registry)
            if head is None:
                continue
            etag = head["ETag"]
            with _CACHE_LOCK:
                cached = _CACHE.get(registry)
            if cached is not None and cached[0] == etag:
                snapshots.append(cached[1])
                continue
            got = s3.get_object(Bucket=settings.s3_bucket, Key=_key(registry))
            snapshot = RegistrySnapshot.model_validate_json(gzip.decompress(got["Body"].read()))
            with _CACHE_LOCK:
                _CACHE[registry] = (got["ETag"], snapshot)
            snapshots.append(snapshot)
    finally:
        s3.close()
    return snapshots


def _studies(snapshots: list[RegistrySnapshot]) -> list[TrialStudy]:
    return [study for snapshot in snapshots for study in snapshot.studies]


class CaseTrialMatches(BaseModel):
    """`caseflow case trials CASE`: the ranked list and where it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str
    snapshots: list[SnapshotSummary]
    studies_considered: int
    matches: list[TrialMatch]
    advisory: str = ADVISORY


async def trial_profile(client: Client, case_id: str) -> TrialMatchProfile:
    with in_caseflow_words(case_id):
        return await case_handle(client, case_id).query(CaseWorkflow.trial_profile)


def _no_snapshot() -> RegistryFileError:
    return RegistryFileError(
        "trials: no trial registry imported yet; run 'caseflow trials import FILE' first"
    )


async def case_trial_matches(
    client: Client, settings: CaseflowSettings, case_id: str
) -> CaseTrialMatches:
    profile = await trial_profile(client, case_id)
    snapshots = await asyncio.to_thread(load_snapshots, settings)
    if not snapshots:
        raise _no_snapshot()
    studies = _studies(snapshots)
    return CaseTrialMatches(
        case_id=case_id,
        snapshots=[_summary(s) for s in snapshots],
        studies_considered=len(studies),
        matches=match_case(profile, studies),
    )


async def refer_case_to_trials(
    client: Client,
    settings: CaseflowSettings,
    case_id: str,
    study_ids: list[str],
    *,
    site_index: int | None = None,
    recipient: str | None = None,
    referred_by: str | None = None,
) -> EventAck:
    """Refer the case to each study's site in its destination countries (the first open one,
    or `site_index`), addressed to the registry's contact unless `recipient` is given."""
    if not study_ids:
        raise ValueError("NCT_ID: name at least one study")
    if len(set(study_ids)) != len(study_ids):
        raise ValueError("NCT_ID: a study is named twice")
    profile = await trial_profile(client, case_id)
    snapshots = await asyncio.to_thread(load_snapshots, settings)
    if not snapshots:
        raise _no_snapshot()
    by_id = {s.study_id.upper(): s for s in _studies(snapshots)}
    targets = []
    for study_id in study_ids:
        study = by_id.get(study_id.strip().upper())
        if study is None:
            raise ValueError(f"NCT_ID: no study {study_id} in the imported registry snapshot")
        targets.append(referral_target(study, profile.countries, site_index, recipient))
    return await _update(
        client, case_id, CaseWorkflow.refer_to_trials,
        ReferToTrials(targets=targets, referred_by=referred_by),
    )


async def choose_next_option(client: Client, case_id: str, event: ChooseNextOption) -> EventAck:
    return await _update(client, case_id, CaseWorkflow.choose_next_option, event)
