"""What a document's bytes are, and whether the case may store them: the content type sniffed
from the bytes (never the name), and the filename, size and kind checks behind DocumentRejected.
Messages name the field and never repeat the filename, which may carry the patient's name."""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

from temporalio.exceptions import ApplicationError

from caseflow.documents import (
    ACCEPTED_CONTENT_TYPES,
    DICOM,
    DOCX,
    ELF,
    JPEG,
    MACH_O,
    PDF,
    PNG,
    PROGRAMS,
    SCRIPT,
    TEXT,
    TIFF,
    WINDOWS_EXECUTABLE,
    ZIP,
    DocumentKind,
)

UNKNOWN = "application/octet-stream"
_SNIFF_BYTES = 64 * 1024


def rejected(reason: str) -> ApplicationError:
    """A non-retryable rejection whose one-line reason names the field; no patient data in it."""
    return ApplicationError(reason, type="DocumentRejected", non_retryable=True)


def mismatch(reason: str) -> ApplicationError:
    return ApplicationError(reason, type="DocumentMismatch", non_retryable=True)


def check_filename(filename: str) -> None:
    """Reject filenames that could address another path or hide characters. The message never
    repeats the name, which may carry the patient's name."""
    if not filename or not filename.strip():
        raise rejected("original_filename: is empty")
    if "/" in filename or "\\" in filename:
        raise rejected("original_filename: contains a path separator")
    if any(unicodedata.category(ch) == "Cc" for ch in filename):
        raise rejected("original_filename: contains a control character")
    if filename in (".", ".."):
        raise rejected("original_filename: is not a file name")
    if len(filename.encode()) > 255:
        raise rejected("original_filename: is longer than 255 bytes")


def detect_content_type(path: Path) -> str:
    """The content type from the file's bytes (never its name); UNKNOWN when unrecognised."""
    with open(path, "rb") as file:
        head = file.read(_SNIFF_BYTES)
    kind = content_type_of(head)
    if kind == ZIP and _is_docx(path):
        return DOCX
    return kind


def content_type_of(head: bytes) -> str:
    """The content type from a file's first bytes. DOCX needs the zip directory: see
    detect_content_type."""
    program = _program_of(head)
    if program is not None:
        return program
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ZIP
    # A DICOM Part 10 file: a 128-byte preamble, then the magic.
    if head[128:132] == b"DICM":
        return DICOM
    # Readers accept a PDF header anywhere in the first kilobyte.
    if b"%PDF-" in head[:1024]:
        return PDF
    if _is_text(head):
        return TEXT
    return UNKNOWN


# Mach-O thin (32/64-bit, either byte order) and fat binaries.
_MACH_O_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                  b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def _program_of(head: bytes) -> str | None:
    """A program's type from its magic, checked before anything else: a script is valid text
    and would otherwise pass wherever plain text does."""
    if head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"#!"):
        return SCRIPT
    if head.startswith(b"\x7fELF"):
        return ELF
    if head.startswith(b"MZ") and not _is_text(head):  # not a text that begins "MZ"
        return WINDOWS_EXECUTABLE
    if head.startswith(_MACH_O_MAGICS):
        return MACH_O
    return None


def _is_docx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith("word/") for n in names)


def _is_text(head: bytes) -> bool:
    """UTF-8 (or ASCII) text without control characters other than layout ones."""
    head = head.removeprefix(b"\xef\xbb\xbf")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # Tolerate only a multi-byte character cut off by the end of the sniff window.
        if len(head) < _SNIFF_BYTES - 3 or error.start < len(head) - 3:
            return False
        text = head[: error.start].decode("utf-8")
    allowed = {"\t", "\n", "\r", "\f"}
    return bool(text) and not any(
        unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text
    )


def check_document(kind: DocumentKind, size: int, content_type: str, max_bytes: int) -> None:
    if size == 0:
        raise rejected("file: is empty")
    if size > max_bytes:
        raise rejected(
            f"file: {size} bytes is over the limit of {max_bytes} bytes (max_document_bytes)"
        )
    if content_type in PROGRAMS:
        raise rejected(f"file: content is {PROGRAMS[content_type]}, which no kind accepts")
    accepted = ACCEPTED_CONTENT_TYPES[kind]
    if content_type not in accepted:
        found = "an unrecognised type" if content_type == UNKNOWN else content_type
        raise rejected(
            f"file: content is {found}, which kind {kind.value} does not accept"
            f" (accepted: {', '.join(sorted(accepted))})"
        )
