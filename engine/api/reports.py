"""``GET /api/v1/reports`` and ``/reports/NAME``: the reports a user may open, and one report's
rows computed as that user (``engine.reports``), as JSON or, with ``?format=csv|xlsx``, as a file."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apispec import APISpec
from flask import Blueprint, Response, jsonify, request

from engine import reports
from engine.api.context import actor, workspace
from engine.api.openapi import data_schema, json_response, path_param, problem_responses, ref
from engine.api.openapi_auth import operation
from engine.errors import BadRequest
from engine.meta.catalog import Catalog

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")

FORMATS = ("json", "csv", "xlsx")


@bp.get("")
def list_reports() -> Any:
    if request.args:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(request.args))}")
    who = actor()
    return jsonify({"data": [reports.summary(r, who.locale) for r in reports.visible(workspace(), who)]})


@bp.get("/<name>")
def report(name: str) -> Any:
    unknown = set(request.args) - {"format"}
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}; use format")
    fmt = request.args.get("format") or "json"
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    who = actor()
    result = reports.compute(workspace(), who, name, who.locale)
    if fmt == "json":
        return jsonify(reports.json_rows(result))
    return download(result, fmt)


def download(result: dict[str, Any], fmt: str) -> Response:
    """The computed report as a file to save (the API and the web pages answer the same file)."""
    filename = reports.file_name(result, fmt, dt.date.today())
    return Response(
        reports.file_bytes(result, fmt),
        mimetype=reports.media_type(fmt).split(";")[0],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


# --- OpenAPI ---------------------------------------------------------------------------------
TEXT = {"type": "string"}
SUMMARY = {
    "type": "object",
    "required": ["name", "label", "entity", "kind", "roles", "schedule", "url"],
    "properties": {
        "name": TEXT,
        "label": TEXT,
        "description": TEXT,
        "entity": TEXT,
        "kind": {"enum": ["records", "summary"], "description": "one row per record, or per group"},
        "roles": {"type": "array", "items": TEXT, "description": "roles that may open it (none: all readers)"},
        "schedule": {
            "type": ["object", "null"],
            "properties": {"cron": TEXT, "timezone": TEXT, "format": {"enum": ["csv", "xlsx"]}},
        },
        "url": TEXT,
    },
}
RESULT = {
    "allOf": [
        ref("ReportSummary"),
        {
            "type": "object",
            "required": ["columns", "rows", "truncated", "generated_at"],
            "properties": {
                "columns": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "label", "type"],
                        "properties": {"name": TEXT, "label": TEXT, "type": TEXT},
                    },
                },
                "rows": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["values"],
                        "properties": {
                            "id": TEXT,
                            "url": TEXT,
                            "values": {
                                "type": "array",
                                "description": "one per column: references as titles, options as labels",
                            },
                        },
                    },
                },
                "truncated": {"type": "boolean", "description": "more rows matched than the report's limit"},
                "generated_at": {"type": "string", "format": "date-time"},
            },
        },
    ]
}


def add_report_paths(spec: APISpec, catalog: Catalog) -> None:
    """Adds this blueprint's operations to the OpenAPI document."""
    spec.components.schema("ReportSummary", SUMMARY)
    spec.components.schema("Report", RESULT)
    common = problem_responses(400, 401, 403, 404, 429)
    spec.path(
        path="/api/v1/reports",
        operations={
            "get": operation(
                "list_reports",
                "reports",
                "The reports the caller may open (their role is listed and they may read the entity)",
                {"200": json_response(data_schema(ref("ReportSummary"))), **common},
            )
        },
    )
    files = {
        "application/json": {"schema": ref("Report")},
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}
        },
    }
    spec.path(
        path="/api/v1/reports/{name}",
        operations={
            "get": operation(
                "get_report",
                "reports",
                "A report's rows computed as the caller (their permissions apply); format=csv or xlsx downloads them",
                {"200": {"description": "OK", "content": files}, **common},
                parameters=[
                    path_param("name"),
                    {"name": "format", "in": "query", "schema": {"enum": list(FORMATS), "default": "json"}},
                ],
            )
        },
    )
