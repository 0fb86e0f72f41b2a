"""OpenAPI operations of the administration routes of the automation engine: the job queue
(``/api/v1/admin/jobs``), webhook delivery logs and the automation documents
(``/api/v1/meta/documents``).

They are listed for every caller, as the document's other routes are: they answer 403 to
non-admins.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec

from engine.api.openapi import ID, data_schema, json_response, path_param, problem_responses, ref
from engine.automation.definitions import KINDS
from engine.automation.outbox import MAX_OFFSET, STATES

#: the most rows one page of GET /api/v1/admin/jobs holds
MAX_JOBS = 1000
TIME = {"type": "string", "format": "date-time"}
OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
OPTIONAL_TEXT = {"type": ["string", "null"]}

JOB = {
    "type": "object",
    "required": ["id", "channel", "state", "attempts", "created_at", "payload"],
    "properties": {
        "id": ID,
        "channel": {"type": "string", "description": "email, sms, webhook, job, or a plugin's channel"},
        "state": {"type": "string", "enum": list(STATES)},
        "attempts": {"type": "integer", "minimum": 0},
        "created_at": TIME,
        "available_at": {**OPTIONAL_TIME, "description": "when the next attempt is due (running: its lease ends)"},
        "sent_at": OPTIONAL_TIME,
        "last_error": OPTIONAL_TEXT,
        "entity": OPTIONAL_TEXT,
        "record_id": OPTIONAL_TEXT,
        "payload": {"type": "object", "description": "secret values (links, tokens, signatures) show as [hidden]"},
    },
}
ATTEMPT_PROPERTIES: dict[str, Any] = {
    "at": TIME,
    "ok": {"type": "boolean"},
    "status_code": {"type": ["integer", "null"]},
    "error": OPTIONAL_TEXT,
    "duration_ms": {"type": ["integer", "null"]},
}
JOB_ATTEMPT = {
    "type": "object",
    "required": ["id", "at", "ok"],
    "properties": {
        "id": ID,
        **ATTEMPT_PROPERTIES,
        "note": {**OPTIONAL_TEXT, "description": "a success's remark, e.g. written to the log, not sent"},
    },
}
JOB_METRICS = {
    "type": "object",
    "required": ["queued", "running", "sent", "failed", "discarded"],
    "properties": {
        name: {"type": "integer", "minimum": 0} for name in ("queued", "running", "sent", "failed", "discarded")
    },
}
WEBHOOK_DELIVERY = {
    "type": "object",
    "required": ["id", "state", "attempts", "created_at", "log"],
    "properties": {
        "id": {**ID, "description": "the delivery id receivers see in X-Tessera-Delivery"},
        "event": OPTIONAL_TEXT,
        "entity": OPTIONAL_TEXT,
        "record_id": OPTIONAL_TEXT,
        "state": {"type": "string", "enum": list(STATES)},
        "attempts": {"type": "integer", "minimum": 0},
        "created_at": TIME,
        "sent_at": OPTIONAL_TIME,
        "last_error": OPTIONAL_TEXT,
        "log": {
            "type": "array",
            "items": {"type": "object", "required": ["at", "ok"], "properties": ATTEMPT_PROPERTIES},
        },
    },
}
AUTOMATION_DOCUMENT = {
    "type": "object",
    "required": ["kind", "name", "source", "enabled", "document"],
    "properties": {
        "kind": {"type": "string", "enum": list(KINDS)},
        "name": {"type": "string"},
        "source": {"type": "string", "description": "the pack that ships it, or overlay (changed at run time)"},
        "enabled": {"type": "boolean"},
        "document": {"type": "object"},
    },
}
DOCUMENT_BODY = {
    "required": True,
    "description": (
        "The document exactly as in a pack file, as JSON (JSON Schema: engine/meta/schemas/KIND.json); "
        "a rule is one rule object"
    ),
    "content": {"application/json": {"schema": {"type": "object"}}},
}


COMMON = problem_responses(400, 401, 403, 404, 413, 429)
ID_PARAM = path_param("id")
KIND_PARAM = path_param("kind", {"type": "string", "enum": list(KINDS)})
#: ``?dry_run=true`` on a metadata change: check it, answer 200 with ``dry_run`` and ``plan``, store nothing
DRY_RUN = {
    "name": "dry_run",
    "in": "query",
    "schema": {"type": "string", "enum": ["true", "false"]},
    "description": "true: check the change and answer what it would do (with `plan`, the schema steps); store nothing",
}


def dry_run_answer(document: dict[str, Any]) -> dict[str, Any]:
    """The 200 answer of a create with ``?dry_run=true``: the ``document`` it would make, with
    ``dry_run`` and ``plan`` (the schema steps), nothing stored."""
    extra = {
        "type": "object",
        "required": ["dry_run"],
        "properties": {"dry_run": {"type": "boolean"}, "plan": {"type": "array", "items": {"type": "string"}}},
    }
    return json_response({"allOf": [document, extra]}, "Dry run: what the change would make; nothing stored")


def add_admin_paths(spec: APISpec) -> None:
    """Add the job, webhook-delivery and automation-document operations to ``spec``."""
    for name, schema in (
        ("Job", JOB),
        ("JobAttempt", JOB_ATTEMPT),
        ("JobMetrics", JOB_METRICS),
        ("WebhookDelivery", WEBHOOK_DELIVERY),
        ("AutomationDocument", AUTOMATION_DOCUMENT),
    ):
        spec.components.schema(name, schema)
    add_jobs(spec)
    add_documents(spec)


# --- jobs and webhook deliveries (administrators) -----------------------------------------


def add_jobs(spec: APISpec) -> None:
    """The outbox rows (``/api/v1/admin/jobs``), their attempts, and webhook delivery logs."""
    filters = [
        {"name": "state", "in": "query", "schema": {"type": "string", "enum": list(STATES)}},
        {"name": "channel", "in": "query", "schema": {"type": "string"}},
        {"name": "entity", "in": "query", "schema": {"type": "string"}},
        {"name": "record_id", "in": "query", "schema": ID},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_JOBS, "default": 100},
        },
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
    ]
    job = json_response(ref("Job"))

    def admin(operation_id: str, summary: str, responses: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"operationId": operation_id, "tags": ["admin"], "summary": summary, "responses": responses, **more}

    spec.path(
        path="/api/v1/admin/jobs",
        operations={
            "get": admin(
                "list_jobs",
                "Outbox rows, newest first (administrators)",
                {"200": json_response(data_schema(ref("Job"))), **COMMON},
                parameters=filters,
            )
        },
    )
    spec.path(
        path="/api/v1/admin/jobs/metrics",
        operations={
            "get": admin("job_metrics", "Outbox rows per state", {"200": json_response(ref("JobMetrics")), **COMMON})
        },
    )
    moves = {"retry": "A failed row becomes due now", "discard": "A pending or failed row is dropped"}
    for verb, summary in moves.items():
        spec.path(
            path=f"/api/v1/admin/jobs/{{id}}/{verb}",
            operations={
                "post": admin(
                    f"{verb}_job", summary, {"200": job, **COMMON, **problem_responses(409)}, parameters=[ID_PARAM]
                )
            },
        )
    spec.path(
        path="/api/v1/admin/jobs/{id}/deliveries",
        operations={
            "get": admin(
                "job_deliveries",
                "Every attempt of one outbox row, oldest first",
                {"200": json_response(data_schema(ref("JobAttempt"))), **COMMON},
                parameters=[ID_PARAM],
            )
        },
    )
    spec.path(
        path="/api/v1/admin/webhooks/{id}/deliveries",
        operations={
            "get": admin(
                "webhook_deliveries",
                "The latest deliveries of a webhook subscription, each with its attempts",
                {"200": json_response(data_schema(ref("WebhookDelivery"))), **COMMON},
                parameters=[ID_PARAM],
            )
        },
    )


# --- automation documents (administrators) ------------------------------------------------


def add_documents(spec: APISpec) -> None:
    """``/api/v1/meta/documents[/KIND[/NAME]]``: rules, workflows, SLA definitions, calendars."""
    listing = json_response(data_schema(ref("AutomationDocument")))
    one = json_response(ref("AutomationDocument"))
    name_param = path_param("name")
    writes = problem_responses(409, 422)
    tags = ["meta"]
    spec.path(
        path="/api/v1/meta/documents",
        operations={
            "get": {
                "operationId": "list_documents",
                "tags": tags,
                "summary": "Automation documents in force, from packs and overlays (administrators)",
                "parameters": [{"name": "kind", "in": "query", "schema": {"type": "string", "enum": list(KINDS)}}],
                "responses": {"200": listing, **COMMON},
            }
        },
    )
    spec.path(
        path="/api/v1/meta/documents/{kind}",
        operations={
            "get": {
                "operationId": "list_documents_of_kind",
                "tags": tags,
                "parameters": [KIND_PARAM],
                "responses": {"200": listing, **COMMON},
            },
            "post": {
                "operationId": "add_document",
                "tags": tags,
                "summary": "Add a definition as an overlay; 409 when the name exists",
                "parameters": [KIND_PARAM, DRY_RUN],
                "requestBody": DOCUMENT_BODY,
                "responses": {
                    "201": json_response(ref("AutomationDocument"), "Created"),
                    "200": dry_run_answer(ref("AutomationDocument")),
                    **COMMON,
                    **writes,
                },
            },
        },
    )
    spec.path(
        path="/api/v1/meta/documents/{kind}/{name}",
        operations={
            "get": {
                "operationId": "get_document",
                "tags": tags,
                "parameters": [KIND_PARAM, name_param],
                "responses": {"200": one, **COMMON},
            },
            "put": {
                "operationId": "set_document",
                "tags": tags,
                "summary": "Create or replace the overlay (it overrides a pack's definition of the name); "
                "with If-Match (the ETag of GET) only the version read, else 412",
                "parameters": [
                    KIND_PARAM,
                    name_param,
                    DRY_RUN,
                    {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
                ],
                "requestBody": DOCUMENT_BODY,
                "responses": {"200": one, **COMMON, **writes, **problem_responses(412)},
            },
            "delete": {
                "operationId": "remove_document",
                "tags": tags,
                "summary": "Remove the overlay: the pack's definition of the name, if any, applies again",
                "parameters": [KIND_PARAM, name_param],
                "responses": {"204": {"description": "Removed"}, **COMMON, **problem_responses(422)},
            },
        },
    )
