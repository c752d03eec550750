"""The reply link page: a hospital's international department acknowledges its referral, answers
it, uploads its documents and gets fresh links to the packet's files, with nothing but the signed
link every packet carries. Forms carry a CSRF token derived from the link; the token never leaves
the page in a Referer header."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.documents import check_filename
from caseflow import reply_links
from caseflow.case_events import HospitalDecision
from caseflow.documents import DocumentKind
from caseflow.hospitals import HospitalDirectory
from client.cases import CaseClosed, CaseNotFound
from client.errors import field_lines, one_line
from client.hospital_replies import HospitalReplies, reply_id
from client.referral_routes import PacketNotFound, PacketRoute
from web.access import Principal, Role
from web.errors import RequestTooLarge
from web.hospital_routes import hospital_replies

router = APIRouter(prefix="/reply", tags=["reply link"], include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=WEB_DIR / "templates")
_ASSETS = {"reply.css": "text/css"}
# Never let the token leave in a Referer; never cache a page with fresh links.
_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
UPLOAD_KINDS = [
    DocumentKind.HOSPITAL_OPINION,
    DocumentKind.TREATMENT_PLAN,
    DocumentKind.COST_ESTIMATE,
    DocumentKind.VISA_LETTER,
    DocumentKind.OTHER,
]
_DONE = {
    "acknowledged": "Thank you: your acknowledgement is recorded.",
    "answered": "Thank you: your answer is recorded.",
    "uploaded": "Your document is stored. Tick it in the answer form to send it with your answer.",
    "replayed": "This was already recorded; nothing changed.",
}


class LinkRefused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def _secret(request: Request) -> str:
    secret = request.app.state.settings.reply_link_secret
    if secret is None:
        raise LinkRefused(503, "reply links are not configured on this service")
    return secret.get_secret_value()


async def _link(request: Request, token: str) -> tuple[HospitalReplies, PacketRoute]:
    """The packet this token is for, after its signature, age and binding all check out."""
    settings = request.app.state.settings
    try:
        claims = reply_links.read_token(_secret(request), token, settings.reply_link_days)
    except reply_links.ReplyLinkInvalid as error:
        raise LinkRefused(401, str(error)) from None
    replies = hospital_replies(request)
    try:
        route = await replies.route(claims.packet_id)
    except PacketNotFound:
        raise LinkRefused(403, "this reply link is not for a referral we know") from None
    if (route.case_id, route.hospital_id) != (claims.case_id, claims.hospital_id):
        raise LinkRefused(403, "this reply link is not for this referral")
    request.state.principal = Principal(
        identity=f"hospital:{route.hospital_id}",
        role=Role.HOSPITAL,
        hospital_id=route.hospital_id,
        via="reply_link",
    )
    return replies, route


def _refusal(request: Request, refused: LinkRefused) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "reply_refused.html.j2", {"message": refused.message},
        status_code=refused.status, headers=_HEADERS,
    )


async def _page(
    request: Request,
    token: str,
    replies: HospitalReplies,
    route: PacketRoute,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    done: str | None = None,
) -> HTMLResponse:
    client = await request.app.state.temporal.client()
    view = await replies.referral(client, route, "reply_link")
    directory = HospitalDirectory.load_default()
    try:
        hospital_name = directory.get(route.hospital_id).name
    except LookupError:
        hospital_name = route.hospital_id
    context = {
        "view": view,
        "hospital_name": hospital_name,
        "action": f"/reply/{token}",
        "csrf": reply_links.csrf_token(_secret(request), token),
        "nonce": uuid.uuid4().hex,
        "errors": errors or {},
        "values": values or {},
        "done": _DONE.get(done or ""),
        "decisions": [d.value for d in HospitalDecision],
        "kinds": [k.value for k in UPLOAD_KINDS],
    }
    return templates.TemplateResponse(
        request, "reply.html.j2", context, status_code=status, headers=_HEADERS
    )


def _check_csrf(request: Request, token: str, form: Any) -> None:
    if not reply_links.csrf_matches(_secret(request), token, form.get("csrf")):
        raise LinkRefused(403, "this form has expired; reload the page and send it again")


def _nonce(form: Any) -> str:
    nonce = str(form.get("nonce") or "")
    if not nonce.isalnum() or len(nonce) > 64:
        raise LinkRefused(400, "this form is damaged; reload the page and send it again")
    return nonce


ANSWER_FIELDS = {
    "decision", "opinion", "proposed_treatment", "cost_estimate", "cost_estimate.amount",
    "cost_estimate.currency", "earliest_admission_date", "visa_invitation_possible", "documents",
}
ACK_FIELDS = {"reference"}


def _errors_by_field(error: Exception, fields: set[str]) -> dict[str, str]:
    """Each error next to its field, in the CLI's words (client.errors); under "" (the top of
    the page) what no field of the form holds, e.g. a rule of the case such as an answer
    already recorded."""
    if isinstance(error, ValidationError):
        lines = field_lines(error)
    else:
        line = one_line(error)
        lines = [(line.split(":", 1)[0] if ":" in line else "", line)]
    found: dict[str, str] = {}
    for where, line in lines:
        where = where if where in fields else ""
        found[where] = f"{found[where]}; {line}" if where in found else line
    return found


def _done(token: str, what: str) -> RedirectResponse:
    return RedirectResponse(f"/reply/{token}?done={what}", status_code=303, headers=_HEADERS)


_REFUSALS = (
    ValidationError,
    ValueError,
    LookupError,
    WorkflowUpdateFailedError,
    ApplicationError,
    CaseClosed,
    CaseNotFound,
)


@router.get("/{token}", response_class=HTMLResponse)
async def page(request: Request, token: str, done: str | None = None) -> Response:
    try:
        replies, route = await _link(request, token)
        return await _page(request, token, replies, route, done=done)
    except LinkRefused as refused:
        return _refusal(request, refused)


@router.post("/{token}/acknowledgement", response_class=HTMLResponse)
async def acknowledge(request: Request, token: str) -> Response:
    try:
        replies, route = await _link(request, token)
        form = await request.form()
        _check_csrf(request, token, form)
        key = reply_id("link", route.hospital_id, route.packet_id, "ack", _nonce(form))
        reference = str(form.get("reference") or "").strip()
        body = {"reference": reference} if reference else {}
        client = await request.app.state.temporal.client()
        try:
            ack = await replies.acknowledge(client, route, body, "reply link", key)
        except _REFUSALS as error:
            found = _errors_by_field(error, ACK_FIELDS)
            errors = {f"ack.{k}" if k else "": v for k, v in found.items()}
            return await _page(request, token, replies, route, status=_status(error),
                               errors=errors, values={"reference": reference})
        return _done(token, "replayed" if ack.replayed else "acknowledged")
    except LinkRefused as refused:
        return _refusal(request, refused)


def _answer_body(form: Any) -> dict[str, Any]:
    """The form as HospitalResponse's fields: empty inputs are absent, the cost estimate is an
    amount with its currency, the checkbox a bool, ticked documents by id."""
    def text(name: str) -> str | None:
        value = str(form.get(name) or "").strip()
        return value or None

    body: dict[str, Any] = {"decision": text("decision")}
    for name in ("opinion", "proposed_treatment", "earliest_admission_date"):
        if text(name) is not None:
            body[name] = text(name)
    amount, currency = text("cost_estimate.amount"), text("cost_estimate.currency")
    if amount is not None or currency is not None:
        body["cost_estimate"] = {"amount": amount, "currency": (currency or "").upper()}
    body["visa_invitation_possible"] = form.get("visa_invitation_possible") == "yes"
    body["documents"] = [str(d) for d in form.getlist("documents")]
    return body


def _status(error: Exception) -> int:
    if isinstance(error, WorkflowUpdateFailedError | CaseClosed):
        return 409
    return 400


@router.post("/{token}/answer", response_class=HTMLResponse)
async def answer(request: Request, token: str) -> Response:
    try:
        replies, route = await _link(request, token)
        form = await request.form()
        _check_csrf(request, token, form)
        key = reply_id("link", route.hospital_id, route.packet_id, "answer", _nonce(form))
        body = _answer_body(form)
        client = await request.app.state.temporal.client()
        try:
            ack = await replies.answer(client, route, body, "reply link", key)
        except _REFUSALS as error:
            values = {k: str(v) for k, v in form.items() if k not in ("csrf", "nonce")}
            values["documents"] = body["documents"]
            return await _page(request, token, replies, route, status=_status(error),
                               errors=_errors_by_field(error, ANSWER_FIELDS), values=values)
        return _done(token, "replayed" if ack.replayed else "answered")
    except LinkRefused as refused:
        return _refusal(request, refused)


async def _bounded(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"file: is over {limit} bytes")
        yield chunk


@router.post("/{token}/documents", response_class=HTMLResponse)
async def upload(request: Request, token: str) -> Response:
    """A multipart form with one file, streamed (bounded by max_document_bytes plus the form's
    few small fields) to a temporary file, then stored as `case upload` stores it."""
    try:
        replies, route = await _link(request, token)
        limit = request.app.state.settings.max_document_bytes + 64 * 1024
        parser = MultiPartParser(
            request.headers, _bounded(request, limit), max_files=1, max_fields=5
        )
        try:
            form = await parser.parse()
        except MultiPartException as error:
            raise LinkRefused(400, f"file: {error.message}") from None
        try:
            _check_csrf(request, token, form)
            file = form.get("file")
            client = await request.app.state.temporal.client()
            try:
                if not isinstance(file, UploadFile) or not file.filename:
                    raise ValueError("file: choose a file to upload")
                kind = DocumentKind(str(form.get("kind") or DocumentKind.HOSPITAL_OPINION.value))
                name = upload_filename_of(file.filename, kind)
                with tempfile.TemporaryDirectory(prefix="caseflow-reply-") as folder:
                    path = Path(folder) / name
                    with path.open("wb") as target:
                        shutil.copyfileobj(file.file, target, 1024 * 1024)
                    await replies.store_upload(client, route, path, kind)
            except _REFUSALS as error:
                line = one_line(error)
                return await _page(request, token, replies, route, status=_status(error),
                                   errors={"file": line})
            return _done(token, "uploaded")
        finally:
            await form.close()
    except LinkRefused as refused:
        return _refusal(request, refused)


def upload_filename_of(filename: str, kind: DocumentKind) -> str:
    """The browser's file name, without any folder (kept in workflow state only)."""
    name = Path(filename.replace("\\", "/")).name or kind.value
    check_filename(name)
    return name


@router.get("/assets/{name}")
async def asset(name: str) -> Response:
    """The page's own stylesheet, shipped in the repository (no CDN)."""
    if name not in _ASSETS:
        return Response(status_code=404)
    return FileResponse(WEB_DIR / "static" / name, media_type=_ASSETS[name])

