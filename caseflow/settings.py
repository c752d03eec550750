"""Settings: the only difference between the embedded stack and production.

Read from environment variables prefixed `CASEFLOW_` and, when present, from the data directory's
`caseflow.env`, which `caseflow dev up` writes with the embedded stack's generated credentials.
The data directory is found wherever a command runs (find_data_dir). Client-side only: never
imported by workflows.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from caseflow.secret_files import SecretFilesSource

# Where the web service serves the Temporal Web UI (a reverse proxy behind its login) and the UI's
# codec endpoint (web/ops_routes.py). The dev server's UI is started with this public path, so its
# pages and its API live under it on both its own port and the service's.
OPS_UI_PATH = "/ops/temporal"
OPS_CODEC_PATH = "/ops/codec"

GiB = 1024**3

DATA_DIR_NAME = ".data"
ENV_FILE_NAME = "caseflow.env"


def project_root() -> Path | None:
    """The repository this code runs from, when installed editable (as `make` installs it);
    None for a wheel in site-packages."""
    root = Path(__file__).resolve().parents[1]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "caseflow"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def find_data_dir(start: Path | None = None) -> Path:
    """The embedded stack's data directory, absolute, wherever the command runs:
    CASEFLOW_DATA_DIR when set; else the nearest `.data/caseflow.env` at or above the working
    directory; else the installed project's `.data`; else `.data` here (where `dev up` makes it).
    """
    explicit = os.environ.get("CASEFLOW_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DATA_DIR_NAME / ENV_FILE_NAME).is_file():
            return folder / DATA_DIR_NAME
    root = project_root()
    return (root or here) / DATA_DIR_NAME


def _package_version() -> str:
    """caseflow's installed version: the build id when no build names its own."""
    try:
        return metadata.version("caseflow")
    except metadata.PackageNotFoundError:
        return "unknown"


class CaseflowSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CASEFLOW_",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # Temporal: the embedded dev server by default; a cluster or Temporal Cloud in production.
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_api_key: SecretStr | None = None
    temporal_ui_url: str = "http://127.0.0.1:8233"
    task_queue: str = "cases"
    # -- render worker and metrics (issue 14) --
    # Letters (PDF rendering, packet building) run on their own task queue, served by render
    # workers (`caseflow worker --role letters`). None: "letters" beside the default "cases"
    # queue, "<task_queue>-letters" beside any other, so stacks sharing a Temporal never take
    # each other's letters. render_processes: Typst renderer processes per render worker
    # (None: one per core but one).
    letters_task_queue: str | None = None
    render_processes: int | None = Field(default=None, ge=1)
    # Where each worker serves Prometheus metrics (host:port, at /metrics). None: no endpoint.
    # `dev up` gives its case worker 127.0.0.1:<stack_metrics_port> and its render worker the
    # next port.
    metrics_address: str | None = None
    stack_metrics_port: int = Field(default=9464, gt=0, lt=65535)
    # -- end render worker and metrics --

    # S3: SeaweedFS on loopback by default; AWS S3 in production (leave the endpoint unset).
    s3_endpoint_url: str | None = "http://127.0.0.1:8333"
    s3_region: str = "us-east-1"
    s3_bucket: str = "caseflow-documents"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Encryption at rest (docs/data-protection.md): every put asks for it. AES256 is SSE-S3
    # (the embedded SeaweedFS wraps data keys under the stack's key-encryption key); aws:kms
    # with a KMS key id (or alias ARN) uses that key on AWS, the account's aws/s3 key without.
    s3_server_side_encryption: Literal["AES256", "aws:kms"] = "AES256"
    s3_kms_key_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9:/_.+=@-]{1,2048}$")

    # Mail: the stack's SMTP sink by default.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_sender: str = "caseflow@example.invalid"
    # Who notices reach: coordinators are <coordinator_id>@<domain>; escalations go up to the
    # supervisor; translation jobs go to the vendor.
    coordinator_email_domain: str = "coordinators.example.invalid"
    # The organisation letters and mails name beside a coordinator with no directory entry
    # (`caseflow users add ... --organisation` gives each person their own).
    coordination_team: str = "caseflow patient coordination"
    supervisor_email: str = "supervisor@example.invalid"
    translation_vendor_email: str = "translations@example.invalid"

    # --- In transit (docs/data-protection.md): TLS and logins for SMTP and Temporal. ---
    # SMTP: "none" for the loopback sink, "starttls" (usually port 587) or "tls" (implicit TLS,
    # usually 465). The relay's certificate is checked against the system's CA store, or
    # smtp_ca_file. Plain SMTP to a host off this machine is refused unless smtp_allow_plaintext.
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_ca_file: Path | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_allow_plaintext: bool = False
    # Temporal mTLS: the client certificate and key (PEM files) the cluster checks, and the CA
    # its server certificate is checked against (the system's when unset). Any of them turns
    # TLS on; temporal_tls_server_name overrides the name checked (SNI) when it differs from the
    # address's host.
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None
    temporal_tls_server_name: str | None = None
    # --- end of in transit ---

    # Webhook delivery: one Standard Webhooks secret (whsec_<base64>, >= 24 bytes) per hospital
    # id, e.g. CASEFLOW_WEBHOOK_SECRETS='{"cn-xiamen-bnct": "whsec_..."}'. Kept in the worker;
    # never part of a workflow payload.
    webhook_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)

    # Documents.
    max_document_bytes: int = Field(default=5 * GiB, gt=0)
    multipart_threshold_bytes: int = Field(default=16 * 1024**2, gt=0)
    multipart_chunk_bytes: int = Field(default=16 * 1024**2, ge=5 * 1024**2)

    # Payload encryption (docs/data-protection.md). AES-256 keys by id, never in the repo: either
    # CASEFLOW_ENCRYPTION_KEYS='{"<id>": "<base64 of 32 bytes>"}' with
    # CASEFLOW_ENCRYPTION_CURRENT_KEY_ID, or a key file (CASEFLOW_KEY_FILE, by default
    # <data_dir>/keys.json, which 'caseflow dev up' generates).
    encrypt_payloads: bool = True
    encryption_keys: dict[str, SecretStr] = Field(default_factory=dict)
    encryption_current_key_id: str | None = None
    key_file: Path | None = None

    # The codec server the Web UI decodes payloads through. Bearer tokens by the identity they
    # stand for, e.g. CASEFLOW_CODEC_TOKENS='{"ops-alice": "..."}'; every decode is audited.
    codec_server_url: str = "http://127.0.0.1:8081"
    codec_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # Production: the Web UI's own OIDC login passes the user's access token to the codec server,
    # which checks it against the provider's keys, issuer and audience, and then needs the
    # caseflow user it maps to to be ops or supervisor. Unset: static tokens only.
    codec_oidc_jwks_url: str | None = None
    codec_oidc_issuer: str | None = None
    codec_oidc_audience: str | None = None

    # The audit trail: append-only JSON lines per case, in a bucket with Object Lock where the
    # store supports it (governance mode; six years, as HIPAA keeps documentation).
    audit_bucket: str = "caseflow-audit"
    audit_retention_days: int = Field(default=6 * 365, gt=0)

    # The web service (`caseflow serve`): API, hospital reply path, console and portal. Behind TLS
    # in production, where `public_url` is the https address people and hospitals are given.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, gt=0, lt=65536)
    public_url: str = "http://127.0.0.1:8000"
    # Signs session cookies; `dev up` generates it. Cookies are HttpOnly and SameSite=Lax, and
    # Secure when `session_https_only` (set it in production).
    session_secret: SecretStr | None = None
    session_https_only: bool = False
    session_max_age_seconds: int = Field(default=8 * 3600, gt=0)
    # Users, roles and API tokens (hashed); SQLite under data_dir unless a database URL is given
    # (e.g. postgresql+psycopg://...).
    identity_db_url: str | None = None
    # Failed logins allowed per login and per client address before a pause.
    login_attempts_per_minute: int = Field(default=5, gt=0)
    # OpenID Connect, the production login: discovery URL, client id and secret. Users still need
    # a caseflow role (`caseflow users add --oidc-subject ...`).
    oidc_discovery_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # The reply link every packet carries: signed with this secret, bound to the packet and the
    # hospital, valid for this many days.
    reply_link_secret: SecretStr | None = None
    reply_link_days: int = Field(default=30, gt=0)
    # The patient portal's magic links (e-mailed; bound to a case and a hash of the address):
    # signed with this secret, valid this long. `dev up` generates the secret.
    portal_link_secret: SecretStr | None = None
    inquiry_confirmation_hours: int = Field(default=48, gt=0)
    portal_link_days: int = Field(default=14, gt=0)
    # Inquiry form posts one client address may make per minute (the portal is public).
    inquiry_posts_per_minute: int = Field(default=5, gt=0)
    # A patient's resumable upload may be resumed this long after it began; the sweeper (run by
    # the web service every `portal_upload_sweep_minutes`) then aborts it and frees its parts.
    portal_upload_expiry_hours: float = Field(default=48, gt=0)
    portal_upload_sweep_minutes: float = Field(default=15, gt=0)
    # Parts the portal's page sends at once (it learns the number from the service, as does
    # bench/portal_upload.py): 6 keeps a home uplink busy while a part is being presigned,
    # holding 6 parts (96 MiB at the default part size) in the browser.
    portal_upload_concurrency: int = Field(default=6, ge=1, le=16)
    # Secrets hospitals sign their callbacks with (Standard Webhooks), by hospital id.
    hospital_callback_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Largest JSON body the API reads; uploads stream and are bounded by max_document_bytes.
    max_json_body_bytes: int = Field(default=1024**2, gt=0)

    # --- Faults a case survives (issue 11, f2-faults) ---------------------------------------
    # How long each kind of workflow step retries infrastructure errors (S3 or an endpoint
    # unreachable, 5xx, timeouts, the mail relay down) before it is parked for retry_step or
    # skip_step, in minutes, by kind (workflows/step_policies.py StepKind: packet, storage,
    # webhook, email, mail), e.g. CASEFLOW_STEP_PATIENCE_MINUTES='{"packet": 60}'; kinds not
    # named get step_patience_default_minutes. The case reminds and escalates meanwhile.
    # Read when a case starts (it keeps them).
    step_patience_minutes: dict[str, float] = Field(
        default_factory=lambda: {"packet": 240.0, "storage": 240.0, "webhook": 1440.0,
                                 "email": 1440.0, "mail": 480.0}
    )
    step_patience_default_minutes: float = Field(default=240.0, gt=0)
    step_retry_initial_seconds: float = Field(default=1.0, gt=0)
    step_retry_maximum_seconds: float = Field(default=300.0, gt=0)
    # Multipart uploads not completed within this many hours are aborted (their parts freed)
    # by the sweeper the web service runs every portal_upload_sweep_minutes, under every prefix.
    incomplete_upload_expiry_hours: float = Field(default=24, gt=0)
    # --- end of issue 11 ---------------------------------------------------------------------

    # --- Worker versioning (issue 14, README "Worker versioning") ----------------------------
    # Off by default: `dev up` runs one unversioned worker. On, the worker registers as build
    # `worker_build_id` of deployment `worker_deployment_name` and receives tasks once that
    # version is made current (`temporal worker deployment set-current-version`). Set the build
    # id at build time (e.g. from `git describe --always --dirty`); unset, it is the package
    # version, which is the same for every build of one release.
    worker_versioning: bool = False
    worker_deployment_name: str = Field(default="caseflow", pattern=r"^[A-Za-z0-9_-]{1,100}$")
    worker_build_id: str = Field(
        default_factory=_package_version, pattern=r"^[A-Za-z0-9_+.-]{1,255}$"
    )
    # --- end of worker versioning --------------------------------------------------------------

    # Where the embedded stack keeps its state; its caseflow.env is the env file read.
    data_dir: Path = Field(default_factory=find_data_dir)

    @field_validator("s3_kms_key_id")
    @classmethod
    def _kms_key_needs_kms(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("s3_server_side_encryption") != "aws:kms":
            raise ValueError(
                "CASEFLOW_S3_KMS_KEY_ID needs CASEFLOW_S3_SERVER_SIDE_ENCRYPTION=aws:kms"
            )
        return value

    @field_validator("worker_build_id", mode="before")
    @classmethod
    def _empty_build_id_is_unset(cls, value: Any) -> Any:
        # An image built without a build id passes an empty variable: the package version.
        return _package_version() if value == "" else value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Relative to where the command started, once: later chdirs change nothing.
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The env file is the data directory's: the one given to the constructor, or the one
        found from where the command runs (unless `_env_file` names another)."""
        if getattr(dotenv_settings, "env_file", None) is not None:
            dotenv = dotenv_settings
        else:
            given: Any = getattr(init_settings, "init_kwargs", {}).get("data_dir")
            data_dir = Path(given).expanduser().resolve() if given is not None else find_data_dir()
            dotenv = DotEnvSettingsSource(
                settings_cls, env_file=data_dir / ENV_FILE_NAME, env_file_encoding="utf-8"
            )
        # Secrets may come from mounted files: CASEFLOW_<NAME>_FILE (caseflow/secret_files.py).
        secret_files = SecretFilesSource(
            settings_cls,
            env_prefix=settings_cls.model_config.get("env_prefix", ""),
            variables=[getattr(env_settings, "env_vars", {}), getattr(dotenv, "env_vars", {})],
        )
        return init_settings, secret_files, env_settings, dotenv, file_secret_settings

    def letters_queue(self) -> str:
        """The render workers' task queue (see letters_task_queue)."""
        if self.letters_task_queue:
            return self.letters_task_queue
        return "letters" if self.task_queue == "cases" else f"{self.task_queue}-letters"

    def ops_codec_endpoint(self) -> str:
        """The codec endpoint the Web UI is configured with: the web service's, same origin as
        the UI it proxies, so the browser sends the login cookie and the page's Referer."""
        return f"{self.public_url.rstrip('/')}{OPS_CODEC_PATH}"

    def identity_database(self) -> str:
        return self.identity_db_url or f"sqlite:///{(self.data_dir / 'identities.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> CaseflowSettings:
    return CaseflowSettings()
