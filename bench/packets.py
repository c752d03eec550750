"""Bench: the render_referral_packet activity (letter HTML and PDF, FHIR bundle, index, manifest,
all stored) for a case with 50 documents, against rendering the letter HTML alone in the same run;
and the letter's PDF from Typst (activities/letter_pdf.py) against the WeasyPrint path it
replaced (bench/weasyprint_letter.py), on the same letter in the same run (target: 8x).

`python -m bench.packets [--runs N] [--language en|zh-CN|both]`. Storage is a SeaweedFS this
script starts on free loopback ports. Prints medians, the ratios, a packet's CPU (the activity's
thread, and the renderer process's Typst compile) and this process's peak RSS.
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

import psutil

from activities import letter_pdf
from activities.letter_content import letter_content
from activities.letters import ReferralLetters, ReferralPacketRequest
from bench import weasyprint_letter
from caseflow.fictional_case import CASE_ID, CREATED_AT, documents, intake, webhook_hospital
from caseflow.settings import CaseflowSettings
from caseflow.triage import triage
from infra.seaweedfs import SeaweedFS, SeaweedPorts, ensure_bucket

DOCUMENTS = 50
BUCKET = "caseflow-documents"
PDF_TARGET = 8.0


def median_seconds(step: Callable[[ReferralPacketRequest], object], language: str, runs: int):
    """Median wall time of `step`, each run on a fresh request built outside the timing (a new
    packet id, because stored packets are put-once and a repeat would only read them back)."""
    step(packet_request(language))  # warm-up: imports, fonts, templates, connection pool
    times = []
    for _ in range(runs):
        request = packet_request(language)
        started = time.perf_counter()
        step(request)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved_medians(
    steps: list[Callable[[ReferralPacketRequest], object]], language: str, runs: int
) -> list[float]:
    """Median wall time of each step, the steps taking turns on the same fresh letter in every
    run, so a busy machine slows both alike and the ratio stays fair."""
    warm = packet_request(language)
    for step in steps:
        step(warm)
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(runs):
        request = packet_request(language)
        for step, spent in zip(steps, times, strict=True):
            started = time.perf_counter()
            step(request)
            spent.append(time.perf_counter() - started)
    return [statistics.median(spent) for spent in times]


def renderer_cpu_seconds() -> float:
    """CPU time so far of this process's PDF renderers (multiprocessing's spawned children)."""
    total = 0.0
    for child in psutil.Process().children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def packet_cpu_ms(
    step: Callable[[ReferralPacketRequest], object], language: str, runs: int
) -> tuple[float, float]:
    """Mean CPU ms a packet costs in the calling thread (the activity's) and in the renderers,
    over `runs` fresh packets: CPU, not wall time, so a busy machine does not inflate it."""
    requests = [packet_request(language) for _ in range(runs)]
    thread, renderers = time.thread_time(), renderer_cpu_seconds()
    for request in requests:
        step(request)
    thread, renderers = time.thread_time() - thread, renderer_cpu_seconds() - renderers
    return thread / runs * 1000, renderers / runs * 1000


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
        modalities=["bnct", "sbrt"],
        recommendation="BNCT assessment; SBRT as alternative",
        coordinator_id=case.coordinator_id,
        language=language,
        written_on=CREATED_AT.date(),
        created_at=CREATED_AT,
    )


def run(language: str, runs: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-packets-"))
    access, secret = "bench" + secrets.token_hex(6), secrets.token_urlsafe(30)
    server = SeaweedFS(workdir, access, secret, ports=SeaweedPorts.pick_free())
    server.start(timeout=60)
    letters = None
    try:
        ensure_bucket(server.endpoint_url, access, secret, BUCKET)
        settings = CaseflowSettings(
            s3_endpoint_url=server.endpoint_url,
            s3_access_key_id=access,
            s3_secret_access_key=secret,
            s3_bucket=BUCKET,
            data_dir=workdir,
            # Every packet carries its own reply link, so no two runs set the same letter (Typst
            # memoises layout; a repeat of one letter would measure its cache).
            reply_link_secret=secrets.token_urlsafe(32),
        )
        letters = ReferralLetters(settings)

        def whole_packet(request: ReferralPacketRequest) -> None:
            stored = letters.render_referral_packet(request)
            if not stored.created or len(stored.documents) != DOCUMENTS:
                raise RuntimeError(f"packet {request.packet_id} was not stored whole")

        html = median_seconds(letters.render_letter, language, runs)
        # The same letter both ways, in this process (no pool hop), content built inside each.
        weasyprint, typst = interleaved_medians(
            [
                lambda r: weasyprint_letter.render_pdf(letters.render_letter(r)),
                lambda r: letter_pdf.render_pdf(
                    letter_content(r, letters.reply_url(r)), r.created()
                ),
            ],
            language,
            runs,
        )
        packet = median_seconds(whole_packet, language, runs)
        thread_ms, renderer_ms = packet_cpu_ms(whole_packet, language, runs)
    finally:
        if letters is not None:
            letters.close()
        server.stop()
    # ru_maxrss is KiB on Linux; SeaweedFS runs as a child process and is not counted.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"packet bench: {DOCUMENTS} documents, letter language {language}, {runs} runs each, "
          "stored in SeaweedFS on loopback")
    speedup = weasyprint / typst
    verdict = "met" if speedup >= PDF_TARGET else "NOT met"
    print(f"  letter HTML alone                      median {html * 1000:9.2f} ms")
    print(f"  letter PDF, WeasyPrint (before)        median {weasyprint * 1000:9.2f} ms")
    print(f"  letter PDF, Typst (now)                median {typst * 1000:9.2f} ms")
    print(f"  render_referral_packet (whole, stored) median {packet * 1000:9.2f} ms")
    print(f"  packet CPU: activity thread {thread_ms:.1f} ms, renderer {renderer_ms:.1f} ms, "
          f"total {thread_ms + renderer_ms:.1f} ms")
    print(f"  ratio WeasyPrint / Typst               {speedup:9.1f}x  "
          f"(target >= {PDF_TARGET:g}x: {verdict})")
    print(f"  ratio packet / letter HTML             {packet / html:9.1f}")
    print(f"  ratio packet / Typst PDF               {packet / typst:9.2f}")
    print(f"  peak RSS (this process)                {peak_mib:9.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--language", default="both", choices=["en", "zh-CN", "both"])
    args = parser.parse_args()
    for language in ("en", "zh-CN") if args.language == "both" else (args.language,):
        run(language, args.runs)


if __name__ == "__main__":
    main()
