"""Receiving a document over HTTP: the body streams to a private temporary file, bounded by the
document size limit, then goes to S3 through client.documents (the same checks as `case upload`).
The temporary file is removed on every path, so a broken upload leaves nothing behind."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote

from fastapi import Request

from caseflow.documents import DocumentKind, DocumentRef
from caseflow.settings import CaseflowSettings
from client.documents import store_file
from web.errors import RequestTooLarge

FILE_NAME_HEADER = "x-file-name"  # percent-encoded UTF-8; the name stays out of the URL


@asynccontextmanager
async def spooled_body(request: Request, limit: int) -> AsyncIterator[Path]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the document is over the {limit}-byte limit")
    fd, name = tempfile.mkstemp(prefix="caseflow-upload-")
    path = Path(name)
    try:
        received = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise RequestTooLarge(f"the document is over the {limit}-byte limit")
                out.write(chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)


def given_file_name(request: Request) -> str | None:
    raw = request.headers.get(FILE_NAME_HEADER)
    return unquote(raw) if raw else None


async def receive_document(
    request: Request, settings: CaseflowSettings, case_id: str, kind: DocumentKind
) -> DocumentRef:
    """Store the request body as a document of the case (content-addressed: a retried upload of
    the same bytes is the same document and no second object)."""
    name = given_file_name(request) or f"{kind.value}.bin"
    async with spooled_body(request, settings.max_document_bytes) as path:
        return await asyncio.to_thread(store_file, settings, case_id, path, kind, None, name)
