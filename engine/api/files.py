"""Files in records: ``PUT``/``GET /api/v1/ENTITY/ID/files/FIELD`` and ``GET .../files``.

An upload is the request body (``Content-Type`` is the file's type, the name comes from
``?filename=`` or ``Content-Disposition``) or one part of a ``multipart/form-data`` body. The
work is done by ``engine.files``; this module only reads the request and writes the reply.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.http import parse_options_header
from werkzeug.wsgi import wrap_file

from engine.api.context import actor, if_match, workspace
from engine.errors import BadRequest, FieldError, ValidationError
from engine.files import Upload, attach_file, list_files, open_file
from engine.meta.catalog import Catalog
from engine.storage.files import content_disposition

bp = Blueprint("files", __name__, url_prefix="/api/v1")


def _only(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(unknown)}")
    for key in request.args:
        if len(request.args.getlist(key)) > 1:
            raise BadRequest(f"Parameter {key!r} is given more than once")


def _upload() -> Upload:
    if request.mimetype == "multipart/form-data":
        parts = [part for key in request.files for part in request.files.getlist(key)]
        if len(parts) != 1:
            raise ValidationError(
                "Send exactly one file", [FieldError("file", f"The form has {len(parts)} file parts, not 1.")]
            )
        part = parts[0]
        return Upload(part.filename, part.mimetype or None, part.stream)
    if not request.content_type:
        raise ValidationError(
            "The upload needs a Content-Type", [FieldError("Content-Type", "Give the file's media type.")]
        )
    name = request.args.get("filename")
    if name is None and request.headers.get("Content-Disposition"):
        _, options = parse_options_header(request.headers["Content-Disposition"])
        name = options.get("filename")
    return Upload(name, request.content_type, request.stream, request.content_length)


@bp.put("/<entity>/<record_id>/files/<field>")
def upload(entity: str, record_id: str, field: str) -> Any:
    _only({"filename"})
    record = attach_file(workspace().records, actor(), entity, record_id, field, _upload(), if_match())
    response = jsonify(record)
    response.headers["ETag"] = f'"{record["version"]}"'
    return response


@bp.get("/<entity>/<record_id>/files/<field>")
def download(entity: str, record_id: str, field: str) -> Response:
    _only({"file"})
    found = open_file(workspace().records, actor(), entity, record_id, field, request.args.get("file"))
    response = Response(wrap_file(request.environ, found.stream), mimetype=found.content_type, direct_passthrough=True)
    response.content_length = found.size
    response.headers["Content-Disposition"] = content_disposition(found.name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["ETag"] = f'"{found.sha256}"'
    return response


@bp.get("/<entity>/<record_id>/files")
def files(entity: str, record_id: str) -> Any:
    _only(set())
    return jsonify({"data": list_files(workspace().records, actor(), entity, record_id)})


# --- OpenAPI ---------------------------------------------------------------------------

#: how records show an uploaded file; other values of a file field are strings (external references)
FILE_OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["ref", "id", "name", "size", "content_type", "url"],
    "properties": {
        "ref": {"type": "string", "description": "the stored value: files/ID/NAME (write it to copy the reference)"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "content_type": {"type": "string"},
        "sha256": {"type": "string"},
        "uploaded_at": {"type": "string", "format": "date-time"},
        "uploaded_by": {"type": ["string", "null"]},
        "url": {"type": "string", "description": "GET it to download the file"},
        "field": {"type": "string"},
    },
}


def file_value_schema(direction: str) -> dict[str, Any]:
    """JSON Schema of a file field's value: ``out`` (records) an uploaded file's object or an
    external reference (string); ``in`` (writes) a string. For ``openapi.field_schema``."""
    text = {"type": "string", "maxLength": 1024, "pattern": r"^[^\r\n\x00]*$"}
    return {"oneOf": [FILE_OBJECT, text]} if direction == "out" else text


def _problems(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Malformed request",
        401: "Not signed in",
        403: "Forbidden",
        404: "Not found",
        412: "Stale version",
        413: "The file is larger than the field's max_size (or the request limit)",
        415: "The field does not accept this type of file",
        422: "Validation failed",
    }
    ref = {"$ref": "#/components/schemas/Problem"}
    return {str(c): {"description": texts[c], "content": {"application/problem+json": {"schema": ref}}} for c in codes}


def add_file_paths(spec: Any, catalog: Catalog) -> None:
    """Upload, download and list operations for every entity with a stored file field."""
    for entity in catalog.api_entities():
        fields = [fd for fd in entity.fields.values() if fd.type == "file" and fd.has_column]
        if not fields:
            continue
        id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        spec.path(
            path=f"/api/v1/{entity.name}/{{id}}/files",
            operations={
                "get": {
                    "operationId": f"list_{entity.name}_files",
                    "tags": [entity.name],
                    "summary": f"Every file uploaded to the {entity.name}, earlier versions included",
                    "parameters": [id_param],
                    "responses": {
                        "200": {
                            "description": "The files, newest first",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"data": {"type": "array", "items": FILE_OBJECT}},
                                    }
                                }
                            },
                        },
                        **_problems(400, 401, 404),
                    },
                }
            },
        )
        for fd in fields:
            accept = [str(a) for a in fd.opt("accept") or ()]
            note = (f" Accepts {', '.join(accept)}." if accept else "") + (
                f" At most {fd.opt('max_size')} bytes." if fd.opt("max_size") else ""
            )
            binary = {"schema": {"type": "string", "format": "binary"}}
            spec.path(
                path=f"/api/v1/{entity.name}/{{id}}/files/{fd.name}",
                operations={
                    "put": {
                        "operationId": f"upload_{entity.name}_{fd.name}",
                        "tags": [entity.name],
                        "summary": f"Upload the {fd.name} of a {entity.name}.{note}",
                        "parameters": [
                            id_param,
                            {"name": "filename", "in": "query", "schema": {"type": "string"}},
                            {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
                        ],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "multipart/form-data": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"file": {"type": "string", "format": "binary"}},
                                    }
                                },
                                "*/*": binary,
                            },
                        },
                        "responses": {
                            "200": {"description": f"The {entity.name} afterwards"},
                            **_problems(400, 401, 403, 404, 412, 413, 415, 422),
                        },
                    },
                    "get": {
                        "operationId": f"download_{entity.name}_{fd.name}",
                        "tags": [entity.name],
                        "summary": f"Download the {fd.name} of a {entity.name} (?file=ID: an earlier version)",
                        "parameters": [id_param, {"name": "file", "in": "query", "schema": {"type": "string"}}],
                        "responses": {
                            # no schema: the bytes are the file's own, whatever its type says
                            "200": {"description": "The file", "content": {"*/*": {}}},
                            **_problems(400, 401, 404),
                        },
                    },
                },
            )
