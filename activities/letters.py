"""Referral letters and packets: render the letter from templates/ and store the packet in S3.

A packet lives under `cases/<case_id>/packets/<packet_id>/` (letter.html, letter.pdf, bundle.json,
index.html, manifest.json) and is never overwritten: the packet id comes from the workflow, and
every write is conditional, so a retried activity finds the packet it already stored
[docs/sources.md, "keep an exact copy of every packet sent"]. The manifest lists each document
with kind, size, SHA-256 and a presigned link, plus the letter, FHIR bundle and index page with
their SHA-256s; it is written last. Request and result models are in activities/payloads.py, the
PDF renderers in activities/pdf_renderers.py.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.audit import AuditAction, AuditTrail, activity_event
from activities.failures import step_activity
from activities.letter_content import letter_content
from activities.letter_words import (
    LetterWords,
    content_disposition,
    download_name,
    question_text,
    reason_text,
    short_hash,
)
from activities.payloads import (
    PacketDocument,
    ReferralPacketRequest,
    StoredPacket,
    TranslationPacketRequest,
    packet_prefix,
)
from activities.pdf_renderers import PDF_RENDER_TIMEOUT, PdfRenderers
from activities.s3_client import (
    PRESIGN_LIMIT,
    GetLinks,
    build_s3_client,
    check_presign_ttl,
    get_bytes,
    put_once,
)
from caseflow import reply_links
from caseflow.documents import DocumentRef
from caseflow.ids import packet_route_key
from caseflow.settings import CaseflowSettings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
DECIDER_LINE = "a qualified oncologist at the receiving hospital decides"


class ReferralLetters:
    """Holds the S3 client, the Jinja2 environment and the PDF renderer processes (started on the
    first letter, stopped by close()); its activities write packets."""

    def __init__(
        self,
        settings: CaseflowSettings,
        templates_dir: Path = TEMPLATES_DIR,
        link_ttl: timedelta = PRESIGN_LIMIT,
        pdf_workers: int | None = None,
        pdf_timeout: timedelta = PDF_RENDER_TIMEOUT,
        audit: AuditTrail | None = None,
    ) -> None:
        check_presign_ttl(link_ttl, "link_ttl")
        self._pdf = PdfRenderers(pdf_workers, pdf_timeout)
        self._bucket = settings.s3_bucket
        self._link_ttl = link_ttl
        self._client = build_s3_client(settings)
        # A packet presigns a link per document: signed without the client's per-call work.
        self._links = GetLinks(self._client, self._bucket, settings)
        # The reply link every packet carries; no secret, no link (a stack without the service).
        secret = settings.reply_link_secret
        self._reply_secret = secret.get_secret_value() if secret else None
        self._public_url = settings.public_url
        # Packets generated (and their presigned links) are recorded when a trail is given.
        self._audit = audit
        self._templates = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(["html", "j2"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def close(self) -> None:
        self._client.close()
        self._pdf.close()

    def render_pdf(self, request: ReferralPacketRequest) -> bytes:
        """The letter's PDF, set by Typst in a renderer process (activities/pdf_renderers.py)
        from the letter's content as data (activities/letter_content.py)."""
        return self._pdf.render(letter_content(request, self.reply_url(request)),
                                request.created())

    def render_letter(self, request: ReferralPacketRequest) -> str:
        """The letter's HTML. Pure given the request (no clock), so retries match. One template
        for every language; the words come from the letter's catalogues (activities/
        letter_words.py)."""
        words = LetterWords(request.language)
        intake = request.intake
        hospital = request.hospital
        return self._templates.get_template("referral_letter.html.j2").render(
            language=words.language,
            say=words.say,
            plain=words.plain,
            words=words.words,
            flag_text=words.flag,
            country=words.country,
            language_name=words.language_name,
            date=words.date,
            size=words.size,
            short_hash=short_hash,
            case_id=request.case_id,
            hospital=hospital,
            show_city=not names_city(hospital.name, hospital.city),
            patient=intake.patient,
            clinical=intake.clinical,
            rt_free_interval_days=intake.rt_free_interval_days(request.written_on),
            documents=request.documents,
            triage_flags=request.triage_flags,
            recommendation=request.recommendation,
            reviewer_id=request.reviewer_id,
            coordinator_id=request.coordinator_id,
            contact=request.coordinator_contact,
            written_on=request.written_on,
            # The coordinator's own words as written; caseflow's defaults in every language.
            reason=request.reason or words.reason(intake, request.written_on),
            question=request.question or words.question(request.modalities),
            reply_url=self.reply_url(request),
        )

    def render_index(
        self,
        request: ReferralPacketRequest,
        expires_at: datetime,
        links: dict[str, str],
        packet_files: list[dict[str, str]],
    ) -> str:
        """index.html: the packet's files and documents with their links, for people."""
        words = LetterWords(request.language)
        return self._templates.get_template("packet_index.html.j2").render(
            language=words.language,
            say=words.say,
            plain=words.plain,
            words=words.words,
            date=words.date,
            size=words.size,
            packet_id=request.packet_id,
            case_id=request.case_id,
            hospital_name=request.hospital.name,
            created_at=request.created().astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            links_expire_at=expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            packet_files=packet_files,
            documents=request.documents,
            links=links,
            reply_url=self.reply_url(request),
            contact=request.coordinator_contact,
        )

    # -- the hospitals' reply path: the reply link and the packet's routing object -------------

    def reply_url(self, request: ReferralPacketRequest) -> str | None:
        """The packet's reply link, issued at the packet's creation time, so every render of the
        same packet (a retry) carries the same link."""
        if self._reply_secret is None:
            return None
        claims = reply_links.ReplyClaims(
            case_id=request.case_id,
            hospital_id=request.hospital.hospital_id,
            packet_id=request.packet_id,
        )
        token = reply_links.make_token(self._reply_secret, claims, request.created().timestamp())
        return reply_links.reply_url(self._public_url, token)

    def _store_route(self, request: ReferralPacketRequest) -> None:
        """routes/packets/<packet_id>.json: what the reply path resolves a packet id by."""
        route = {"case_id": request.case_id, "hospital_id": request.hospital.hospital_id}
        body = json.dumps(route, sort_keys=True).encode()
        self._put_once(packet_route_key(request.packet_id), body, "application/json")

    @activity.defn(name="render_referral_packet")
    @step_activity
    def render_referral_packet(self, request: ReferralPacketRequest) -> StoredPacket:
        """Store letter.html, letter.pdf, bundle.json, then manifest.json for one hospital, and
        the routing object the reply path finds the packet by."""
        packet = self._render_referral_packet(request)
        self._store_route(request)
        packet = packet.model_copy(update={"reply_url": self.reply_url(request)})
        return self._audited(packet, request.case_id, request.hospital.hospital_id, "referral")

    def _render_referral_packet(self, request: ReferralPacketRequest) -> StoredPacket:
        prefix = packet_prefix(request.case_id, request.packet_id)
        manifest_key = prefix + "manifest.json"
        stored = self._get_bytes(manifest_key)
        if stored is not None:  # a retry of a packet already complete
            return self._stored_packet(request.packet_id, prefix, manifest_key, stored, False)
        _check_case(request.documents, request.case_id)
        expires_at = datetime.now(UTC) + self._link_ttl
        links = {ref.document_id: self._document_link(ref, request.language)
                 for ref in request.documents}
        html = self.render_letter(request)
        pdf = self.render_pdf(request)
        bundle = _bundle_bytes(request, links, expires_at)
        letter_key, pdf_key, bundle_key = (
            prefix + "letter.html", prefix + "letter.pdf", prefix + "bundle.json"
        )
        html_bytes = self._put_or_read(letter_key, html.encode("utf-8"), "text/html; charset=utf-8")
        pdf_bytes = self._put_or_read(pdf_key, pdf, "application/pdf")
        bundle_bytes = self._put_or_read(bundle_key, bundle, "application/fhir+json")
        index_key = prefix + "index.html"
        index = self.render_index(
            request,
            expires_at,
            links,
            [
                {"name": "letter.pdf", "content_type": "application/pdf",
                 "sha256": _sha256(pdf_bytes), "url": self._presign(pdf_key)},
                {"name": "letter.html", "content_type": "text/html",
                 "sha256": _sha256(html_bytes), "url": self._presign(letter_key)},
                {"name": "bundle.json", "content_type": "application/fhir+json (FHIR R4B)",
                 "sha256": _sha256(bundle_bytes), "url": self._presign(bundle_key)},
            ],
        )
        index_bytes = self._put_or_read(
            index_key, index.encode("utf-8"), "text/html; charset=utf-8"
        )
        return self._store_manifest(
            prefix,
            request.documents,
            letter_key=letter_key,
            extra={
                "kind": "referral",
                "hospital_id": request.hospital.hospital_id,
                "language": request.language,
                "written_on": request.written_on.isoformat(),
                "created_at": request.created().isoformat(),
                "letter_sha256": _sha256(html_bytes),
                "letter_pdf_key": pdf_key,
                "letter_pdf_sha256": _sha256(pdf_bytes),
                "bundle_key": bundle_key,
                "bundle_sha256": _sha256(bundle_bytes),
                "index_key": index_key,  # the same list for people, with links
                "index_sha256": _sha256(index_bytes),
                "notice": "Confidential health information for the named recipient only. "
                f"Triage flags are advisory: {DECIDER_LINE}.",
            },
            packet_id=request.packet_id,
            case_id=request.case_id,
            expires_at=expires_at,
            links=links,
            language=request.language,
            looked=True,  # no manifest when this render began; a racing attempt's is read below
        )

    @activity.defn(name="store_translation_packet")
    @step_activity
    def store_translation_packet(self, request: TranslationPacketRequest) -> StoredPacket:
        """A manifest (no letter) of the documents the translation vendor is to fetch."""
        prefix = packet_prefix(request.case_id, request.packet_id)
        packet = self._store_manifest(
            prefix,
            request.documents,
            letter_key=None,
            extra={"kind": "translation", "target_language": request.target_language},
            packet_id=request.packet_id,
            case_id=request.case_id,
        )
        return self._audited(packet, request.case_id, None, "translation")

    def _audited(
        self, packet: StoredPacket, case_id: str, hospital_id: str | None, kind: str
    ) -> StoredPacket:
        """Record the packet in the audit trail: generated, or (a retry that found it stored)
        its links issued again. Opaque ids, counts and hashes only."""
        if self._audit is not None:
            links = len(packet.documents) + 1 + bool(packet.letter_url) + bool(packet.bundle_url)
            self._audit.record(
                activity_event(
                    case_id=case_id,
                    action=(
                        AuditAction.PACKET_GENERATED
                        if packet.created
                        else AuditAction.PRESIGNED_URL_ISSUED
                    ),
                    hospital_id=hospital_id,
                    subject=packet.packet_id,
                    detail={
                        "kind": kind,
                        "documents": len(packet.documents),
                        "manifest_sha256": packet.sha256,
                        "presigned_links": links,
                        "links_expire_at": packet.links_expire_at.isoformat(),
                    },
                )
            )
        return packet

    def _store_manifest(
        self,
        prefix: str,
        documents: list[DocumentRef],
        *,
        letter_key: str | None,
        extra: dict,
        packet_id: str,
        case_id: str,
        expires_at: datetime | None = None,
        links: dict[str, str] | None = None,
        language: str = "en",
        looked: bool = False,
    ) -> StoredPacket:
        """Write the manifest once. `looked`: the caller already found no manifest, so only the
        conditional put decides (it loses to an attempt that wrote one since, and reads that)."""
        _check_case(documents, case_id)
        manifest_key = prefix + "manifest.json"
        # The manifest is written last, so its presence means the packet is complete.
        stored = None if looked else self._get_bytes(manifest_key)
        if stored is not None:
            return self._stored_packet(packet_id, prefix, manifest_key, stored, False)
        # Links go stale after at most 7 days; the stored copy keeps hashes as the record,
        # and `caseflow case packet` re-signs links for the coordinator.
        expires_at = expires_at or datetime.now(UTC) + self._link_ttl
        links = links or {}
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
                        "uploaded_at": ref.uploaded_at.isoformat(),
                    # What the link's download saves as (the URL's Content-Disposition).
                    "file_name": self._file_name(ref, language),
                    "url": links.get(ref.document_id) or self._document_link(ref, language),
                }
                for ref in documents
            ],
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        created = self._put_once(manifest_key, body, "application/json")
        if not created:
            body = self._get_bytes(manifest_key) or body
        return self._stored_packet(packet_id, prefix, manifest_key, body, created)

    def _stored_packet(
        self, packet_id: str, prefix: str, manifest_key: str, body: bytes, created: bool
    ) -> StoredPacket:
        manifest = json.loads(body)
        pdf_key, bundle_key = manifest.get("letter_pdf_key"), manifest.get("bundle_key")
        return StoredPacket(
            packet_id=packet_id,
            prefix=prefix,
            letter_key=manifest.get("letter_key"),
            manifest_key=manifest_key,
            manifest_url=self._presign(manifest_key),
            documents=[
                PacketDocument(**{k: d[k] for k in PacketDocument.model_fields})
                for d in manifest["documents"]
            ],
            links_expire_at=datetime.fromisoformat(manifest["links_expire_at"]),
            created=created,
            sha256=_sha256(body),
            letter_pdf_key=pdf_key,
            letter_pdf_sha256=manifest.get("letter_pdf_sha256"),
            bundle_key=bundle_key,
            bundle_sha256=manifest.get("bundle_sha256"),
            letter_url=(
                self._presign(pdf_key, f"referral-letter-{packet_id}.pdf") if pdf_key else None
            ),
            bundle_url=(
                self._presign(bundle_key, f"referral-bundle-{packet_id}.json")
                if bundle_key else None
            ),
        )

    def _presign(self, key: str, file_name: str | None = None) -> str:
        disposition = content_disposition(file_name) if file_name else None
        return self._links.presign(key, self._link_ttl, disposition)

    @staticmethod
    def _file_name(ref: DocumentRef, language: str) -> str:
        return download_name(
            language, ref.kind.value, ref.document_id, ref.content_type, ref.original_filename
        )

    def _document_link(self, ref: DocumentRef, language: str) -> str:
        """A document's presigned link, downloading as its kind and id with its extension."""
        return self._presign(ref.key, self._file_name(ref, language))

    def _put_once(self, key: str, body: bytes, content_type: str) -> bool:
        return put_once(self._client, self._bucket, key, body, ContentType=content_type)

    def _put_or_read(self, key: str, body: bytes, content_type: str) -> bytes:
        """Write `key` once; the bytes stored under it (an earlier attempt's, if it won)."""
        if self._put_once(key, body, content_type):
            return body
        stored = self._get_bytes(key)
        if stored is None:  # deleted between the two calls: nothing sensible to hash
            raise ApplicationError(f"packet object {key} vanished", type="StoreUnavailable")
        return stored

    def _get_bytes(self, key: str) -> bytes | None:
        return get_bytes(self._client, self._bucket, key)


def names_city(name: str, city: str) -> bool:
    """Whether a hospital's name already ends with its city ("..., Mumbai"), so the address
    does not say it twice."""
    return name.casefold().rstrip().endswith(city.casefold().strip())


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _check_case(documents: list[DocumentRef], case_id: str) -> None:
    for ref in documents:
        if ref.case_id != case_id:
            raise ApplicationError(
                f"documents: {ref.document_id} belongs to another case",
                type="InvalidInput",
                non_retryable=True,
            )


def _bundle_bytes(
    request: ReferralPacketRequest, links: dict[str, str], expires_at: datetime
) -> bytes:
    """The FHIR R4B bundle, validated by fhir.resources, every reference resolving inside it."""
    from caseflow.referral_bundle import checked_bundle_json, referral_bundle_data

    try:
        bundle = referral_bundle_data(
            referral_id=request.packet_id,
            case_id=request.case_id,
            intake=request.intake,
            hospital=request.hospital,
            documents=request.documents,
            links=links,
            reason=request.reason or reason_text("en", request.intake, request.written_on),
            question=request.question or question_text("en", request.modalities),
            modalities=request.modalities,
            created_at=request.created(),
            links_expire_at=expires_at,
            consents=request.consents,
            coordinator_id=request.coordinator_id,
            coordinator=request.coordinator_contact,
        )
        body = checked_bundle_json(bundle)
    except ValidationError as error:
        # pydantic's text quotes input values (patient data): name the fields only.
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in error.errors()[:3])
        raise ApplicationError(
            f"bundle: {error.error_count()} FHIR validation error(s) at {where}",
            type="InvalidInput",
            non_retryable=True,
        ) from None
    except ValueError as error:
        # referral_bundle_data's own messages name the field and opaque ids only.
        raise ApplicationError(str(error), type="InvalidInput", non_retryable=True) from None
    return body
