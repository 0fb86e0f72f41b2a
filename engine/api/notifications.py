"""The caller's in-app notifications (``/api/v1/me/notifications``) and the webhook
delivery log (``/api/v1/admin/webhooks/ID/deliveries``).

Notifications are records of the entity ``notification``; these routes read and mark them
through the data-access layer as the caller, so the entity's permissions apply as on
``/api/v1/notification``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify, request

from engine.actor import Actor
from engine.api.context import actor, json_body, workspace
from engine.automation.webhooks import subscription_deliveries
from engine.errors import BadRequest
from engine.storage.ids import is_id

bp = Blueprint("notifications", __name__, url_prefix="/api/v1")

ENTITY = "notification"
#: notifications marked read per data-access call
BATCH = 500


def _mine(who: Actor, **params: str) -> dict[str, str]:
    return {"user": who.user_id or "", **params}


def unread_count(ws: Any, who: Actor) -> int:
    page = ws.records.list(who, ENTITY, _mine(who, read_at="null", count="true", limit="1", fields="id"))
    return int(page.total or 0)


@bp.get("/me/notifications")
def my_notifications() -> Any:
    """Newest first; ``?unread=true`` only unread ones; ``limit``, ``offset``."""
    ws, who = workspace(), actor()
    params = request.args.to_dict()
    unknown = set(params) - {"unread", "limit", "offset"}
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}; use unread, limit, offset")
    unread = params.pop("unread", "false").lower()
    if unread not in ("true", "false"):
        raise BadRequest("unread must be true or false")
    query = _mine(who, sort="-created_at", **params)
    if unread == "true":
        query["read_at"] = "null"
    page = ws.records.list(who, ENTITY, query)
    return jsonify({**page.as_dict(), "unread": unread_count(ws, who)})


@bp.post("/me/notifications/read")
def mark_read() -> Any:
    """``{"ids": [...]}`` marks those notifications read, ``{"all": true}`` every unread one."""
    ws, who = workspace(), actor()
    body = json_body()
    if not isinstance(body, dict) or set(body) not in ({"ids"}, {"all"}):
        raise BadRequest('Send {"ids": [NOTIFICATION_ID, ...]} or {"all": true}')
    now = dt.datetime.now(dt.UTC).isoformat()
    if "ids" in body:
        ids = body["ids"]
        if not isinstance(ids, list) or not all(is_id(i) for i in ids) or len(ids) > BATCH:
            raise BadRequest(f"ids must be a list of up to {BATCH} notification ids")
        for notification_id in dict.fromkeys(ids):
            ws.records.update(who, ENTITY, notification_id, {"read_at": now})
    elif body["all"] is True:
        while True:
            page = ws.records.list(who, ENTITY, _mine(who, read_at="null", limit=str(BATCH), fields="id"))
            if not page.data:
                break
            ws.records.bulk(who, ENTITY, [{"id": n["id"], "read_at": now} for n in page.data])
    else:
        raise BadRequest('Send {"all": true} to mark every notification read')
    return jsonify({"unread": unread_count(ws, who)})


@bp.get("/admin/webhooks/<subscription_id>/deliveries")
def webhook_deliveries(subscription_id: str) -> Any:
    """The latest deliveries of a webhook subscription, each with its attempts (admins)."""
    return jsonify(subscription_deliveries(workspace(), actor(), subscription_id))
