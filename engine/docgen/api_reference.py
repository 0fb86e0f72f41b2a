"""The REST API reference: the OpenAPI document itself and a page listing its operations."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from engine.api.openapi import build_document
from engine.automation.model import Automation
from engine.docgen.dsl_reference import table_cell
from engine.meta.catalog import Catalog

METHODS = ("get", "post", "put", "patch", "delete")


def operations_by_tag(document: dict[str, Any]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    grouped: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                grouped[(operation.get("tags") or ["other"])[0]].append((method, path, operation))
    return grouped


def api_page(document: dict[str, Any]) -> str:
    grouped = operations_by_tag(document)
    lines = [
        "# REST API reference",
        "",
        "Generated when the site is built from the OpenAPI document of a workspace with every",
        "first-party pack installed, as an administrator sees it. A running server serves its own",
        "at `GET /api/v1/openapi.json`, limited to what the caller may use and including any",
        "overlays and third-party packs. How to authenticate, page, filter and aggregate is",
        "explained in [the REST API guide](../api.md).",
        "",
        f"Download the document: [openapi.json](openapi.json) (OpenAPI {document.get('openapi', '3.1')},"
        f" {sum(len(ops) for ops in grouped.values())} operations).",
        "",
        "Areas: " + ", ".join(f"[{tag}](#{tag.lower()})" for tag in sorted(grouped)) + ".",
    ]
    for tag in sorted(grouped):
        lines += ["", f"## {tag}", "", "| method | path | operation |", "| --- | --- | --- |"]
        for method, path, operation in grouped[tag]:
            what = operation.get("summary") or operation.get("operationId", "")
            lines.append(f"| {method.upper()} | `{table_cell(path)}` | {table_cell(str(what))} |")
    return "\n".join(lines) + "\n"


def api_pages(catalog: Catalog, automation: Automation) -> dict[str, str]:
    """``reference/api.md`` and the document it describes, ``reference/openapi.json``."""
    document = build_document(catalog, automation, None)
    return {
        "reference/api.md": api_page(document),
        "reference/openapi.json": json.dumps(document, indent=1, sort_keys=True) + "\n",
    }
