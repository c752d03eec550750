"""The embedded store's processes as `dev down` finds them: the `weed mini` an older caseflow
recorded in weed.pid is still stopped after an upgrade, and only if it is that very process; and
a second stack's SeaweedFS ports sit beside its own S3 port, never on the first stack's."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import astuple

import psutil

from infra.seaweedfs import SeaweedFS, SeaweedPorts


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)


def test_an_older_weed_mini_is_stopped_by_its_pid_file(tmp_path):
    old = sleeper()
    try:
        store = SeaweedFS(tmp_path, "ak", "sk", ports=SeaweedPorts.pick_free())
        started = psutil.Process(old.pid).create_time()
        store.legacy_pid_file.write_text(json.dumps({"pid": old.pid, "create_time": started}))
        assert store.stop()
        assert old.wait(10) is not None
        assert not store.legacy_pid_file.exists()
    finally:
        old.kill()
        old.wait()


def test_a_recycled_legacy_pid_is_left_alone(tmp_path):
    stranger = sleeper()
    try:
        store = SeaweedFS(tmp_path, "ak", "sk", ports=SeaweedPorts.pick_free())
        started = psutil.Process(stranger.pid).create_time()
        store.legacy_pid_file.write_text(json.dumps({"pid": stranger.pid,
                                                     "create_time": started - 100}))
        assert not store.stop()
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_second_stacks_ports_sit_beside_its_s3_port():
    default = SeaweedPorts.beside(8333)
    assert default == SeaweedPorts()
    second = SeaweedPorts.beside(28333)
    assert astuple(second) == tuple(range(28333, 28341))
    assert not set(astuple(second)) & set(astuple(default))
