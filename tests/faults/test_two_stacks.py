"""Two embedded stacks on one host, side by side (issue 11 item 1): each writes and reads its own
documents and audit entries while the other does the same and restarts its store, neither sees
the other's objects or errors, and neither leaves a file or socket in the shared /tmp."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from activities.audit import AuditAction, AuditEvent, AuditTrail
from activities.documents import DocumentStore
from activities.payloads import StoreDocumentInput
from activities.s3_client import build_s3_client
from caseflow.documents import DocumentKind
from caseflow.ids import new_case_id
from infra.stack import EmbeddedStack
from tests.faults.stacks import free_block, paths_in_use, stack_in, stack_pids, tmp_entries

pytestmark = pytest.mark.integration

ROUNDS = 3


def work(stack: EmbeddedStack, scratch: Path) -> dict[str, str]:
    """Store a document and an audit entry per round for a new case, reading each back; the
    document ids by case."""
    settings = stack.settings
    documents, audit = DocumentStore(settings), AuditTrail(settings)
    stored: dict[str, str] = {}
    try:
        for round_number in range(ROUNDS):
            case_id = new_case_id()
            source = scratch / f"{round_number}.pdf"
            source.write_bytes(b"%PDF-1.7\n" + os.urandom(64 * 1024))
            ref = documents.store(
                StoreDocumentInput(case_id=case_id, kind=DocumentKind.LABS, path=str(source))
            )
            audit.record(AuditEvent.now(case_id=case_id, action=AuditAction.CASE_ACCESSED,
                                        actor="faults-test", subject=ref.document_id))
            back = documents.fetch(ref, scratch / f"{round_number}.back")
            assert hashlib.sha256(back.read_bytes()).hexdigest() == ref.sha256
            assert [e.subject for e in audit.entries(case_id)] == [ref.document_id]
            stored[case_id] = ref.document_id
    finally:
        documents.close()
    return stored


def case_ids_under(stack: EmbeddedStack, bucket: str, prefix: str) -> set[str]:
    client = build_s3_client(stack.settings)
    found = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found |= {item["Key"].split("/")[1] for item in page.get("Contents", [])}
    return found


def test_two_stacks_side_by_side_keep_to_themselves(tmp_path):
    before = tmp_entries()
    stacks = [stack_in(tmp_path / name, free_block()) for name in ("a", "b")]
    try:
        with ThreadPoolExecutor(2) as pool:
            started = list(pool.map(lambda stack: stack.up(), stacks))
        for addresses in started:
            # The dev hospital inbox's port is fixed by the hospital directory: one stack has
            # it (unless something else does), the other says so and starts the rest.
            assert set(addresses.problems) <= {"hospital-inbox"}, addresses.problems
        a, b = stacks

        # Both stacks at work at once; stack a's store restarts meanwhile (which, with weed
        # mini, removed the sockets in /tmp that the other stack's servers were using).
        scratch = {name: tmp_path / f"scratch-{name}" for name in ("a", "b")}
        for path in scratch.values():
            path.mkdir()
        with ThreadPoolExecutor(2) as pool:
            b_first = pool.submit(work, b, scratch["b"])
            a_first = pool.submit(work, a, scratch["a"])
            a_stored = a_first.result()
            a.s3().stop()
            a.s3().start()
            b_stored = b_first.result()
        b_stored |= work(b, scratch["b"])
        a_stored |= work(a, scratch["a"])

        for stack, own, other in ((a, a_stored, b_stored), (b, b_stored, a_stored)):
            settings = stack.settings
            audited = case_ids_under(stack, settings.audit_bucket, "audit/")
            assert set(own) <= audited and not audited & set(other)
            documented = case_ids_under(stack, settings.s3_bucket, "cases/")
            assert documented == set(own)

        # Nothing of either stack in the shared /tmp: no socket, log or state file named by a
        # port or a pid of theirs, and no open file or socket there outside its data directory.
        ports = {str(port) for stack in stacks for port in used_ports(stack)}
        pids = {pid for stack in stacks for pid in stack_pids(stack)}
        assert len(pids) >= 2 * 7
        new = tmp_entries() - before
        theirs = {entry for entry in new
                  if any(port in entry for port in ports)
                  or any(entry.endswith(f".{pid}") for pid in map(str, pids))}
        assert not theirs
        for stack in stacks:
            for pid in stack_pids(stack):
                outside = {path for path in paths_in_use(pid)
                           if path.startswith("/tmp/") and not path.startswith(str(tmp_path))}
                assert not outside, (pid, outside)
    finally:
        for stack in stacks:
            stack.down()
    assert not any(stack_pids(stack) for stack in stacks)


def used_ports(stack: EmbeddedStack) -> list[int]:
    temporal = stack.temporal()
    s3 = stack.s3()
    return [temporal.grpc_port, temporal.ui_port, temporal.http_port, temporal.metrics_port,
            *vars(s3.ports).values(), stack.settings.smtp_port, stack.settings.web_port]
