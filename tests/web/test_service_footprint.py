"""The web service starts without the libraries only some requests need: the FHIR models (a
hospital replying with a FHIR Task) and httpx (the ops proxy, erasure, JWKS fetches). Together
they cost ~16 MiB of the service's memory, which the portal's upload target (< 150 MiB) counts."""

import json
import os
import subprocess
import sys

PROBE = """
import json, sys
from web.app import create_app
create_app()
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_started_service_has_not_loaded_fhir_models_or_httpx(tmp_path):
    env = {
        **os.environ,
        "CASEFLOW_SESSION_SECRET": "s" * 40,
        "CASEFLOW_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60,
        check=True,
    )
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "fastapi" in loaded  # the probe did build the service
    assert {"fhir", "httpx"} & loaded == set()
