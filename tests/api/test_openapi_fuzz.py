"""Fuzz the API with schemathesis against its own generated OpenAPI document.

The document (``GET /api/v1/openapi.json``) is generated from the live metadata of the test
workspace; schemathesis draws valid and invalid requests for every operation in it and
sends them in-process (WSGI), signed in as an administrator. Every answer must be free of
server errors and agree with the document: a documented status code, content type and
body schema. Operations on one record run twice: with drawn ids (almost always unknown:
404) and with the id of a record that exists, so reads, updates, deletes and restores of
real records are checked too.

schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) does not run
under pytest 9 (it reads ``Function._nodeid``), so the operations are driven here through
its Python API: one hypothesis run per operation, generation mode and id, every failure
collected and reported together.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "15"))  # per operation, mode and id
EXAMPLES = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def existing_records(admin: Any, rep: Any) -> dict[str, str]:
    """One record of every entity for the fixed-id runs (none the fuzzer's admin needs)."""
    maker = admin.post("maker", {"name": "Acme"}).get_json()["id"]
    records = {
        "maker": maker,
        "gadget": admin.post(
            "gadget",
            {
                "name": "Kit",
                "maker": maker,
                "makers": [maker],
                "price": "9.99",
                "parts": [{"label": "screw", "qty": 2}],
                "specs": {"a": [1, 2.5]},
                "seen_at": "2026-01-31T09:30:00+01:00",
                "api_key": "k",
            },
        ).get_json()["id"],
        "team": admin.post("team", {"name": "Ops"}).get_json()["id"],
        "role": admin.post("role", {"name": "fuzz_role"}).get_json()["id"],
        "user": rep.get("auth/me").get_json()["id"],  # not the admin: the fuzzer may delete it
    }
    voucher = admin.post("voucher", {"code": "V-1"})
    if voucher.status_code == 201:
        records["voucher"] = voucher.get_json()["id"]
    return records


def fuzz(operation: Any, mode: GenerationMode, headers: dict[str, str], record_id: str | None) -> int:
    """Run one operation; the number of requests sent (0 when nothing can be drawn)."""
    sent = 0
    fixed = {"path_parameters": {"id": record_id}} if record_id else {}

    @EXAMPLES
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # e.g. nothing invalid can be drawn for a lone string path parameter
        return 0
    return sent


def test_api_conforms_to_its_openapi_document(app: Any, admin: Any, rep: Any) -> None:
    records = existing_records(admin, rep)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=admin.headers)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    # signing out revokes the admin's token: last, or every operation after it answers 401
    operations.sort(key=lambda op: op.label == "POST /api/v1/auth/logout")
    labels = {op.label for op in operations}
    assert {
        "POST /api/v1/gadget",
        "PATCH /api/v1/gadget/{id}",
        "POST /api/v1/gadget/bulk",
        "GET /api/v1/maker",
        "DELETE /api/v1/maker/{id}",
    } <= labels

    failures: list[str] = []
    sent = 0
    for operation in operations:
        entity = operation.path.split("/")[3]
        ids: list[str | None] = [None]
        if "{id}" in operation.path and entity in records:
            ids.append(records[entity])
        for record_id in ids:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    sent += fuzz(operation, mode, admin.headers, record_id)
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
                    failures.append(f"{mode.value} {operation.label} (id={record_id}):\n{exc}")
    assert not failures, f"{len(failures)} failing runs:\n\n" + "\n\n".join(failures)
    assert sent >= len(operations) * MAX_EXAMPLES  # the fuzzer really sent requests
