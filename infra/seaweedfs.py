"""The embedded S3 store: a SeaweedFS `weed` process on loopback with an identities file, so only
the caller's credentials get in, plus the documents bucket with versioning on."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import boto3
import psutil
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.binaries import find_binary
from infra.server_process import StackError

LOOPBACK = "127.0.0.1"


class SeaweedFSError(StackError):
    """SeaweedFS could not be started, reached or stopped; the message says why in one line."""


class PortTaken(SeaweedFSError):
    """A port SeaweedFS needs is already in use on 127.0.0.1."""


@dataclass(frozen=True)
class SeaweedPorts:
    """Every port `weed` listens on. The defaults are weed's own, gRPC at +10000, for the dev
    stack; tests and the bench use `pick_free()`."""

    s3: int = 8333
    s3_grpc: int = 18333
    master: int = 9333
    master_grpc: int = 19333
    volume: int = 9340
    volume_grpc: int = 19340
    filer: int = 8888
    filer_grpc: int = 18888
    # `weed mini` always starts its admin server, even with the UI off, so it needs ports too.
    admin: int = 23646
    admin_grpc: int = 33646

    @classmethod
    def pick_free(cls) -> SeaweedPorts:
        """Ports the kernel says are free on loopback right now (held open together so they
        are distinct)."""
        sockets = []
        try:
            for _ in fields(cls):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((LOOPBACK, 0))
                sockets.append(sock)
            return cls(*(sock.getsockname()[1] for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()

    def taken(self) -> list[tuple[str, int]]:
        """The (listener, port) pairs that cannot be bound on loopback."""
        busy = []
        for name, port in asdict(self).items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    busy.append((name, port))
        return busy


def s3_client(endpoint_url: str, access_key: str, secret_key: str, region: str = "us-east-1"):
    """A short-timeout, path-style client for talking to the embedded store."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=2,
            read_timeout=10,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


def ensure_bucket(endpoint_url: str, access_key: str, secret_key: str, bucket: str) -> None:
    """Create `bucket` if missing and turn versioning on. Safe to call on every start."""
    client = s3_client(endpoint_url, access_key, secret_key)
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        raise SeaweedFSError(f"bucket {bucket}: versioning is {status!r}, expected 'Enabled'")


def ensure_portal_rules(
    endpoint_url: str, access_key: str, secret_key: str, bucket: str, origin: str, days: int
) -> None:
    """What the portal's direct uploads need of the bucket: CORS for the portal's origin (PUT
    with the checksum header, ETag exposed) and a rule aborting multipart uploads unfinished
    after `days`. SeaweedFS stores the rule; the service's sweeper does the aborting either way.
    Provisioning's job (`dev up`, the test stack): the service itself needs no such rights."""
    client = s3_client(endpoint_url, access_key, secret_key)
    client.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [origin.rstrip("/")],
                    "AllowedMethods": ["PUT"],
                    "AllowedHeaders": ["x-amz-checksum-sha256", "content-type"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 3600,
                }
            ]
        },
    )
    client.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "caseflow-abort-incomplete-uploads",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "cases/"},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
                }
            ]
        },
    )


class SeaweedFS:
    """One `weed` process whose state lives in `data_dir`.

    `data_dir` holds the store, the identities file, the log and a pid file; a later process
    (e.g. `caseflow dev down`) constructed on the same directory stops exactly that process.
    """

    def __init__(
        self,
        data_dir: Path,
        access_key: str,
        secret_key: str,
        ports: SeaweedPorts | None = None,
        s3_port: int | None = None,
    ) -> None:
        ports = ports or SeaweedPorts()
        if s3_port is not None:
            ports = SeaweedPorts(**{**asdict(ports), "s3": s3_port})
        self.data_dir = Path(data_dir).resolve()
        self.ports = ports
        self.access_key = access_key
        self.secret_key = secret_key
        self.pid_file = self.data_dir / "weed.pid"
        self.log_file = self.data_dir / "weed.log"
        self.identities_file = self.data_dir / "s3-identities.json"

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.s3}"

    def start(self, wait: bool = True, timeout: float = 30.0) -> int:
        """Start `weed` in its own process group, record its pid and (by default) wait until S3
        answers. Returns the pid; reuses this directory's server if it is already running.

        Raises BinaryMissing, PortTaken (naming the ports) or SeaweedFSError.
        """
        weed = find_binary("weed")
        running = self._recorded_process()
        if running is not None:
            if wait:
                self.wait_ready(timeout)
            return running.pid
        busy = self.ports.taken()
        if busy:
            listed = ", ".join(f"{name} port {port}" for name, port in busy)
            raise PortTaken(f"SeaweedFS cannot start: {listed} on {LOOPBACK} already in use")
        (self.data_dir / "store").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "admin").mkdir(parents=True, exist_ok=True)
        self._write_identities()
        log = self.log_file.open("ab")
        try:
            process = subprocess.Popen(
                [str(weed), *self._arguments(weed)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        finally:
            log.close()
        started = psutil.Process(process.pid).create_time()
        self.pid_file.write_text(json.dumps({"pid": process.pid, "create_time": started}))
        self._process = process
        if wait:
            self.wait_ready(timeout)
        return process.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until S3 answers a signed request with our credentials."""
        client = s3_client(self.endpoint_url, self.access_key, self.secret_key)
        deadline = time.monotonic() + timeout
        last_error = "no answer"
        while time.monotonic() < deadline:
            if not self.is_running():
                raise SeaweedFSError(f"SeaweedFS exited during start: {self._log_reason()}")
            try:
                client.list_buckets()
                # S3 answers before the volume server has registered with the master, and until
                # it has, reads of stored objects fail with InternalError (seen after restarts).
                if self._volume_server_registered():
                    return
                last_error = "no volume server registered with the master yet"
            except (BotoCoreError, ClientError) as error:
                last_error = str(error).splitlines()[0]
            time.sleep(0.2)
        raise SeaweedFSError(
            f"SeaweedFS S3 at {self.endpoint_url} not ready after {timeout:.0f}s: {last_error}"
            f" (log: {self.log_file})"
        )

    def _volume_server_registered(self) -> bool:
        url = f"http://{LOOPBACK}:{self.ports.master}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                topology = json.load(response).get("Topology", {})
        except (OSError, ValueError):
            return False
        return bool(topology.get("DataCenters")) and topology.get("Max", 0) > 0

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket with versioning on, using this server's credentials."""
        ensure_bucket(self.endpoint_url, self.access_key, self.secret_key, bucket)

    def is_running(self) -> bool:
        return self._recorded_process() is not None

    def stop(self, timeout: float = 15.0) -> bool:
        """Terminate the recorded process and its group. Returns False if nothing was running."""
        process = self._recorded_process()
        if process is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except psutil.TimeoutExpired:
            # weed ignored SIGTERM: its group is ours alone (start_new_session), so kill it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        # Reap our own child so it does not linger as a zombie.
        child = getattr(self, "_process", None)
        if child is not None and child.pid == process.pid:
            child.wait(5)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _recorded_process(self) -> psutil.Process | None:
        """The process in the pid file, only if it is still the one we started (the pid and its
        start time match), so a reused pid is never signalled."""
        try:
            recorded = json.loads(self.pid_file.read_text())
            process = psutil.Process(recorded["pid"])
            if abs(process.create_time() - recorded["create_time"]) > 0.01:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return process
        except (FileNotFoundError, ValueError, KeyError, psutil.NoSuchProcess):
            return None

    def _write_identities(self) -> None:
        # With at least one identity configured SeaweedFS refuses unsigned requests.
        identities = {
            "identities": [
                {
                    "name": "caseflow",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        fd = os.open(self.identities_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(identities, out)

    def _arguments(self, weed: Path) -> list[str]:
        p = self.ports
        common = [
            f"-dir={self.data_dir / 'store'}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            "-master.telemetry=false",
            f"-master.port={p.master}",
            f"-master.port.grpc={p.master_grpc}",
            f"-volume.port={p.volume}",
            f"-volume.port.grpc={p.volume_grpc}",
            f"-filer.port={p.filer}",
            f"-filer.port.grpc={p.filer_grpc}",
            f"-s3.port={p.s3}",
            f"-s3.port.grpc={p.s3_grpc}",
            f"-s3.config={self.identities_file}",
            # Iceberg and Lance catalogs and WebDAV are not used; 0 / false keeps them closed.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
        ]
        if _has_mini(weed):
            return [
                "mini",
                *common,
                "-admin.ui=false",
                f"-admin.port={p.admin}",
                f"-admin.port.grpc={p.admin_grpc}",
                f"-admin.dataDir={self.data_dir / 'admin'}",
            ]
        return ["server", *common, "-filer", "-s3", "-iam=false"]

    def _log_reason(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "no log"
        for line in reversed(lines):
            if "address already in use" in line or "bind:" in line:
                return line.strip()
        errors = [line.strip() for line in lines if line.strip()]
        return errors[-1] if errors else f"see {self.log_file}"


def _has_mini(weed: Path) -> bool:
    """Whether this weed has `mini` (SeaweedFS 4.x), which starts every component in one go."""
    result = subprocess.run(
        [str(weed), "mini", "-h"], capture_output=True, text=True, timeout=10, check=False
    )
    return "-s3.port" in (result.stdout + result.stderr)
