"""A worker killed with kill -9 leaves no PDF renderer behind (issue 11 item 4): renderers tie
their life to the worker's process (activities/pdf_renderers.py), so none is reparented to pid 1
where `caseflow dev down` would never find it."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
# The worker's own letters object, with two renderers started by real letters, then idle.
HOLDER = """
import sys, time
from activities.letters import ReferralLetters
from caseflow.settings import CaseflowSettings
from tests.activities.test_letter_pdf import request

letters = ReferralLetters(CaseflowSettings(s3_access_key_id="x", s3_secret_access_key="y"),
                          pdf_workers=2)
for language in ("en", "zh-CN"):
    assert letters.render_pdf(request(language)).startswith(b"%PDF-")
print("rendered", flush=True)
time.sleep(600)
"""


def _renderers(holder: psutil.Process) -> list[psutil.Process]:
    # The pool's processes (multiprocessing's resource tracker is not a renderer).
    return [child for child in holder.children(recursive=True)
            if "resource_tracker" not in " ".join(child.cmdline())]


def test_killed_worker_leaves_no_renderer(tmp_path):
    renderers: list[psutil.Process] = []
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=ROOT, stdout=subprocess.PIPE,
                              env={**os.environ, "CASEFLOW_DATA_DIR": str(tmp_path)})
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"rendered"
        renderers = _renderers(psutil.Process(holder.pid))
        assert len(renderers) >= 1
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        gone, alive = psutil.wait_procs(renderers, timeout=5)
        assert alive == [], [p.pid for p in alive]  # before: reparented to pid 1, running on
    finally:
        if holder.poll() is None:
            holder.kill()
        for renderer in renderers:  # only when the test failed: stop what it started
            if renderer.is_running():
                renderer.kill()
