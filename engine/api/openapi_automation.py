"""OpenAPI operations of the automation engine: record actions, approval history and in-app
notifications (the administration routes are in :mod:`engine.api.openapi_admin`).

Record actions come from the compiled automation of the live metadata, one path per action
(``/api/v1/case/{id}/actions/resolve``), so a client sees which actions an entity has and
what each body takes: a transition's ``require`` fields and a ``comment``. A caller sees the
transitions their roles may run; approval decisions are listed for everyone who may read the
entity, since approvers need not be able to edit it. Any other action handler may describe
itself with a ``roles`` attribute (who may run it) and an ``openapi_body(entity, catalog)``
method (its body's JSON Schema); without them it is listed for everyone, taking any object.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec

from engine.actor import Actor
from engine.api.openapi import (
    ID,
    data_schema,
    field_schema,
    json_response,
    nullable,
    page_schema,
    path_param,
    problem_responses,
    ref,
    schema_name,
)
from engine.automation.approvals import ApprovalAction
from engine.automation.model import Automation
from engine.automation.record_actions import MAX_COMMENT
from engine.automation.workflows import Transition, WorkflowSet
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.storage.listing import MAX_LIMIT

#: the entity in-app notifications are records of (``/api/v1/me/notifications``)
NOTIFICATION = "notification"
#: most ids ``POST /api/v1/me/notifications/read`` takes at once
READ_BATCH = 500

TIME = {"type": "string", "format": "date-time"}
OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
OPTIONAL_TEXT = {"type": ["string", "null"]}
COMMENT = {"type": "string", "maxLength": MAX_COMMENT, "description": "recorded in the record's history"}

APPROVAL_STEP = {
    "type": "object",
    "required": ["id", "process", "submission", "step", "position", "state", "submitted_at"],
    "properties": {
        "id": ID,
        "process": {"type": "string"},
        "submission": {"type": "string", "description": "the id shared by the steps of one submission"},
        "step": {"type": "string"},
        "position": {"type": "integer"},
        "state": {"type": "string", "enum": ["waiting", "pending", "approved", "rejected", "recalled", "skipped"]},
        "approver": OPTIONAL_TEXT,
        "approver_role": OPTIONAL_TEXT,
        "submitted_by": OPTIONAL_TEXT,
        "submitted_at": TIME,
        "decided_by": OPTIONAL_TEXT,
        "decided_at": OPTIONAL_TIME,
        "comment": OPTIONAL_TEXT,
    },
}
MARK_READ = {
    "oneOf": [
        {
            "type": "object",
            "required": ["ids"],
            "additionalProperties": False,
            "properties": {"ids": {"type": "array", "items": ID, "maxItems": READ_BATCH}},
        },
        {
            "type": "object",
            "required": ["all"],
            "additionalProperties": False,
            "properties": {"all": {"const": True}},
        },
    ]
}


COMMON = problem_responses(400, 401, 403, 404, 413, 429)
ID_PARAM = path_param("id")


def add_automation_paths(spec: APISpec, catalog: Catalog, automation: Automation, actor: Actor | None) -> None:
    """Add the automation operations the caller (None: an administrator) can use to ``spec``."""
    spec.components.schema("ApprovalStep", APPROVAL_STEP)
    for entity in catalog.api_entities():
        add_record_actions(spec, entity, catalog, automation, actor)
    if NOTIFICATION in catalog.entities:
        add_notifications(spec, catalog.entities[NOTIFICATION])


# --- record actions and approvals ---------------------------------------------------------


def action_body(
    entity: EntityDef, name: str, catalog: Catalog, automation: Automation, actor: Actor | None
) -> dict[str, Any] | None:
    """The body schema of the action ``name``; None when the caller's roles may not run it."""
    workflows = automation.parts.get("workflows")
    found = workflows.transition(entity.name, name) if isinstance(workflows, WorkflowSet) else None
    if found is not None:
        transition = found[1]
        if transition.roles and actor is not None and not actor.is_admin and not transition.roles & actor.roles:
            return None
        props: dict[str, Any] = {"comment": COMMENT}
        for field in transition.require:
            fd = entity.fields.get(field)  # a field the caller may not read is not theirs to send
            if fd is not None:
                props[field] = nullable(field_schema(fd, catalog, "in"))
        return {"type": "object", "properties": props, "additionalProperties": False}
    handler = automation.actions.get((entity.name, name))
    if isinstance(handler, ApprovalAction):
        return {"type": "object", "properties": {"comment": COMMENT}, "additionalProperties": False}
    # any other action may say who runs it (``roles``) and what it takes (``openapi_body``)
    roles = getattr(handler, "roles", None)
    if roles and actor is not None and not actor.is_admin and not set(roles) & actor.roles:
        return None
    describe = getattr(handler, "openapi_body", None)
    if callable(describe):
        body: dict[str, Any] = describe(entity, catalog)
        return body
    return {"type": "object"}


def _summary(entity: EntityDef, name: str, automation: Automation) -> str:
    workflows = automation.parts.get("workflows")
    found = workflows.transition(entity.name, name) if isinstance(workflows, WorkflowSet) else None
    if found is not None:
        return _transition_summary(found[1])
    handler = automation.actions.get((entity.name, name))
    if isinstance(handler, ApprovalAction):
        return {
            "submit": "Submit for approval",
            "approve": "Approve the pending approval step",
            "reject": "Reject the pending approval step",
            "recall": "Withdraw the pending approval request",
        }.get(handler.verb, name)
    label = getattr(handler, "label", None)  # a pack's action (actions/*.yaml) has a label
    if label:
        return label if isinstance(label, str) else str(label.get("en") or next(iter(label.values())))
    return f"Run the action {name}"


def _transition_summary(transition: Transition) -> str:
    sources = ", ".join(sorted(transition.sources)) if transition.sources is not None else "any state"
    text = f"Transition {transition.name}: from {sources} to {transition.to}"
    if transition.roles:
        text += f" (roles: {', '.join(sorted(transition.roles))})"
    return text


def add_record_actions(
    spec: APISpec, entity: EntityDef, catalog: Catalog, automation: Automation, actor: Actor | None
) -> None:
    """``POST /api/v1/ENTITY/{id}/actions/NAME`` per action, and the approval history when the
    entity has an approval process."""
    names = sorted(name for (owner, name) in automation.actions if owner == entity.name)
    base, record = (
        f"/api/v1/{entity.name}/{{id}}",
        json_response({"$ref": f"#/components/schemas/{schema_name(entity)}"}),
    )
    for name in names:
        body = action_body(entity, name, catalog, automation, actor)
        if body is None:
            continue
        spec.path(
            path=f"{base}/actions/{name}",
            operations={
                "post": {
                    "operationId": f"action_{entity.name}_{name}",
                    "tags": [entity.name],
                    "summary": _summary(entity, name, automation),
                    "parameters": [ID_PARAM],
                    "requestBody": {"required": False, "content": {"application/json": {"schema": body}}},
                    "responses": {"200": record, **COMMON, **problem_responses(409, 422)},
                }
            },
        )
    if isinstance(automation.actions.get((entity.name, "submit")), ApprovalAction):
        spec.path(
            path=f"{base}/approvals",
            operations={
                "get": {
                    "operationId": f"approvals_{entity.name}",
                    "tags": [entity.name],
                    "summary": "The record's approval steps, newest submission first",
                    "parameters": [ID_PARAM],
                    "responses": {"200": json_response(data_schema(ref("ApprovalStep"))), **COMMON},
                }
            },
        )


# --- the caller's notifications -----------------------------------------------------------


def add_notifications(spec: APISpec, entity: EntityDef) -> None:
    """``/api/v1/me/notifications`` and ``.../read``: records of the ``notification`` entity."""
    page = page_schema(f"#/components/schemas/{schema_name(entity)}")
    page["required"] = ["data", "unread"]
    page["properties"]["unread"] = {"type": "integer", "minimum": 0}
    spec.path(
        path="/api/v1/me/notifications",
        operations={
            "get": {
                "operationId": "my_notifications",
                "tags": ["notifications"],
                "summary": "The caller's notifications, newest first, with the number of unread ones",
                "parameters": [
                    {"name": "unread", "in": "query", "schema": {"type": "boolean"}, "description": "unread only"},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                ],
                "responses": {"200": json_response(page), **COMMON},
            }
        },
    )
    unread = {"type": "object", "required": ["unread"], "properties": {"unread": {"type": "integer", "minimum": 0}}}
    spec.path(
        path="/api/v1/me/notifications/read",
        operations={
            "post": {
                "operationId": "mark_notifications_read",
                "tags": ["notifications"],
                "summary": 'Mark notifications read: {"ids": [...]} or {"all": true}',
                "requestBody": {"required": True, "content": {"application/json": {"schema": MARK_READ}}},
                "responses": {"200": json_response(unread), **COMMON, **problem_responses(422)},
            }
        },
    )
