"""Imports over HTTP: ``POST /api/v1/ENTITY/import`` queues a job, ``GET /api/v1/imports/ID``
follows it (state, rows done of the total, the report and the row-level errors as CSV).

The upload is one part of a ``multipart/form-data`` body (options as form fields or query
parameters) or the request body itself (``?filename=`` names it). The work is done by
:mod:`engine.dataio.import_jobs`; this module only reads the request and writes the reply.
"""

from __future__ import annotations

from typing import IO, Any

from apispec import APISpec
from flask import Blueprint, Response, current_app, jsonify, request, send_file
from werkzeug.http import parse_options_header

from engine.api.context import actor, workspace
from engine.api.openapi import json_response, path_param, problem_responses, ref
from engine.api.problems import problem
from engine.dataio import import_jobs as jobs
from engine.dataio.import_options import OPTION_NAMES, READ_NAMES, parse_flag
from engine.errors import BadRequest, FieldError, ValidationError
from engine.meta.catalog import Catalog

bp = Blueprint("imports", __name__, url_prefix="/api/v1")

#: "file" is the upload's form field: given as text rather than a file, it is no file at all
PARAMS = {*OPTION_NAMES, *READ_NAMES, "filename", "wait", "file"}


def _fields() -> dict[str, str]:
    """Options from the query string and form fields (each given once)."""
    values: dict[str, str] = {}
    for source in (request.args, request.form if request.mimetype == "multipart/form-data" else None):
        if source is None:
            continue
        for key in source:
            if key not in PARAMS:
                raise BadRequest(f"Unknown parameter {key!r}; an import takes {', '.join(sorted(PARAMS))}")
            given = source.getlist(key)
            if len(given) > 1 or key in values:
                raise BadRequest(f"Parameter {key!r} is given more than once")
            values[key] = given[0]
    return values


def _upload(fields: dict[str, str]) -> tuple[IO[bytes], str]:
    """The file's stream and name."""
    if request.mimetype == "multipart/form-data":
        parts = [part for key in request.files for part in request.files.getlist(key)]
        if len(parts) != 1:
            raise ValidationError(
                "Send exactly one file", [FieldError("file", f"The form has {len(parts)} file parts, not 1.")]
            )
        return parts[0].stream, parts[0].filename or fields.get("filename") or "upload.csv"
    name = fields.get("filename")
    if name is None and request.headers.get("Content-Disposition"):
        _, options = parse_options_header(request.headers["Content-Disposition"])
        name = options.get("filename")
    if not name:
        raise ValidationError(
            "Name the file", [FieldError("filename", "Send multipart/form-data, or give ?filename=contacts.csv.")]
        )
    return request.stream, name


def _flag(value: str | None) -> bool:
    flag = False if not value else parse_flag(value)
    if flag is None:
        raise BadRequest("wait must be true or false")
    return flag


@bp.post("/<entity>/import")
def start(entity: str) -> Any:
    who = actor()
    ws = workspace()
    fields = _fields()
    wait = _flag(fields.pop("wait", None))
    fields.pop("file", None)
    stream, filename = _upload(fields)
    fields.pop("filename", None)
    job = jobs.start_import(
        ws, who, entity, stream, filename, fields, current_app.config.get("MAX_CONTENT_LENGTH"), queue=not wait
    )
    if wait:  # small files: run it in this request
        job = jobs.run_import(ws, job.id) or jobs.load_job(ws, job.id)
        if job.state == "failed" and job.problem:
            p = job.problem
            return problem(p["status"], p["title"], p["detail"], p.get("errors"), extensions={"job": job.as_dict()})
    response = jsonify(job.as_dict())
    response.status_code = 200 if wait else 202
    response.headers["Location"] = f"/api/v1/imports/{job.id}"
    return response


@bp.get("/imports")
def list_imports() -> Any:
    if request.args:
        raise BadRequest("The list of imports takes no parameters")
    return jsonify({"data": jobs.list_jobs(workspace(), actor())})


@bp.get("/imports/<job_id>")
def status(job_id: str) -> Any:
    job = jobs.job_for(workspace(), actor(), job_id)
    response = jsonify(job.as_dict())
    response.headers["Cache-Control"] = "no-store"
    if job.state in ("queued", "running"):
        response.headers["Retry-After"] = "2"
    return response


@bp.get("/imports/<job_id>/errors.csv")
def errors_csv(job_id: str) -> Response:
    ws = workspace()
    job = jobs.job_for(ws, actor(), job_id)
    response = send_file(
        jobs.errors_path(ws, job),
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"{job.entity}-import-errors.csv",
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- OpenAPI ---------------------------------------------------------------------------

TEXT = {"type": "string"}
NULLABLE_TEXT = {"type": ["string", "null"]}
JOB = {
    "type": "object",
    "required": ["id", "entity", "state", "progress", "url"],
    "properties": {
        "id": TEXT,
        "entity": TEXT,
        "filename": TEXT,
        "state": {"enum": list(jobs.STATES)},
        "progress": {
            "type": "object",
            "properties": {"done": {"type": "integer"}, "total": {"type": ["integer", "null"]}},
        },
        "options": {"type": "object"},
        "created_at": TEXT,
        "started_at": NULLABLE_TEXT,
        "finished_at": NULLABLE_TEXT,
        "report": {
            "type": ["object", "null"],
            "description": "when done: total, created, updated, unchanged, skipped, flagged, failed, errors, dry_run",
        },
        "errors_url": {"type": ["string", "null"], "description": "the row-level errors as CSV"},
        "problem": {"type": ["object", "null"], "description": "why a failed job failed"},
        "url": TEXT,
    },
}
OPTION_DOCS = {
    "mapping": ("string", 'column -> field as a JSON object, e.g. {"E-mail": "email"}; default: match headers'),
    "key": ("string", "a unique field to upsert on: a row whose key exists updates that record"),
    "dedupe": ("string", "what a row the entity's duplicate rules find does: skip, update or flag"),
    "dry_run": ("boolean", "check every row and report, write nothing"),
    "partial": ("boolean", "commit good batches and report bad rows (default: all or nothing)"),
    "rules": ("boolean", "run rules on the imported records (default true)"),
    "batch_size": ("integer", "rows per batch"),
    "source_detail": ("string", "the import source recorded on each record"),
    "defaults": ("string", "values for created records whose row leaves the field empty, as a JSON object"),
    "auto": ("boolean", "with a mapping: also match the columns it does not name (default true)"),
    "values": ("string", 'cell text -> stored value per field, as JSON: {"status": {"Open Deal": "qualified"}}'),
    "date_order": ("string", "ambiguous slash dates: dmy (default) or mdy"),
    "decimal": ("string", "decimal separator: auto (default), . or ,"),
    "timezone": ("string", "time zone of datetimes without an offset (default UTC)"),
    "delimiter": ("string", "CSV delimiter (default: detected; \\t for a tab)"),
    "encoding": ("string", "CSV encoding (default: detected, BOM honoured)"),
    "sheet": ("string", "XLSX worksheet (default: the first)"),
}


def add_import_paths(spec: APISpec, catalog: Catalog) -> None:
    """Adds this blueprint's operations to the OpenAPI document."""
    spec.components.schema("ImportJob", JOB)
    job = json_response(ref("ImportJob"))
    params = [{"name": k, "in": "query", "schema": {"type": t}, "description": d} for k, (t, d) in OPTION_DOCS.items()]
    params.append(
        {"name": "filename", "in": "query", "schema": TEXT, "description": "the file's name (a raw body upload)"}
    )
    params.append(
        {"name": "wait", "in": "query", "schema": {"type": "boolean"}, "description": "run now, answer when done"}
    )
    form = {"file": {"type": "string", "format": "binary"}, **{k: {"type": "string"} for k in OPTION_DOCS}}
    body = {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": form}},
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    }
    for entity in catalog.api_entities():
        spec.path(
            path=f"/api/v1/{entity.name}/import",
            operations={
                "post": {
                    "operationId": f"import_{entity.name}",
                    "tags": [entity.name],
                    "summary": f"Import {entity.name} records from CSV or XLSX (a job; Location follows it)",
                    "parameters": params,
                    "requestBody": body,
                    "responses": {
                        "202": {**job, "description": "Queued; follow the Location"},
                        "200": {**job, "description": "Done (wait=true)"},
                        **problem_responses(400, 401, 403, 404, 413, 422),
                    },
                }
            },
        )
    common = problem_responses(401, 404)
    spec.path(
        path="/api/v1/imports",
        operations={
            "get": {
                "operationId": "list_imports",
                "tags": ["imports"],
                "summary": "The caller's import jobs, newest first (an administrator's: everyone's)",
                "responses": {
                    "200": json_response({"type": "object", "properties": {"data": {"type": "array", "items": JOB}}}),
                    **common,
                },
            }
        },
    )
    spec.path(
        path="/api/v1/imports/{id}",
        operations={
            "get": {
                "operationId": "get_import",
                "tags": ["imports"],
                "summary": "An import job: state, progress, and when done its report",
                "parameters": [path_param("id")],
                "responses": {"200": job, **common},
            }
        },
    )
    spec.path(
        path="/api/v1/imports/{id}/errors.csv",
        operations={
            "get": {
                "operationId": "get_import_errors",
                "tags": ["imports"],
                "summary": "The row-level errors of a finished import as CSV",
                "parameters": [path_param("id")],
                "responses": {
                    "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                    **common,
                },
            }
        },
    )
