"""Trial registry bench (issue 15): import 10,000 generated studies (ClinicalTrials.gov API v2
JSON) and match a case against them; time and peak memory against reading the file alone.

Each phase runs in its own child process, so each peak RSS is that phase's own:
  read     the file's bytes, nothing else (the baseline)
  parse    the bytes and json.loads (what any reader of the format must do)
  import   what `caseflow trials import` does before its one PUT: read, check every study into
           caseflow's models, serialise and gzip the snapshot
  match    what `caseflow case trials` does after its GET: gunzip and load the snapshot, then rank
           every study for one case

    python -m bench.trials [--studies 10000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

SITES = [("China", "Beijing"), ("China", "Xiamen"), ("China", "Shanghai"), ("India", "Mumbai"),
         ("India", "Chennai"), ("United States", "Springfield"), ("Japan", "Osaka")]
CONDITIONS = ["Recurrent Head and Neck Squamous Cell Carcinoma", "Nasopharyngeal Carcinoma",
              "Glioblastoma", "Non-Small Cell Lung Cancer", "Prostate Cancer", "Cervical Cancer",
              "Rectal Cancer", "Hepatocellular Carcinoma", "Advanced Solid Tumor", "Breast Cancer"]
INTERVENTIONS = ["Fictional oncolytic virus", "Fictional CAR-T cells", "Pembrolizumab",
                 "Fictional neoantigen vaccine", "Boron neutron capture therapy", "SBRT",
                 "Fictional chemotherapy"]
STATUSES = ["RECRUITING", "NOT_YET_RECRUITING", "COMPLETED", "ACTIVE_NOT_RECRUITING"]
CRITERIA = ("Inclusion Criteria:\n\n* Recurrent disease after prior radiotherapy\n* ECOG 0-2\n"
            "* Adequate organ function\n\nExclusion Criteria:\n\n* Active infection\n"
            "* Prior treatment with the study drug\n") * 3


def generate(path: Path, count: int, seed: int = 15) -> None:
    """`count` fictional studies in the v2 format (NCT numbers out of the registry's range)."""
    rng = random.Random(seed)
    studies = []
    for n in range(count):
        sites = rng.sample(SITES, rng.randint(1, 4))
        studies.append({"protocolSection": {
            "identificationModule": {"nctId": f"NCT9{n:07d}",
                                     "briefTitle": f"Fictional bench study {n}"},
            "statusModule": {"overallStatus": rng.choice(STATUSES),
                             "lastUpdatePostDateStruct": {"date": "2026-05-01"}},
            "conditionsModule": {"conditions": rng.sample(CONDITIONS, 2),
                                 "keywords": ["recurrent"]},
            "designModule": {"phases": [rng.choice(["PHASE1", "PHASE2", "PHASE3"])]},
            "armsInterventionsModule": {"interventions": [
                {"type": "DRUG", "name": i} for i in rng.sample(INTERVENTIONS, 2)]},
            "eligibilityModule": {"eligibilityCriteria": CRITERIA, "sex": "ALL",
                                  "minimumAge": "18 Years",
                                  "maximumAge": f"{rng.choice([65, 75, 85])} Years"},
            "contactsLocationsModule": {"locations": [
                {"facility": f"Fictional site {n}-{i}", "status": "RECRUITING", "city": city,
                 "country": country,
                 "contacts": [{"name": "Desk", "email": f"s{n}-{i}@trials.example.invalid"}]}
                for i, (country, city) in enumerate(sites)]},
        }})
    path.write_text(json.dumps({"studies": studies}))


def _phase(name: str, path: Path) -> dict[str, float]:
    started = time.perf_counter()
    if name == "read":
        data = path.read_bytes()
        assert data
    elif name == "parse":
        assert json.loads(path.read_bytes())["studies"]
    elif name == "import":
        from client.trials import read_registry_file

        snapshot = read_registry_file(path)
        body = gzip.compress(snapshot.model_dump_json().encode(), compresslevel=1)
        path.with_suffix(".snapshot.gz").write_bytes(body)
    elif name == "match":
        from caseflow.fictional_case import intake
        from caseflow.trial_matching import match_case, profile_from_intake
        from caseflow.trial_registry import RegistrySnapshot

        snapshot = RegistrySnapshot.model_validate_json(
            gzip.decompress(path.with_suffix(".snapshot.gz").read_bytes())
        )
        matches = match_case(profile_from_intake(intake(), date(2026, 6, 1)), snapshot.studies)
        assert matches
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": _peak_kib() / 1024}


def _peak_kib() -> int:
    """This process's own high-water mark (VmHWM). Not ru_maxrss: on Linux a child started by
    fork and exec carries its parent's maximum there."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(name: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.trials", "--child", name, str(path)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--child", nargs=2, metavar=("PHASE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_phase(args.child[0], Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="caseflow-bench-trials-") as tmp:
        path = Path(tmp) / "studies.json"
        generate(path, args.studies)
        size = path.stat().st_size
        results = {name: run_child(name, path) for name in ("read", "parse", "import", "match")}
        snapshot = path.with_suffix(".snapshot.gz").stat().st_size
    base = results["read"]
    print(f"\n== trial registry: {args.studies:,} studies, {size / 2**20:.1f} MiB of v2 JSON; "
          f"snapshot {snapshot / 2**20:.1f} MiB gzipped ==")
    print(f"{'phase':<8}{'seconds':>9}{'peak MiB':>10}{'time x read':>13}{'peak x read':>13}")
    for name, r in results.items():
        print(f"{name:<8}{r['seconds']:>9.2f}{r['peak_mib']:>10.0f}"
              f"{r['seconds'] / max(base['seconds'], 1e-6):>13.1f}"
              f"{r['peak_mib'] / base['peak_mib']:>13.1f}")
    parse = results["parse"]
    print(f"import vs parse alone: {results['import']['seconds'] / parse['seconds']:.1f}x time, "
          f"{results['import']['peak_mib'] / parse['peak_mib']:.1f}x peak memory; "
          f"match vs parse alone: {results['match']['seconds'] / parse['seconds']:.1f}x time, "
          f"{results['match']['peak_mib'] / parse['peak_mib']:.1f}x peak memory")


if __name__ == "__main__":
    main()
