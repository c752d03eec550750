"""Bench: build and store one referral packet (PDF letter, manifest, FHIR bundle) for a case with
50 documents, against rendering the letter alone in the same run. `python -m bench.packets`.

Storage goes to a SeaweedFS this script starts on free loopback ports (`--no-store` skips it).
Prints medians, the ratio, and the process's peak RSS.
"""

import argparse
import resource
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from activities.letter_pdf import render_pdf
from activities.letters import ReferralLetters, ReferralPacketRequest
from caseflow.referral_bundle import build_referral_bundle, bundle_json, check_references_resolve
from caseflow.settings import CaseflowSettings
from caseflow.triage import triage
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket, s3_client
from tests.packet_case import (
    CASE_ID,
    CREATED_AT,
    QUESTION,
    REASON,
    documents,
    intake,
    links,
    webhook_hospital,
)

DOCUMENTS = 50
BUCKET = "caseflow-documents"


def median_seconds(step: Callable[[], object], runs: int) -> float:
    step()  # warm-up: imports, font loading, connection pool
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def packet_request(language: str) -> ReferralPacketRequest:
    case = intake()
    return ReferralPacketRequest(
        packet_id=f"pk-{uuid.uuid4()}",
        case_id=CASE_ID,
        hospital=webhook_hospital(),
        intake=case,
        documents=documents(DOCUMENTS),
        triage_flags=[
            {"code": f.code, "level": f.level.value, "message": f.message, "source": f.source}
            for f in triage(case, CREATED_AT.date())
        ],
        recommendation="BNCT assessment; SBRT as alternative",
        coordinator_id=case.coordinator_id,
        language=language,
        written_on=CREATED_AT.date(),
    )


def run(language: str, runs: int, store: bool) -> None:
    server = None
    settings = CaseflowSettings(s3_endpoint_url=None)
    client = None
    workdir = Path(tempfile.mkdtemp(prefix="bench-packets-"))
    if store:
        access, secret = "bench" + secrets.token_hex(6), secrets.token_urlsafe(30)
        server = SeaweedFS(workdir, access, secret, ports=SeaweedPorts.pick_free())
        server.start(timeout=60)
        ensure_bucket(server.endpoint_url, access, secret, BUCKET)
        settings = CaseflowSettings(
            s3_endpoint_url=server.endpoint_url,
            s3_access_key_id=access,
            s3_secret_access_key=secret,
            s3_bucket=BUCKET,
            data_dir=workdir,
        )
        client = s3_client(server.endpoint_url, access, secret)
    letters = ReferralLetters(settings)
    try:
        def letter_only() -> bytes:
            return render_pdf(letters.render_letter(packet_request(language)))

        def whole_packet() -> None:
            request = packet_request(language)  # a fresh packet id: stored copies never overwrite
            pdf = render_pdf(letters.render_letter(request))
            refs = request.documents
            if store:
                stored = letters.render_referral_packet(request)  # letter.html + manifest.json
                urls = {d.document_id: d.url for d in stored.documents}
                expires = stored.links_expire_at
            else:
                urls, expires = links(refs), None
            bundle = build_referral_bundle(
                referral_id=request.packet_id, case_id=CASE_ID, intake=request.intake,
                hospital=request.hospital, documents=refs, links=urls, reason=REASON,
                question=QUESTION, created_at=CREATED_AT, links_expire_at=expires,
            )
            check_references_resolve(bundle)
            body = bundle_json(bundle)
            if client is not None:
                prefix = f"cases/{CASE_ID}/packets/{request.packet_id}/"
                client.put_object(Bucket=BUCKET, Key=prefix + "letter.pdf", Body=pdf,
                                  ContentType="application/pdf", IfNoneMatch="*")
                client.put_object(Bucket=BUCKET, Key=prefix + "bundle.json", Body=body,
                                  ContentType="application/fhir+json", IfNoneMatch="*")

        letter = median_seconds(letter_only, runs)
        packet = median_seconds(whole_packet, runs)
    finally:
        letters.close()
        if server is not None:
            server.stop()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"packet bench: {DOCUMENTS} documents, letter language {language}, {runs} runs, "
          f"storage {'SeaweedFS on loopback' if store else 'skipped'}")
    print(f"  letter alone (HTML+PDF)        median {letter * 1000:8.1f} ms")
    print(f"  whole packet (PDF, manifest, FHIR{', stored' if store else ''})"
          f"  median {packet * 1000:8.1f} ms")
    print(f"  ratio packet / letter          {packet / letter:8.2f}")
    print(f"  peak RSS                       {peak_mib:8.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--language", default="en", choices=["en", "zh-CN"])
    parser.add_argument("--no-store", action="store_true", help="skip S3 (no SeaweedFS)")
    args = parser.parse_args()
    run(args.language, args.runs, store=not args.no_store)


if __name__ == "__main__":
    main()
