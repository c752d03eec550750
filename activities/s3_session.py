"""The one botocore session every caseflow S3 client is made from, with botocore's endpoint table
cut down to the services caseflow calls (S3, and STS for credentials from an assumed role), so
a process keeps about 0.03 MB of endpoint data instead of the 6.7 MiB that botocore's full
endpoints.json (every AWS service in every partition) takes in memory; and plain botocore, as
boto3 adds only its transfer manager and resources to an S3 client (2 MiB more; a caller that
wants the transfer manager wraps the client in boto3.s3.transfer.S3Transfer). Issue 10: the web
service must stay under 150 MiB during a 1 GiB upload."""

from __future__ import annotations

import gc
import json
import threading
from pathlib import Path

import botocore
import botocore.session
from botocore.regions import EndpointResolver

# The services whose endpoints a caseflow process resolves: its S3 clients, and STS, which
# botocore's credential providers call for an assumed role or web identity in production.
SERVICES = frozenset({"s3", "sts"})

_lock = threading.Lock()
_session: botocore.session.Session | None = None


def endpoint_table() -> dict:
    """botocore's bundled endpoints.json with only SERVICES in each partition (the partitions'
    regions and defaults whole), read straight from the file so no full copy stays cached."""
    path = Path(botocore.__file__).parent / "data" / "endpoints.json"
    full = json.loads(path.read_bytes())
    table = {
        **full,
        "partitions": [
            {**p, "services": {k: v for k, v in p["services"].items() if k in SERVICES}}
            for p in full["partitions"]
        ],
    }
    del full
    gc.collect()  # the other services' entries go now, while the process is starting
    return table


def s3_session() -> botocore.session.Session:
    """The shared session (botocore caches each service model once per session, so one session
    also means one copy of the S3 model however many clients a process builds)."""
    global _session
    with _lock:
        if _session is None:
            session = botocore.session.get_session()
            # The bundled data, cut down: it still counts as built-in, so endpoint resolution
            # follows exactly the rules it does with the full table (tests/activities/
            # test_s3_session.py compares the two).
            session._register_internal_component(
                "endpoint_resolver", EndpointResolver(endpoint_table(), uses_builtin_data=True)
            )
            _session = session
        return _session
