"""The portal's resumable upload against a direct boto3 upload of the same file, in the same run:
a `caseflow serve` process (with Temporal, a worker and SeaweedFS) handles the protocol as it does
for a browser (begin, a presigned URL per part, completion with the service's verifying read),
while this process plays the browser as web/static/portal-upload.js does: it reads each part,
hashes it and the whole file, presigns it while earlier parts are in flight, and PUTs it to S3,
as many at once as the service tells the page (settings.portal_upload_concurrency). Prints both
throughputs, their ratio and the service's peak RSS (its process's, sampled every 20 ms with
psutil). Targets (issue 10): ratio >= 0.8, peak RSS < 150 MiB for a 1 GiB file. A third upload
in each round, the protocol floor, runs the same protocol with no service in it (presigned
SHA-256 parts and the verifying read), so the ratio can be read against the most it could be.

    python -m bench.portal_upload [--mib 1024] [--rounds 2] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import psutil

from bench.documents import BUCKET, make_file, plain_client
from bench.service_stack import service_stack
from caseflow.case_status import CaseStage
from caseflow.intake import CaseIntake
from caseflow.portal_links import PortalClaims, email_digest, make_token
from caseflow.temporal_client import connect
from client import cases

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MiB = 1024**2
TARGET_RATIO = 0.8
TARGET_RSS_MIB = 150


class PeakRss:
    """The highest RSS of a process, sampled every 20 ms on a thread while it runs, and the
    highest USS (its private memory: RSS less the library pages it shares with every other
    Python process, e.g. the worker), sampled every 200 ms since reading it walks smaps."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = self._process.memory_info().rss
        self.peak_private = self._process.memory_full_info().uss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        count = 0
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._process.memory_info().rss)
            count += 1
            if count % 10 == 0:
                self.peak_private = max(self.peak_private, self._process.memory_full_info().uss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def portal_upload(
    base: str, token: str, path: Path, concurrency: int | None
) -> tuple[float, float, int, int]:
    """Upload `path` as the browser does, with as many parts in flight as the service tells the
    page (`concurrency` in the begin answer) unless `concurrency` says otherwise; returns the
    seconds from begin to verified, the seconds the completion (the verifying read) took, the
    concurrency used and the part size."""
    with httpx.Client(base_url=base, timeout=600, follow_redirects=True) as web:
        web.get(f"/portal/open/{token}").raise_for_status()  # lands on the status page
        page = web.get("/portal/records")
        page.raise_for_status()
        csrf = re.search(r'data-csrf="([^"]+)"', page.text)
        assert csrf, "the records page carries no CSRF token"
        headers = {"X-CSRF-Token": csrf.group(1)}
        size = path.stat().st_size
        started = time.perf_counter()
        with open(path, "rb") as file:
            head = file.read(64 * 1024)
        upload = (
            web.post(
                "/portal/uploads",
                headers=headers,
                json={
                    "kind": "imaging_mri",
                    "size": size,
                    "file_name": path.name,
                    "head": base64.b64encode(head).decode(),
                },
            )
            .raise_for_status()
            .json()
        )
        concurrency = concurrency or upload["concurrency"]
        whole = hashlib.sha256()
        sums: list[str] = []  # each part's, for the completion, as the page keeps them
        fd = os.open(path, os.O_RDONLY)
        s3 = httpx.Client(timeout=600)

        def presign(number: int, data: bytes) -> tuple[str, str]:
            checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
            answer = web.post(
                f"/portal/uploads/{upload['upload_id']}/parts/{number}",
                headers=headers,
                json={"sha256": checksum},
            )
            return answer.raise_for_status().json()["url"], checksum

        def put(url: str, checksum: str, data: bytes) -> None:
            s3.put(
                url, content=data, headers={"x-amz-checksum-sha256": checksum}
            ).raise_for_status()

        try:
            with ThreadPoolExecutor(concurrency) as pool:
                inflight: list[Future[None]] = []
                for number in range(1, upload["part_count"] + 1):
                    offset = (number - 1) * upload["part_size"]
                    data = os.pread(fd, min(upload["part_size"], size - offset), offset)
                    whole.update(data)
                    # Like the page: the part is hashed and presigned while the parts before it
                    # are on the wire, and its PUT starts once fewer than `concurrency` are.
                    url, checksum = presign(number, data)
                    sums.append(checksum)
                    while sum(not f.done() for f in inflight) >= concurrency:
                        time.sleep(0.002)
                    inflight.append(pool.submit(put, url, checksum, data))
                for future in inflight:
                    future.result()
        finally:
            os.close(fd)
            s3.close()
        completing = time.perf_counter()
        web.post(
            f"/portal/uploads/{upload['upload_id']}/completion",
            headers=headers,
            json={"sha256": whole.hexdigest(), "file_name": path.name, "part_sha256": sums},
        ).raise_for_status()
        done = time.perf_counter()
        return done - started, done - completing, concurrency, upload["part_size"]


def protocol_floor(boto, path: Path, part_size: int, concurrency: int) -> float:
    """The portal's protocol with no service in it, on the same SeaweedFS: the bench presigns
    each part itself with its SHA-256 signed in, PUTs the parts as `portal_upload` does (the
    same hashing, part size and parts in flight), completes the multipart upload and reads the
    object back to hash it, as the completion's verifying read does. Returns the seconds. What
    the portal takes beyond this is the service's own cost."""
    size = path.stat().st_size
    key = f"floor/{secrets.token_hex(6)}"
    started = time.perf_counter()
    upload_id = boto.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    whole = hashlib.sha256()
    s3 = httpx.Client(timeout=600)
    fd = os.open(path, os.O_RDONLY)

    def put(number: int, checksum: str, data: bytes) -> dict[str, object]:
        url = boto.generate_presigned_url(
            "upload_part",
            Params={"Bucket": BUCKET, "Key": key, "UploadId": upload_id, "PartNumber": number,
                    "ChecksumSHA256": checksum},
            ExpiresIn=3600,
        )
        answer = s3.put(url, content=data, headers={"x-amz-checksum-sha256": checksum})
        answer.raise_for_status()
        return {"PartNumber": number, "ETag": answer.headers["etag"], "ChecksumSHA256": checksum}

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            inflight: list[Future[dict[str, object]]] = []
            for number in range(1, (size + part_size - 1) // part_size + 1):
                offset = (number - 1) * part_size
                data = os.pread(fd, min(part_size, size - offset), offset)
                whole.update(data)
                checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
                while sum(not f.done() for f in inflight) >= concurrency:
                    time.sleep(0.002)
                inflight.append(pool.submit(put, number, checksum, data))
            parts = [future.result() for future in inflight]
    finally:
        os.close(fd)
        s3.close()
    boto.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    stored = hashlib.sha256()
    body = boto.get_object(Bucket=BUCKET, Key=key)["Body"]
    for block in body.iter_chunks(1024 * 1024):
        stored.update(block)
    assert stored.hexdigest() == whole.hexdigest(), "the floor's object differs from the file"
    seconds = time.perf_counter() - started
    boto.delete_object(Bucket=BUCKET, Key=key)
    return seconds


async def bench(args: argparse.Namespace, workdir: Path) -> None:
    link_secret = secrets.token_urlsafe(32)
    portal_env = {"CASEFLOW_PORTAL_LINK_SECRET": link_secret}
    async with service_stack(workdir, "cases-bench", portal_env) as stack:
        settings = stack.settings

        client = await connect(settings)
        intake = json.loads((EXAMPLES / "intake.json").read_text())
        case_id = await cases.start_case(
            client, settings, CaseIntake.model_validate(intake), date.today()
        )
        while (await cases.case_status(client, case_id)).stage != CaseStage.RECORDS:
            await asyncio.sleep(0.05)
        claims = PortalClaims(
            purpose="case_status",
            subject_id=case_id,
            email_sha256=email_digest(intake["patient"]["email"]),  # the link the case mails
        )
        token = make_token(link_secret, claims)
        base = f"http://127.0.0.1:{settings.web_port}"
        secret_key = settings.s3_secret_access_key
        boto = plain_client(
            stack.seaweed.endpoint_url,
            settings.s3_access_key_id or "",
            secret_key.get_secret_value() if secret_key else "",
        )
        web_pid = stack.web.pid()
        assert web_pid is not None, "the web service is not running"
        idle_rss = psutil.Process(web_pid).memory_info().rss / MiB

        direct: list[float] = []
        portal: list[float] = []
        floor: list[float] = []
        verifying: list[float] = []
        used = 0
        peaks: list[float] = []
        private: list[float] = []
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr)
            # A fresh file each round: the portal stores each upload as its own document.
            path = make_file(workdir / f"scan-{round_number}.pdf", args.mib * MiB)
            size = path.stat().st_size
            started = time.perf_counter()
            boto.upload_file(str(path), BUCKET, f"baseline/{secrets.token_hex(6)}")
            direct.append(size / MiB / (time.perf_counter() - started))
            with PeakRss(web_pid) as rss:
                seconds, verify, used, part_size = await asyncio.to_thread(
                    portal_upload, base, token, path, args.concurrency
                )
            portal.append(size / MiB / seconds)
            seconds = await asyncio.to_thread(protocol_floor, boto, path, part_size, used)
            floor.append(size / MiB / seconds)
            verifying.append(verify)
            peaks.append(rss.peak / MiB)
            private.append(rss.peak_private / MiB)
            path.unlink()
        held = (await cases.case_status(client, case_id)).quarantined
        assert len(held) == args.rounds, "every upload reached the case's quarantine"
        report(args, used, direct, portal, floor, verifying, peaks, private, idle_rss)


def report(
    args: argparse.Namespace,
    concurrency: int,
    direct: list[float],
    portal: list[float],
    floor: list[float],
    verifying: list[float],
    peaks: list[float],
    private: list[float],
    idle: float,
) -> None:
    best_direct, best_portal = max(direct), max(portal)
    ratio = best_portal / best_direct
    print(f"\n1 x {args.mib} MiB, best of {args.rounds} round(s), MiB/s")
    print(f"  direct boto3 upload_file     {best_direct:8.1f}")
    whose = "as given" if args.concurrency else "the page's"
    print(
        f"  portal (presigned parts,     {best_portal:8.1f}   concurrency {concurrency} ({whose}),"
        f" verified; completion {min(verifying):.1f} s)"
    )
    verdict = "ok" if ratio >= TARGET_RATIO else "BELOW"
    print(f"  ratio portal/direct          {ratio:8.2f}   target >= {TARGET_RATIO}  {verdict}")
    peak = max(peaks)
    verdict = "ok" if peak < TARGET_RSS_MIB else "ABOVE"
    print(
        f"  service peak RSS             {peak:8.0f} MiB (idle {idle:.0f} MiB),"
        f" target < {TARGET_RSS_MIB} MiB  {verdict}"
    )
    print(f"  of which private (peak USS)  {max(private):8.0f} MiB")
    best_floor = max(floor)
    print(
        f"  protocol floor (no service)  {best_floor:8.1f}   ratio floor/direct "
        f"{best_floor / best_direct:.2f}: the most the portal could reach; portal/floor "
        f"{best_portal / best_floor:.2f}"
    )
    print(
        "  every round, MiB/s direct / portal / floor: "
        + ", ".join(
            f"{d:.0f}/{p:.0f}/{f:.0f}" for d, p, f in zip(direct, portal, floor, strict=True)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="size of the file")
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="parts in flight (default: as many as the service tells the page)",
    )
    parser.add_argument("--dir", default=None, help="where to put files (default: the temp dir)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="caseflow-bench-portal-", dir=args.dir))
    try:
        asyncio.run(bench(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
