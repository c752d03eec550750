"""Content sniffing from bytes, and the filename and kind checks behind DocumentRejected."""

from __future__ import annotations

import io
import zipfile

import pytest
from temporalio.exceptions import ApplicationError

from activities.document_content import (
    UNKNOWN,
    check_document,
    check_filename,
    content_type_of,
    detect_content_type,
)
from caseflow.documents import (
    DICOM,
    DOCX,
    ELF,
    JPEG,
    MACH_O,
    PDF,
    PNG,
    SCRIPT,
    TEXT,
    TIFF,
    WINDOWS_EXECUTABLE,
    ZIP,
    DocumentKind,
)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", PDF),
        (b"\r\n%PDF-1.7\n", PDF),  # junk before the header is tolerated, as readers do
        (b"\x00" * 128 + b"DICM" + b"\x02\x00", DICOM),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", PNG),
        (b"II*\x00\x08\x00\x00\x00", TIFF),
        (b"MM\x00*\x00\x00\x00\x08", TIFF),
        (b"PK\x03\x04\x14\x00", ZIP),
        (b"Creatinine 1.1 mg/dL\r\nHb 12.9 g/dL\n", TEXT),
        ("肌酐 1.1 mg/dL — हीमोग्लोबिन 12.9\n".encode(), TEXT),
        (b"\xef\xbb\xbfwith a BOM\n", TEXT),
        (b"text with a NUL\x00 byte", UNKNOWN),
        (b"\x7fELF\x02\x01\x01", ELF),
        (b"\xff\xfe\x00\x00 not utf-8", UNKNOWN),
        (b"", UNKNOWN),
        (b"\x00" * 128 + b"DICX", UNKNOWN),
    ],
)
def test_content_type_comes_from_the_bytes(head, expected):
    assert content_type_of(head) == expected


def test_text_cut_mid_character_by_the_sniff_window_is_still_text():
    window = ("é" * 40000).encode()[: 64 * 1024 - 1]
    assert content_type_of(window) == TEXT


def test_invalid_utf8_in_the_middle_is_not_text():
    assert content_type_of(b"abc\xc3(def" + b"x" * 100) == UNKNOWN


def zip_with(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


def test_docx_is_a_zip_with_a_word_part_and_the_name_does_not_matter(tmp_path):
    docx = tmp_path / "scan.png"
    docx.write_bytes(zip_with(["[Content_Types].xml", "word/document.xml", "_rels/.rels"]))
    plain_zip = tmp_path / "letter.docx"
    plain_zip.write_bytes(zip_with(["IM0001.dcm", "IM0002.dcm"]))
    pdf_named_png = tmp_path / "photo.png"
    pdf_named_png.write_bytes(b"%PDF-1.5\n...")

    assert detect_content_type(docx) == DOCX
    assert detect_content_type(plain_zip) == ZIP
    assert detect_content_type(pdf_named_png) == PDF


def rejection_of(call) -> str:
    with pytest.raises(ApplicationError) as raised:
        call()
    assert raised.value.type == "DocumentRejected"
    assert raised.value.non_retryable
    return raised.value.message


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        ("", "original_filename: is empty"),
        ("   ", "original_filename: is empty"),
        ("scans/mri.pdf", "original_filename: contains a path separator"),
        ("..\\mri.pdf", "original_filename: contains a path separator"),
        ("mri\n.pdf", "original_filename: contains a control character"),
        ("mri\x00.pdf", "original_filename: contains a control character"),
        ("mri\x85.pdf", "original_filename: contains a control character"),
        ("..", "original_filename: is not a file name"),
        ("a" * 252 + ".pdf", "original_filename: is longer than 255 bytes"),
    ],
)
def test_bad_filenames_are_rejected_without_repeating_them(filename, reason):
    assert rejection_of(lambda: check_filename(filename)) == reason


@pytest.mark.parametrize(
    "filename", ["MRI brain 2024-03.pdf", "活检报告.pdf", "रिपोर्ट.pdf", "a.b.c"]
)
def test_ordinary_filenames_pass(filename):
    check_filename(filename)


def test_empty_and_oversized_files_are_rejected():
    assert rejection_of(lambda: check_document(DocumentKind.LABS, 0, PDF, 100)) == "file: is empty"
    message = rejection_of(lambda: check_document(DocumentKind.LABS, 101, PDF, 100))
    assert "101" in message and "max_document_bytes" in message
    check_document(DocumentKind.LABS, 100, PDF, 100)


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [
        (DocumentKind.DICOM_STUDY, PNG),
        (DocumentKind.PASSPORT, DOCX),
        (DocumentKind.PASSPORT, TEXT),
        (DocumentKind.BIOPSY_REPORT, DICOM),
        (DocumentKind.OTHER, UNKNOWN),
    ],
)
def test_a_content_type_the_kind_does_not_accept_is_rejected(kind, content_type):
    message = rejection_of(lambda: check_document(kind, 10, content_type, 100))
    assert message.startswith("file: content is ") and kind.value in message


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [
        (DocumentKind.DICOM_STUDY, DICOM),
        (DocumentKind.DICOM_STUDY, ZIP),
        (DocumentKind.IMAGING_MRI, DICOM),
        (DocumentKind.PASSPORT, JPEG),
        (DocumentKind.BIOPSY_REPORT, DOCX),
        (DocumentKind.RT_DOSE_PLAN, TEXT),
    ],
)
def test_accepted_content_types_pass(kind, content_type):
    check_document(kind, 10, content_type, 100)


# Issue 12: a shell script named `.pdf` was accepted as a biopsy report, being plain text.
PROGRAM_HEADS = [
    (b"#!/bin/sh\nrm -rf ~\n", SCRIPT, "a script (#!)"),
    (b"\xef\xbb\xbf\n#!/usr/bin/env python3\n", SCRIPT, "a script (#!)"),
    (b"\x7fELF\x02\x01\x01\x00", ELF, "an executable program (ELF)"),
    (b"MZ\x90\x00\x03\x00\x00\x00", WINDOWS_EXECUTABLE,
     "an executable program (Windows, MZ)"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", MACH_O, "an executable program (Mach-O)"),
]


@pytest.mark.parametrize(("head", "content_type", "words"), PROGRAM_HEADS)
def test_programs_are_refused_for_every_kind(head, content_type, words):
    assert content_type_of(head) == content_type
    for kind in DocumentKind:
        with pytest.raises(ApplicationError) as raised:
            check_document(kind, 100, content_type, 10_000)
        assert raised.value.message == f"file: content is {words}, which no kind accepts"
        assert raised.value.non_retryable


def test_a_script_named_pdf_is_refused_as_a_biopsy_report(tmp_path):
    path = tmp_path / "biopsy.pdf"
    path.write_bytes(b"#!/bin/bash\necho report\n")
    with pytest.raises(ApplicationError, match="content is a script"):
        check_document(DocumentKind.BIOPSY_REPORT, path.stat().st_size,
                       detect_content_type(path), 10_000)


def test_a_text_that_begins_with_mz_is_still_text():
    assert content_type_of(b"MZ-2 ward, creatinine 1.1 mg/dL\n") == TEXT
