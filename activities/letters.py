"""Referral letters and packets: render the letter from templates/ and store the packet in S3.

A packet lives under `cases/<case_id>/packets/<packet_id>/` (letter.html, manifest.json) and is
never overwritten: the packet id comes from the workflow, and every write is conditional, so a
retried activity finds the packet it already stored [domain.md, "keep an exact copy of every
packet sent"]. The manifest lists each document with kind, size, SHA-256 and a presigned link.
"""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from caseflow.case_status import TriageFlagEntry
from caseflow.documents import DocumentRef
from caseflow.hospitals import Hospital
from caseflow.intake import CaseIntake
from caseflow.settings import CaseflowSettings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
LETTER_LANGUAGES = ("en", "zh-CN")
DECIDER_LINE = "a qualified oncologist at the receiving hospital decides"
MAX_LINK_TTL = timedelta(days=7)  # the SigV4 limit for presigned URLs

_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True)
_PACKET_ID = r"^[a-z0-9-]{8,64}$"


class ReferralPacketRequest(BaseModel):
    """Everything the letter says. Holds PHI: it travels only in (encoded) activity payloads."""

    model_config = _MODEL_CONFIG

    packet_id: str = Field(pattern=_PACKET_ID)
    case_id: str
    hospital: Hospital
    intake: CaseIntake
    documents: list[DocumentRef]
    triage_flags: list[TriageFlagEntry]
    modalities: list[str] = Field(default_factory=list)
    recommendation: str | None = None
    reviewer_id: str | None = None
    coordinator_id: str
    language: str = "en"
    written_on: date  # the workflow's date, so a re-render is byte-identical


class TranslationPacketRequest(BaseModel):
    model_config = _MODEL_CONFIG

    packet_id: str = Field(pattern=_PACKET_ID)
    case_id: str
    target_language: str
    documents: list[DocumentRef] = Field(min_length=1)


class PacketDocument(BaseModel):
    model_config = _MODEL_CONFIG

    document_id: str
    kind: str
    size: int
    sha256: str
    content_type: str
    url: str


class StoredPacket(BaseModel):
    model_config = _MODEL_CONFIG

    packet_id: str
    prefix: str
    letter_key: str | None
    manifest_key: str
    manifest_url: str
    documents: list[PacketDocument]
    links_expire_at: datetime
    created: bool  # False when a retry found the packet already stored


def packet_prefix(case_id: str, packet_id: str) -> str:
    return f"cases/{case_id}/packets/{packet_id}/"


class ReferralLetters:
    """Holds the S3 client and the Jinja2 environment; its activities write packets."""

    def __init__(
        self,
        settings: CaseflowSettings,
        templates_dir: Path = TEMPLATES_DIR,
        link_ttl: timedelta = MAX_LINK_TTL,
    ) -> None:
        if not timedelta(0) < link_ttl <= MAX_LINK_TTL:
            raise ValueError("link_ttl: must be more than 0 and at most 7 days")
        self._bucket = settings.s3_bucket
        self._link_ttl = link_ttl
        secret = settings.s3_secret_access_key
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        self._templates = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(["html", "j2"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def close(self) -> None:
        self._client.close()

    def render_letter(self, request: ReferralPacketRequest) -> str:
        """The letter's HTML. Pure given the request (no clock), so retries match."""
        language = request.language if request.language in LETTER_LANGUAGES else "en"
        template = self._templates.get_template(f"referral_letter.{language}.html.j2")
        intake = request.intake
        return template.render(
            case_id=request.case_id,
            hospital=request.hospital,
            patient=intake.patient,
            clinical=intake.clinical,
            rt_free_interval_days=intake.rt_free_interval_days(request.written_on),
            documents=request.documents,
            triage_flags=request.triage_flags,
            modalities=request.modalities,
            recommendation=request.recommendation,
            reviewer_id=request.reviewer_id,
            coordinator_id=request.coordinator_id,
            written_on=request.written_on,
            decider_line=DECIDER_LINE,
        )

    @activity.defn(name="render_referral_packet")
    def render_referral_packet(self, request: ReferralPacketRequest) -> StoredPacket:
        """Render the letter and store letter.html and manifest.json for one hospital."""
        prefix = packet_prefix(request.case_id, request.packet_id)
        letter = self.render_letter(request).encode("utf-8")
        letter_key = prefix + "letter.html"
        self._put_once(letter_key, letter, "text/html; charset=utf-8")
        return self._store_manifest(
            prefix,
            request.documents,
            letter_key=letter_key,
            extra={
                "kind": "referral",
                "hospital_id": request.hospital.hospital_id,
                "language": request.language,
                "written_on": request.written_on.isoformat(),
                "notice": "Confidential health information for the named recipient only. "
                f"Triage flags are advisory: {DECIDER_LINE}.",
            },
            packet_id=request.packet_id,
            case_id=request.case_id,
        )

    @activity.defn(name="store_translation_packet")
    def store_translation_packet(self, request: TranslationPacketRequest) -> StoredPacket:
        """A manifest (no letter) of the documents the translation vendor is to fetch."""
        prefix = packet_prefix(request.case_id, request.packet_id)
        return self._store_manifest(
            prefix,
            request.documents,
            letter_key=None,
            extra={"kind": "translation", "target_language": request.target_language},
            packet_id=request.packet_id,
            case_id=request.case_id,
        )

    def _store_manifest(
        self,
        prefix: str,
        documents: list[DocumentRef],
        *,
        letter_key: str | None,
        extra: dict,
        packet_id: str,
        case_id: str,
    ) -> StoredPacket:
        for ref in documents:
            if ref.case_id != case_id:
                raise ApplicationError(
                    f"documents: {ref.document_id} belongs to another case",
                    type="InvalidInput",
                    non_retryable=True,
                )
        manifest_key = prefix + "manifest.json"
        # The manifest is written last, so its presence means the packet is complete.
        existing = self._get_json(manifest_key)
        created = existing is None
        if existing is None:
            # Links go stale after at most 7 days; the stored copy keeps hashes as the record,
            # and `caseflow case packet` re-signs links for the coordinator.
            expires_at = datetime.now(UTC) + self._link_ttl
            manifest = {
                "packet_id": packet_id,
                "case_id": case_id,
                **extra,
                "letter_key": letter_key,
                "links_expire_at": expires_at.isoformat(),
                "documents": [
                    {
                        "document_id": ref.document_id,
                        "kind": ref.kind.value,
                        "size": ref.size,
                        "sha256": ref.sha256,
                        "content_type": ref.content_type,
                        "key": ref.key,
                        "url": self._presign(ref.key),
                    }
                    for ref in documents
                ],
            }
            body = json.dumps(manifest, indent=2, sort_keys=True).encode()
            if not self._put_once(manifest_key, body, "application/json"):
                existing = self._get_json(manifest_key)
                created = False
            else:
                existing = manifest
        assert existing is not None
        return StoredPacket(
            packet_id=packet_id,
            prefix=prefix,
            letter_key=existing.get("letter_key"),
            manifest_key=manifest_key,
            manifest_url=self._presign(manifest_key),
            documents=[
                PacketDocument(**{k: d[k] for k in PacketDocument.model_fields})
                for d in existing["documents"]
            ],
            links_expire_at=datetime.fromisoformat(existing["links_expire_at"]),
            created=created,
        )

    def _presign(self, key: str) -> str:
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=int(self._link_ttl.total_seconds()),
        )

    def _put_once(self, key: str, body: bytes, content_type: str) -> bool:
        """Write `key` unless it exists; False when it was already there."""
        try:
            self._client.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise
        return True

    def _get_json(self, key: str) -> dict | None:
        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return json.loads(answer["Body"].read())
