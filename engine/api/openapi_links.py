"""OpenAPI links between a collection's operations and the operations on one of its records.

A collection is a path ``/api/v1/<name>`` with a create operation (``POST``, answering 201)
beside a record path ``/api/v1/<name>/{id}``. The record operations are every operation
under that record path whose only path parameter is ``id`` (read, change, delete, restore,
history, related lists, actions...). Links say where the ``id`` comes from:

- the create answer (201) links to every record operation, with the created record's id;
- the list answer (200) links to the record operations that only read (``GET``), with the
  first listed record's id;
- the delete answer (204) links to every record operation, with the deleted record's id
  (restore it, read it from the trash).

Clients and stateful fuzzers follow them: create a record, then read, change, delete and
restore it.
"""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"\{([^}]+)\}")
_METHODS = ("get", "put", "post", "patch", "delete")


def _record_operations(paths: dict[str, Any], record_path: str) -> list[tuple[str, dict[str, Any]]]:
    """``(method, operation)`` of every operation on one record (``id`` its only path parameter)."""
    found = []
    for path, operations in paths.items():
        if path != record_path and not path.startswith(f"{record_path}/"):
            continue
        if set(_PARAM.findall(path)) != {"id"}:
            continue
        for method in _METHODS:
            operation = operations.get(method)
            if isinstance(operation, dict) and operation.get("operationId"):
                found.append((method, operation))
    return found


def _links(targets: list[tuple[str, dict[str, Any]]], source: str) -> dict[str, Any]:
    return {
        op["operationId"]: {
            "operationId": op["operationId"],
            "parameters": {"path.id": source},
            "description": f"The record's {op['operationId']} (its id from {source})",
        }
        for _, op in targets
    }


def _link(operation: dict[str, Any] | None, status: str, links: dict[str, Any]) -> None:
    """Add ``links`` to ``operation``'s ``status`` answer (a copy: answers may be shared)."""
    if not operation or not links or status not in operation.get("responses", {}):
        return
    answer = operation["responses"][status]
    operation["responses"][status] = {**answer, "links": {**answer.get("links", {}), **links}}


def add_record_links(document: dict[str, Any]) -> None:
    """Link every collection's create, list and delete answers to its record operations."""
    paths = document.get("paths", {})
    for path, operations in list(paths.items()):
        create = operations.get("post")
        record_path = f"{path}/{{id}}"
        if _PARAM.search(path) or not create or "201" not in create.get("responses", {}) or record_path not in paths:
            continue
        targets = _record_operations(paths, record_path)
        reads = [(method, op) for method, op in targets if method == "get"]
        _link(create, "201", _links(targets, "$response.body#/id"))
        _link(operations.get("get"), "200", _links(reads, "$response.body#/data/0/id"))
        _link(paths[record_path].get("delete"), "204", _links(targets, "$request.path.id"))
