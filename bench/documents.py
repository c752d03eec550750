"""Document store benchmark: DocumentStore against plain boto3 upload_file/download_file (default
settings) in the same run, on a SeaweedFS this script starts. `python -m bench.documents`.

Reports MB/s for many small files and one big file, both directions, the ratio to the baseline
(target >= 0.9) and the peak RSS of a process uploading the big file (target < 150 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

from activities.documents import DocumentStore, StoreDocumentInput
from caseflow.documents import DocumentKind, DocumentRef
from caseflow.ids import new_case_id
from caseflow.settings import CaseflowSettings
from infra.seaweedfs import SeaweedFS, SeaweedPorts

MiB = 1024**2
BUCKET = "caseflow-documents"
PDF_HEAD = b"%PDF-1.7\n"


def make_file(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        out.write(PDF_HEAD)
        left = size - len(PDF_HEAD)
        while left:
            block = os.urandom(min(left, 8 * MiB))
            out.write(block)
            left -= len(block)
    return path


def settings_for(endpoint: str, access_key: str, secret_key: str) -> CaseflowSettings:
    return CaseflowSettings(
        s3_endpoint_url=endpoint,
        s3_access_key_id=access_key,
        s3_secret_access_key=secret_key,
        s3_bucket=BUCKET,
    )


def plain_client(endpoint: str, access_key: str, secret_key: str):
    """The baseline: boto3 with default settings (path style only because the host is an IP)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM starts afresh at exec; ru_maxrss on Linux would carry the
    parent's peak across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_upload(args: argparse.Namespace) -> None:
    """Run in a fresh process: upload one file and report seconds and peak RSS as JSON."""
    endpoint = os.environ["BENCH_S3_ENDPOINT"]
    access_key = os.environ["BENCH_S3_ACCESS_KEY"]
    secret_key = os.environ["BENCH_S3_SECRET_KEY"]
    path = Path(args.child_upload)
    if args.method == "store":
        store = DocumentStore(settings_for(endpoint, access_key, secret_key))
        request = StoreDocumentInput(case_id=new_case_id(), kind=DocumentKind.OTHER, path=str(path))
        seconds = timed(lambda: store.store(request))
    else:
        client = plain_client(endpoint, access_key, secret_key)
        key = f"baseline/{secrets.token_hex(8)}"
        seconds = timed(lambda: client.upload_file(str(path), BUCKET, key))
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_rss_mib()}))


def upload_in_child(method: str, path: Path, server: SeaweedFS) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.documents",
        "--child-upload",
        str(path),
        "--method",
        method,
    ]
    # Credentials go by environment, not argv, which other users can read.
    env = dict(
        os.environ,
        BENCH_S3_ENDPOINT=server.endpoint_url,
        BENCH_S3_ACCESS_KEY=server.access_key,
        BENCH_S3_SECRET_KEY=server.secret_key,
    )
    answer = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="caseflow-bench-", dir=args.dir))
    access_key, secret_key = "bench" + secrets.token_hex(6), secrets.token_urlsafe(30)
    server = SeaweedFS(workdir / "seaweedfs", access_key, secret_key, SeaweedPorts.pick_free())
    server.start(timeout=60)
    try:
        server.ensure_bucket(BUCKET)
        store = DocumentStore(settings_for(server.endpoint_url, access_key, secret_key))
        client = plain_client(server.endpoint_url, access_key, secret_key)
        small_dir = workdir / "small"
        small_dir.mkdir()
        small = [
            make_file(small_dir / f"{n}.pdf", args.small_kib * 1024)
            for n in range(args.small_count)
        ]
        big = make_file(workdir / "big.pdf", args.big_mib * MiB)
        small_bytes = sum(p.stat().st_size for p in small)
        big_bytes = big.stat().st_size
        out = workdir / "out"
        out.mkdir()
        results: dict[str, list[float]] = {}

        def record(name: str, size: int, seconds: float) -> None:
            results.setdefault(name, []).append(size / MiB / seconds)

        rss: dict[str, list[float]] = {}
        for round_number in range(args.rounds):
            print(f"round {round_number + 1}/{args.rounds}", file=sys.stderr)
            # Small files, one after another, as a coordinator uploads a folder of reports.
            case_id = new_case_id()
            refs: list[DocumentRef] = []

            def store_small(case_id: str = case_id, refs: list[DocumentRef] = refs) -> None:
                for path in small:
                    refs.append(
                        store.store(
                            StoreDocumentInput(
                                case_id=case_id, kind=DocumentKind.OTHER, path=str(path)
                            )
                        )
                    )

            prefix = f"baseline/{secrets.token_hex(4)}"

            def upload_small(prefix: str = prefix) -> None:
                for path in small:
                    client.upload_file(str(path), BUCKET, f"{prefix}/{path.name}")

            record("upload small  baseline", small_bytes, timed(upload_small))
            record("upload small  store", small_bytes, timed(store_small))

            def download_small(prefix: str = prefix) -> None:
                for path in small:
                    client.download_file(BUCKET, f"{prefix}/{path.name}", str(out / path.name))

            def fetch_small(refs: list[DocumentRef] = refs) -> None:
                for ref in refs:
                    store.fetch(ref, out / ref.document_id)

            record("download small baseline", small_bytes, timed(download_small))
            record("download small store", small_bytes, timed(fetch_small))
            shutil.rmtree(out)
            out.mkdir()

            # The big file: each upload in a fresh process, to measure its peak RSS.
            for method in ("baseline", "store"):
                child = upload_in_child(method, big, server)
                record(f"upload big    {method}", big_bytes, child["seconds"])
                rss.setdefault(method, []).append(child["peak_rss_mib"])
            big_ref = store.store(
                StoreDocumentInput(case_id=new_case_id(), kind=DocumentKind.OTHER, path=str(big))
            )
            big_key = f"baseline/big-{secrets.token_hex(4)}"
            client.upload_file(str(big), BUCKET, big_key)
            seconds = timed(lambda: client.download_file(BUCKET, big_key, str(out / "b")))  # noqa: B023
            record("download big  baseline", big_bytes, seconds)
            (out / "b").unlink()
            seconds = timed(lambda: store.fetch(big_ref, out / "s"))  # noqa: B023
            record("download big  store", big_bytes, seconds)
            (out / "s").unlink()
        store.close()
        report(args, results, rss)
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, results: dict[str, list[float]], rss: dict) -> None:
    best = {name: max(values) for name, values in results.items()}
    print(
        f"\n{args.small_count} x {args.small_kib} KiB and 1 x {args.big_mib} MiB,"
        f" best of {args.rounds} round(s), MB/s (MiB/s)"
    )
    print(f"{'':26}{'baseline':>10}{'store':>10}{'ratio':>8}  target >= 0.90")
    for label in ("upload small", "download small", "upload big", "download big"):
        base = next(v for k, v in best.items() if k.startswith(label) and k.endswith("baseline"))
        ours = next(v for k, v in best.items() if k.startswith(label) and k.endswith("store"))
        verdict = "ok" if ours / base >= 0.9 else "BELOW"
        print(f"{label:<26}{base:>10.1f}{ours:>10.1f}{ours / base:>8.2f}  {verdict}")
    print("every round, MB/s (the shared 2-core machine makes single runs noisy):")
    for name, values in sorted(results.items()):
        print(f"  {name:<26}" + " ".join(f"{v:7.1f}" for v in values))
    store_rss, base_rss = max(rss["store"]), max(rss["baseline"])
    verdict = "ok" if store_rss < 150 else "ABOVE"
    print(
        f"peak RSS uploading the big file: store {store_rss:.0f} MiB"
        f" (baseline {base_rss:.0f} MiB), target < 150 MiB  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument("--small-count", type=int, default=200)
    parser.add_argument("--small-kib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    parser.add_argument("--dir", default=None, help="where to put files (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files and store")
    # Internal: the big-file upload runs in a child process so its peak RSS is its own.
    parser.add_argument("--child-upload", help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=["store", "baseline"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_upload:
        child_upload(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
