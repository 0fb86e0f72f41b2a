"""The caller's iCalendar feed (``engine.calendar_feed``) and the secret address it is read at.

- ``GET /api/v1/me/calendar-feed``: the caller's feed address (``url``, and ``webcal_url``
  for a one-click subscription), or nulls before they made one;
- ``POST /api/v1/me/calendar-feed``: a new address; the previous one stops working;
- ``DELETE /api/v1/me/calendar-feed``: no address any more;
- ``GET /api/v1/public/calendar/TOKEN.ics``: the feed, no sign-in (calendar programs cannot
  send one): the token names the user, whose permissions decide every event in it.
  ``?scope=mine`` (default), ``team`` or ``all``. Any token but a live one of an active user
  is a 404, the same whether or not the user exists.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Blueprint, Response, jsonify, request

from engine.api.context import actor, workspace
from engine.api.openapi import json_response, path_param, problem_responses
from engine.api.openapi_auth import operation
from engine.calendar_events import SCOPES
from engine.calendar_feed import CONTENT_TYPE, feed
from engine.errors import BadRequest, NotFound
from engine.security import feed_tokens

bp = Blueprint("calendar", __name__, url_prefix="/api/v1")
SUFFIX = ".ics"


def base_url(ws: Any) -> str:
    """Where links point: the configured public address (``TESSERA_PUBLIC_URL``), else this request's."""
    return str(ws.config.public_url or request.url_root).rstrip("/")


def feed_address(ws: Any, found: dict[str, Any] | None) -> dict[str, Any]:
    """The answer of ``/me/calendar-feed``: the feed's URLs and when it was made (nulls without
    one; only the URLs null for an address that works but cannot be shown again)."""
    if found is None:
        return {"url": None, "webcal_url": None, "created_at": None}
    if found["token"] is None:
        return {"url": None, "webcal_url": None, "created_at": found["created_at"].isoformat()}
    url = f"{base_url(ws)}/api/v1/public/calendar/{found['token']}{SUFFIX}"
    return {
        "url": url,
        "webcal_url": "webcal://" + url.split("://", 1)[1],
        "created_at": found["created_at"].isoformat(),
    }


@bp.get("/me/calendar-feed")
def my_calendar_feed() -> Any:
    ws = workspace()
    return jsonify(feed_address(ws, feed_tokens.current(ws, actor())))


@bp.post("/me/calendar-feed")
def new_calendar_feed() -> Any:
    ws = workspace()
    return jsonify(feed_address(ws, feed_tokens.issue(ws, actor())))


@bp.delete("/me/calendar-feed")
def revoke_calendar_feed() -> Any:
    feed_tokens.revoke(workspace(), actor())
    return Response(status=204)


@bp.get("/public/calendar/<name>")
def calendar_feed(name: str) -> Any:
    if not name.endswith(SUFFIX):
        raise NotFound(feed_tokens.UNKNOWN)
    ws = workspace()
    who = feed_tokens.resolve(ws, name.removesuffix(SUFFIX), request.remote_addr or "")
    unknown = set(request.args) - {"scope"}
    scope = request.args.get("scope", "mine")
    if unknown or scope not in SCOPES:
        raise BadRequest(f"The only parameter is scope: one of {', '.join(SCOPES)}")
    body = feed(ws, who, base_url(ws), scope)
    response = Response(body, status=200, content_type=CONTENT_TYPE)
    response.headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


ADDRESS = {
    "type": "object",
    "required": ["url", "webcal_url", "created_at"],
    "properties": {
        "url": {"type": ["string", "null"], "description": "the feed's secret address (https)"},
        "webcal_url": {"type": ["string", "null"], "description": "the same as webcal://, to subscribe in one click"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def add_calendar_paths(spec: APISpec) -> None:
    """This blueprint's operations in the OpenAPI document."""
    address = json_response(ADDRESS)
    spec.path(
        path="/api/v1/me/calendar-feed",
        operations={
            "get": operation(
                "my_calendar_feed",
                "calendar",
                "The caller's iCalendar feed address (nulls before they made one)",
                {"200": address, **problem_responses(401, 403, 429)},
            ),
            "post": operation(
                "new_calendar_feed",
                "calendar",
                "Make a new feed address; the previous one stops working",
                {"200": address, **problem_responses(401, 403, 429)},
            ),
            "delete": operation(
                "revoke_calendar_feed",
                "calendar",
                "End the caller's feed address",
                {"204": {"description": "Revoked (or there was none)"}, **problem_responses(401, 403, 429)},
            ),
        },
    )
    spec.path(
        path="/api/v1/public/calendar/{name}",
        operations={
            "get": operation(
                "calendar_feed",
                "calendar",
                "A user's calendar as iCalendar (RFC 5545), read with the secret token of its address",
                {
                    "200": {
                        "description": "The events the token's user may read",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    **problem_responses(400, 404, 429),
                },
                parameters=[
                    path_param("name", {"type": "string", "description": "TOKEN.ics"}),
                    {"name": "scope", "in": "query", "schema": {"type": "string", "enum": list(SCOPES)}},
                ],
                security=[],
            )
        },
    )
