"""The embedded S3 store: SeaweedFS's master, volume, filer and S3 servers as four `weed` processes
on loopback, every socket, pid, log and state file under one data directory (so two stacks on one
host never meet), with an identities file so only the caller's credentials get in, SSE-S3 under a
key-encryption key of the stack's own, and the documents bucket with versioning and encryption."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import signal
import socket
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import boto3
import psutil
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from infra.binaries import BinaryMissing, find_binary
from infra.server_process import ServerProcess, StackError, port_answers

LOOPBACK = "127.0.0.1"


class SeaweedFSError(StackError):
    """SeaweedFS could not be started, reached or stopped; the message says why in one line."""


class PortTaken(SeaweedFSError):
    """A port SeaweedFS needs is already in use on 127.0.0.1."""


@dataclass(frozen=True)
class SeaweedPorts:
    """Every TCP port the `weed` processes listen on. The defaults are weed's own, gRPC at
    +10000, for the dev stack; tests and the bench use `pick_free()`."""

    s3: int = 8333
    s3_grpc: int = 18333
    master: int = 9333
    master_grpc: int = 19333
    volume: int = 9340
    volume_grpc: int = 19340
    filer: int = 8888
    filer_grpc: int = 18888

    @classmethod
    def beside(cls, s3_port: int) -> SeaweedPorts:
        """The ports of a stack whose S3 port is `s3_port`: weed's own defaults for 8333, else
        the seven ports after it (s3 gRPC, master, master gRPC, volume, volume gRPC, filer,
        filer gRPC), so a second stack needs only another S3 port with room after it."""
        if s3_port == cls.s3:
            return cls()
        return cls(*range(s3_port, s3_port + len(fields(cls))))

    @classmethod
    def pick_free(cls) -> SeaweedPorts:
        """Ports free on loopback right now (held open together so they are distinct), below
        the kernel's ephemeral range: the four servers start one after another, and a port in
        that range could meanwhile become the local end of an outgoing connection."""
        sockets: list[socket.socket] = []
        low = _ephemeral_low()
        try:
            while len(sockets) < len(fields(cls)):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.bind((LOOPBACK, random.randrange(10000, low) if low > 11000 else 0))
                except OSError:
                    sock.close()
                    continue
                sockets.append(sock)
            return cls(*(sock.getsockname()[1] for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()

    def taken(self) -> list[tuple[str, int]]:
        """The (listener, port) pairs that cannot be bound on loopback."""
        return self.taken_of(list(asdict(self).items()))

    @staticmethod
    def taken_of(wanted: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Those of the (listener, port) pairs that cannot be bound on loopback."""
        busy = []
        for name, port in wanted:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    busy.append((name, port))
        return busy


def _ephemeral_low() -> int:
    """Where the kernel's ephemeral ports begin (Linux), or 0 when unknown."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


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
    """Create `bucket` if missing, turn versioning on and make SSE-S3 its default encryption
    (caseflow's clients ask for encryption on every put too: activities/s3_client.py). Safe to
    call on every start."""
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
    client.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


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


# A unix socket's path must fit sockaddr_un (108 bytes with the terminating NUL).
SOCKET_PATH_LIMIT = 107
KEK_FILE_NAME = "sse-kek"
_KEK = re.compile(r"^[0-9a-f]{64}$")


def ensure_kek_file(path: Path) -> str:
    """The store's key-encryption key (hex of 256 bits, as `WEED_S3_SSE_KEK` wants it), made
    once and kept readable by its owner only. Never rotated by caseflow: every object's data key
    is wrapped under it, so a new KEK would make every stored document unreadable."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):
            # link, not replace: a racing second start keeps the first KEK.
            os.link(temporary, path)
        temporary.unlink()
    kek = path.read_text().strip()
    if not _KEK.fullmatch(kek):
        raise SeaweedFSError(f"key-encryption key file {path}: expected 64 hex digits")
    return kek


class SeaweedFS:
    """SeaweedFS's four servers (master, volume, filer, S3) whose state lives in `data_dir`.

    `data_dir` holds the store (store/), the identities file, each server's log and pid file and
    the unix sockets the filer and S3 server listen on; a later process (`caseflow dev down`)
    constructed on the same directory stops exactly those processes. Separate `weed` commands,
    not `weed mini`/`weed server`: those register their gRPC unix sockets at fixed paths in the
    shared /tmp (`/tmp/seaweedfs-<name>-grpc-<port>.sock`), with no flag to move them, so two
    stacks on one host removed each other's. The standalone commands register none, and take
    the paths of the sockets they do open.

    SSE-S3 is on: the S3 server wraps every object's data key under the key-encryption key in
    `kek_file` (default `<data_dir>/sse-kek`), passed in its environment, never on a command line.
    """

    # Started in this order, stopped in the reverse.
    COMPONENTS = ("master", "volume", "filer", "s3")

    def __init__(
        self,
        data_dir: Path,
        access_key: str,
        secret_key: str,
        ports: SeaweedPorts | None = None,
        s3_port: int | None = None,
        kek_file: Path | None = None,
    ) -> None:
        ports = ports or SeaweedPorts()
        if s3_port is not None:
            ports = SeaweedPorts(**{**asdict(ports), "s3": s3_port})
        self.data_dir = Path(data_dir).resolve()
        self.ports = ports
        self.access_key = access_key
        self.secret_key = secret_key
        self.kek_file = Path(kek_file) if kek_file is not None else self.data_dir / KEK_FILE_NAME
        self.identities_file = self.data_dir / "s3-identities.json"
        self.store_dir = self.data_dir / "store"
        self.filer_socket = self.data_dir / "filer.sock"
        self.s3_socket = self.data_dir / "s3.sock"
        # What `weed mini` (caseflow before two stacks could share a host) recorded; still
        # stopped by `stop`, so `dev down` after an upgrade stops the old server.
        self.legacy_pid_file = self.data_dir / "weed.pid"

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.s3}"

    @property
    def log_file(self) -> Path:
        """The S3 server's log (each server has its own: weed-<name>.log)."""
        return self.process("s3").log_file

    def _component_ports(self, name: str) -> list[tuple[str, int]]:
        p = asdict(self.ports)
        return [(key, p[key]) for key in (name, f"{name}_grpc")]

    def process(self, name: str) -> ServerProcess:
        """One of the four servers, known by its pid file in `data_dir`."""
        env = None
        if name == "s3":
            # The KEK in the environment, not the command line (which `ps` shows everyone);
            # WEED_S3_SSE_KEY emptied, as weed refuses both at once.
            kek = ensure_kek_file(self.kek_file) if self.kek_file.exists() else ""
            env = {"WEED_S3_SSE_KEK": kek, "WEED_S3_SSE_KEY": ""}
        try:
            weed = str(find_binary("weed"))
        except BinaryMissing:
            weed = "weed"  # enough to stop or look at what runs; start() says what is missing
        return ServerProcess(
            name=f"weed-{name}",
            command=[weed, *self._arguments(name)],
            ports=[port for _, port in self._component_ports(name)],
            run_dir=self.data_dir,
            env=env,
            cwd=self.data_dir,
        )

    def start(self, wait: bool = True, timeout: float = 30.0) -> int:
        """Start whichever of the four servers is not running (each in its own process group,
        pid recorded) and, by default, wait until S3 answers. Returns the S3 server's pid.

        Raises BinaryMissing, PortTaken (naming the ports) or SeaweedFSError.
        """
        find_binary("weed")
        self._stop_legacy()
        missing = [name for name in self.COMPONENTS if not self.process(name).is_running()]
        wanted = [pair for name in missing for pair in self._component_ports(name)]
        busy = SeaweedPorts.taken_of(wanted)
        if busy:
            listed = ", ".join(f"{name} port {port}" for name, port in busy)
            raise PortTaken(f"SeaweedFS cannot start: {listed} on {LOOPBACK} already in use")
        for socket_path in (self.filer_socket, self.s3_socket):
            if len(str(socket_path)) > SOCKET_PATH_LIMIT:
                raise SeaweedFSError(
                    f"SeaweedFS cannot start: socket path {socket_path} is longer than "
                    f"{SOCKET_PATH_LIMIT} bytes; use a shorter data directory"
                )
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._write_identities()
        ensure_kek_file(self.kek_file)
        deadline = time.monotonic() + timeout
        for name in missing:
            server = self.process(name)
            server.start()
            # Each waits for the one before it: a filer started before its master answers
            # backs off for seconds before trying again.
            try:
                server.wait_until(self._answering(name), max(1.0, deadline - time.monotonic()))
            except StackError as error:
                reason = self._log_reason()
                for started in missing:  # a failed start leaves nothing of it running
                    self.process(started).stop(2.0)
                raise SeaweedFSError(f"SeaweedFS {name} server: {error} ({reason})") from None
        if wait:
            self.wait_ready(timeout)
        pid = self.process("s3").pid()
        if pid is None:
            raise SeaweedFSError(f"SeaweedFS exited during start: {self._log_reason()}")
        return pid

    def _answering(self, name: str) -> Callable[[], bool]:
        ports = [port for _, port in self._component_ports(name)]
        return lambda: all(port_answers(port) for port in ports)

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
            f" (logs: {self.data_dir}/weed-*.log)"
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
        """Create the bucket with versioning and encryption on, using this server's credentials."""
        ensure_bucket(self.endpoint_url, self.access_key, self.secret_key, bucket)

    def is_running(self) -> bool:
        """Whether all four servers are running (one alone serves nothing)."""
        return all(self.process(name).is_running() for name in self.COMPONENTS)

    def pids(self) -> dict[str, int]:
        """The running servers' pids by name."""
        found = {name: self.process(name).pid() for name in self.COMPONENTS}
        return {name: pid for name, pid in found.items() if pid is not None}

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the recorded servers, S3 first. Returns False if nothing was running."""
        stopped = self._stop_legacy()
        for name in reversed(self.COMPONENTS):
            # The filer's graceful stop always waits 15 s for a metadata stream it holds to
            # itself; with S3 already stopped nothing is in flight, so it gets a short grace.
            grace = min(timeout, 2.0) if name == "filer" else timeout
            stopped = self.process(name).stop(grace) or stopped
        for socket_path in (self.filer_socket, self.s3_socket):
            socket_path.unlink(missing_ok=True)
        return stopped

    def _stop_legacy(self) -> bool:
        """Stop a `weed mini` an older caseflow recorded in weed.pid, if it is still that one."""
        try:
            recorded = json.loads(self.legacy_pid_file.read_text())
            process = psutil.Process(recorded["pid"])
            if abs(process.create_time() - recorded["create_time"]) > 0.01:
                raise psutil.NoSuchProcess(recorded["pid"])
        except (FileNotFoundError, ValueError, KeyError, psutil.Error):
            self.legacy_pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except psutil.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.legacy_pid_file.unlink(missing_ok=True)
        return True

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

    def _arguments(self, name: str) -> list[str]:
        p = self.ports
        master = f"{LOOPBACK}:{p.master}.{p.master_grpc}"
        filer = f"{LOOPBACK}:{p.filer}.{p.filer_grpc}"
        # glog to stderr (our log file) only: with no -logdir it writes files into /tmp.
        logging = ["-logtostderr", f"-logdir={self.data_dir}"]
        bind = [f"-ip.bind={LOOPBACK}"]
        store = str(self.store_dir)
        if name == "master":
            return [*logging, "master", f"-ip={LOOPBACK}", *bind, f"-port={p.master}",
                    f"-port.grpc={p.master_grpc}", f"-mdir={store}", "-telemetry=false",
                    # one master: no Raft election to wait for on every restart
                    "-peers=none",
                    # as `weed mini` had it: small volumes suit a development store
                    "-volumeSizeLimitMB=128"]
        if name == "volume":
            return [*logging, "volume", f"-ip={LOOPBACK}", *bind, f"-port={p.volume}",
                    f"-port.grpc={p.volume_grpc}", f"-dir={store}", "-max=0",
                    f"-master={master}", "-preStopSeconds=0"]
        if name == "filer":
            return [*logging, "filer", f"-ip={LOOPBACK}", *bind, f"-port={p.filer}",
                    f"-port.grpc={p.filer_grpc}", f"-master={master}",
                    f"-defaultStoreDir={store}", f"-localSocket={self.filer_socket}",
                    "-iam=false"]
        return [*logging, "s3", *bind, f"-port={p.s3}", f"-port.grpc={p.s3_grpc}",
                f"-filer={filer}", f"-localFilerSocket={self.filer_socket}",
                f"-localSocket={self.s3_socket}", f"-config={self.identities_file}",
                # Iceberg and Lance catalogs are not used; 0 keeps them closed.
                "-port.iceberg=0", "-port.lance=0"]

    def _log_reason(self) -> str:
        """The line that says why a server stopped, from the first log that has one."""
        for name in self.COMPONENTS:
            log_file = self.process(name).log_file
            try:
                lines = log_file.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            for line in reversed(lines):
                if "address already in use" in line or "bind:" in line:
                    return f"{name}: {line.strip()}"
            if not self.process(name).is_running():
                errors = [line.strip() for line in lines if line.strip().startswith(("E", "F"))]
                if errors:
                    return f"{name}: {errors[-1]}"
        return f"see {self.data_dir}/weed-*.log"
