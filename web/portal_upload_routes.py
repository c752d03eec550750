"""The portal's records upload: a patient's browser sends each part of a file straight to S3 on
a presigned URL (S3 multipart), and these routes begin, presign, resume, complete and cancel it
for the one case the portal session names. The file's name never appears in a URL; the upload
id is opaque. Every write carries the session's CSRF token."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import Client

from activities.portal_uploads import SNIFF_BYTES, PortalUploadStore
from caseflow.documents import DocumentKind
from caseflow.portal_uploads import PortalUpload, StoredPart
from client import portal_uploads
from web.access import NotAuthenticated
from web.app import temporal_client
from web.auth import csrf_token
from web.pages import render
from web.portal_access import PortalVisitor, portal_visitor

router = APIRouter(tags=["portal"])

UploadId = Annotated[str, Path(pattern=r"^d[a-z2-7]{26}$")]

def N_(text: str) -> str:
    """Marks a string for the catalogue; the template translates it when shown."""
    return text


# What a patient may say a file is, in plain words (the coordinator can file it onto any
# checklist item when accepting it).
PATIENT_KINDS: dict[DocumentKind, str] = {
    DocumentKind.IMAGING_MRI: N_("MRI scan"),
    DocumentKind.IMAGING_CT: N_("CT scan"),
    DocumentKind.IMAGING_PET_CT: N_("PET-CT scan"),
    DocumentKind.DICOM_STUDY: N_("Imaging files from the hospital (DICOM, zip)"),
    DocumentKind.BIOPSY_REPORT: N_("Biopsy or pathology report"),
    DocumentKind.RT_TREATMENT_SUMMARY: N_("Radiotherapy treatment summary"),
    DocumentKind.RT_DOSE_PLAN: N_("Radiotherapy dose plan"),
    DocumentKind.LABS: N_("Blood test results"),
    DocumentKind.OTHER: N_("Something else"),
}


def store_of_app(app: FastAPI) -> PortalUploadStore:
    store = getattr(app.state, "portal_uploads", None)
    if store is None:
        store = app.state.portal_uploads = PortalUploadStore(app.state.settings)
    return store


def store_of(request: Request) -> PortalUploadStore:
    return store_of_app(request.app)


async def visitor_writing(request: Request) -> PortalVisitor:
    """The portal visitor, for a write: their session's CSRF token must come with it."""
    visitor = portal_visitor(request)
    await request.app.state.authenticator.check_csrf(request)
    return visitor


Visitor = Annotated[PortalVisitor, Depends(portal_visitor)]
Writer = Annotated[PortalVisitor, Depends(visitor_writing)]
Temporal = Annotated[Client, Depends(temporal_client)]
Store = Annotated[PortalUploadStore, Depends(store_of)]


class BeginUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind
    size: int = Field(gt=0)
    # Checked as `case upload` checks names, then forgotten: it comes again at completion.
    file_name: str = Field(min_length=1, max_length=1024)
    # The file's first bytes (base64, at most 64 KiB), so a wrong type fails before it moves.
    head: str = Field(max_length=4 * SNIFF_BYTES // 3 + 4)


class PartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(min_length=44, max_length=44)  # base64 of the part's SHA-256


class CompleteUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # the whole file's, computed in the browser
    file_name: str = Field(min_length=1, max_length=1024)
    # Each part's SHA-256 (base64, part 1 first), as signed into its URL; S3 checked the part.
    part_sha256: list[str | None] = Field(default_factory=list, max_length=10_000)


class UploadView(BaseModel):
    upload_id: str
    kind: DocumentKind
    size: int
    part_size: int
    part_count: int
    state: str
    expires_at: str
    parts_done: list[int]
    # How many parts the page sends at once (settings.portal_upload_concurrency).
    concurrency: int


def _view(upload: PortalUpload, parts: list[StoredPart], concurrency: int) -> UploadView:
    return UploadView(
        upload_id=upload.upload_id,
        kind=upload.kind,
        size=upload.size,
        part_size=upload.part_size,
        part_count=upload.part_count,
        state=upload.state,
        expires_at=upload.expires_at.isoformat(),
        parts_done=sorted(p.number for p in parts if p.size == upload.part_length(p.number)),
        concurrency=concurrency,
    )


@router.post("/portal/uploads", status_code=201)
async def begin(
    body: BeginUpload, request: Request, visitor: Writer, client: Temporal, store: Store
) -> UploadView:
    try:
        head = base64.b64decode(body.head, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("head: must be base64") from None
    upload = await portal_uploads.begin_upload(
        store, client, visitor.case_id, body.kind, body.size, body.file_name, head
    )
    return _view(upload, [], request.app.state.settings.portal_upload_concurrency)


@router.get("/portal/uploads/{upload_id}")
async def progress(
    upload_id: UploadId, request: Request, visitor: Visitor, store: Store
) -> UploadView:
    upload, parts = await portal_uploads.upload_progress(store, visitor.case_id, upload_id)
    return _view(upload, parts, request.app.state.settings.portal_upload_concurrency)


@router.post("/portal/uploads/{upload_id}/parts/{number}")
async def part_url(
    upload_id: UploadId,
    number: Annotated[int, Path(ge=1, le=10_000)],
    body: PartRequest,
    visitor: Writer,
    store: Store,
) -> dict[str, str]:
    url = await portal_uploads.presign_part(store, visitor.case_id, upload_id, number, body.sha256)
    return {"url": url}


@router.post("/portal/uploads/{upload_id}/completion")
async def complete(
    upload_id: UploadId, body: CompleteUpload, visitor: Writer, client: Temporal, store: Store
) -> dict[str, str]:
    ref, ack = await portal_uploads.complete_upload(
        store, client, visitor.case_id, upload_id, body.sha256, body.file_name, body.part_sha256
    )
    return {"document_id": ref.document_id, "sha256": ref.sha256, "detail": ack.detail}


@router.delete("/portal/uploads/{upload_id}", status_code=204)
async def cancel(upload_id: UploadId, visitor: Writer, store: Store) -> None:
    await portal_uploads.cancel_upload(store, visitor.case_id, upload_id)


# --- pages -------------------------------------------------------------------------------------


@router.get("/portal/records", response_class=HTMLResponse)
async def records_page(request: Request) -> HTMLResponse:
    try:
        portal_visitor(request)
    except NotAuthenticated as refusal:
        return render(request, "portal/closed.html.j2", status_code=401, reason=str(refusal))
    return render(
        request,
        "portal/records.html.j2",
        portal_csrf=csrf_token(request),
        kinds=list(PATIENT_KINDS.items()),
    )
