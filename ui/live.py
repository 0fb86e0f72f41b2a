"""Live updates: ``GET /app/events?entity=ticket`` streams the changes other people commit,
as server-sent events, so list pages and kanban boards can offer a refresh (``live.js``).

Each event is ``event: change`` with ``{"entity", "id", "version", "kind"}``: never a
field value. Before an event is sent, the record is looked up through the data-access
layer *as the signed-in user* (one query per entity for a batch of changes): a change of
a record the user may not read is dropped, so the stream says nothing about records they
cannot see. The page re-reads what changed through the normal pages and API.

Streams are bounded so they cannot starve the server's threads (gunicorn ``gthread``: one
thread per open stream): a comment line every ``HEARTBEAT`` seconds (it also detects
browsers that went away), an ``event: reconnect`` and the end of the response after
``MAX_SECONDS`` (the browser's EventSource reconnects after the ``retry`` delay, which also
re-checks the session), and at most ``MAX_STREAMS`` open streams per process (more get
``503`` with ``Retry-After``; live.js then tries again later). The three are settings of
the Flask app or environment variables: ``TESSERA_LIVE_HEARTBEAT``,
``TESSERA_LIVE_MAX_SECONDS``, ``TESSERA_LIVE_MAX_STREAMS``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request, stream_with_context

from engine.actor import Actor
from engine.api.context import actor, workspace
from engine.api.problems import problem
from engine.change_feed import MISSED, Change, feed_for
from engine.dsl.parser import string_literal
from engine.errors import AuthenticationRequired, NotFound, PermissionDenied, TesseraError
from ui.pages import bp, catalog

HEARTBEAT = 20.0
MAX_SECONDS = 300.0
MAX_STREAMS = 16
RETRY_MS = 5000
#: changes checked and sent together
BATCH = 200

_open = 0
_open_lock = threading.Lock()


def _setting(name: str, default: float) -> float:
    """A limit from the Flask app's config, else the environment, else the default."""
    raw = current_app.config.get(name, os.environ.get(name))
    try:
        value = float(raw) if raw not in (None, "") else default
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


def _take_slot(limit: int) -> bool:
    global _open
    with _open_lock:
        if _open >= limit:
            return False
        _open += 1
        return True


def _free_slot() -> None:
    global _open
    with _open_lock:
        _open -= 1


def wanted_entities(args: Any) -> list[str]:
    """The entities asked for (``?entity=a&entity=b`` or ``?entity=a,b``), all readable ones
    when none; an entity the user may not read is refused like an unknown one."""
    readable = {e.name for e in catalog().api_entities()}
    names = [n.strip() for raw in args.getlist("entity") for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in readable:
            raise NotFound(f"There is no entity {name!r}")
    return sorted(set(names)) if names else sorted(readable)


def readable_changes(ws: Any, who: Actor, changes: list[Change]) -> list[Change]:
    """The changes of records ``who`` may read now, in their order (one query per entity).

    Live records are looked up with an aggregate over their ids (a count, which reads no
    field and is not a "read" in the read audit); deleted ones in the trash."""
    visible: set[tuple[str, str]] = set()
    groups: dict[tuple[str, bool], set[str]] = {}
    for change in changes:
        groups.setdefault((change.entity, change.kind == "delete"), set()).add(change.id)
    for (entity, deleted), ids in groups.items():
        condition = "id in (" + ", ".join(string_literal(i) for i in sorted(ids)) + ",)"
        try:
            if deleted:
                params = {"filter": condition, "trash": "true", "fields": "id", "limit": str(BATCH)}
                found = {r["id"] for r in ws.records.list(who, entity, params).data}
            else:
                body = {"filter": condition, "group_by": ["id"], "metrics": {"n": "count()"}}
                found = {g["id"] for g in ws.records.aggregate(who, entity, body).data}
        except TesseraError:
            continue  # the entity is no longer readable (or changed its metadata): say nothing
        visible.update((entity, i) for i in found)
    return [c for c in changes if (c.entity, c.id) in visible]


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def stream(ws: Any, who: Actor, entities: list[str], heartbeat: float, max_seconds: float) -> Iterator[str]:
    """The event stream of one subscriber (the subscription is open before the first line)."""
    subscription = feed_for(ws).subscribe(entities)
    started = time.monotonic()
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while True:
            left = max_seconds - (time.monotonic() - started)
            if left <= 0:
                yield _event("reconnect", {"after_ms": RETRY_MS})
                return
            change = subscription.get(timeout=min(heartbeat, left))
            if change is None:
                yield ": heartbeat\n\n"
                continue
            if change is MISSED:  # the queue overflowed: the page had better reload
                yield _event("missed", {})
                continue
            batch = [change, *subscription.drain(BATCH - 1)]
            for item in readable_changes(ws, who, batch):
                yield _event("change", item.as_dict())
    finally:
        subscription.close()


@bp.get("/app/events")
def live_events() -> Any:
    try:
        who = actor()
    except (AuthenticationRequired, PermissionDenied) as exc:
        return problem(401, "Authentication required", exc.detail)
    from ui.portal import is_portal_user  # the portal builds on the pages module

    if is_portal_user(who):  # customers have the portal, which shows no live pages
        return problem(403, "Forbidden", "Live updates are for the staff pages")
    ws = workspace()
    try:
        entities = wanted_entities(request.args)
    except NotFound as exc:
        return problem(404, exc.title, exc.detail)
    limit = int(_setting("TESSERA_LIVE_MAX_STREAMS", MAX_STREAMS))
    if not _take_slot(limit):
        retry = str(int(_setting("TESSERA_LIVE_MAX_SECONDS", MAX_SECONDS) // 10) or 30)
        detail = "Too many live streams are open; try again later"
        return problem(503, "Service unavailable", detail, None, {"Retry-After": retry})
    heartbeat = _setting("TESSERA_LIVE_HEARTBEAT", HEARTBEAT)
    max_seconds = _setting("TESSERA_LIVE_MAX_SECONDS", MAX_SECONDS)

    response = Response(
        stream_with_context(stream(ws, who, entities, heartbeat, max_seconds)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(_free_slot)  # also when the stream never started
    return response
