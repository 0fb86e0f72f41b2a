"""Public tracking routes (``/public/plugins/email/...``): opens, clicks, unsubscribes.

Each records an ``email_event`` through the data-access layer (so rules can react to its
creation) and updates the ``email_message`` counters. A link with a wrong signature is a
404, like a message that does not exist. Unsubscribing is a POST (the link opens a page
with one button, so mail scanners following links unsubscribe nobody; mail programs use
the ``List-Unsubscribe-Post`` one-click POST).
"""

from __future__ import annotations

import base64
import html
from typing import Any

from flask import Blueprint, Response, redirect, request

from engine.api.context import workspace
from engine.errors import NotFound
from plugins.email import tokens
from plugins.email.outbound import consent_field_of
from plugins.email.settings import ACTOR, PUBLIC_PREFIX, find_one, installed, now, settings

bp = Blueprint("plugin_email", __name__, url_prefix=PUBLIC_PREFIX)

#: a transparent 1x1 GIF
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
    '<meta name="viewport" content="width=device-width"></head>'
    '<body style="font-family:sans-serif;max-width:32em;margin:3em auto">{body}</body></html>'
)


def _message(ws: Any, purpose: str, message_id: str, sig: str, extra: str = "") -> dict[str, Any]:
    """The sent message a link names; 404 for a forged or unknown link."""
    if not installed(ws) or not tokens.valid(ws, sig, purpose, message_id, extra):
        raise NotFound("This link is not valid")
    found = find_one(ws, "email_message", id=message_id)
    if found is None:
        raise NotFound("This link is not valid")
    return found


def _event(ws: Any, message: dict[str, Any], kind: str, url: str | None = None) -> None:
    values = {
        "kind": kind,
        "message": message["id"],
        "recipient": message.get("to_address"),
        "url": url,
        "happened_at": now().isoformat(),
        "related_entity": message.get("related_entity"),
        "related_id": message.get("related_id"),
    }
    ws.records.create(ACTOR, "email_event", {k: v for k, v in values.items() if v is not None})


def _count(ws: Any, message: dict[str, Any], counter: str, first: str) -> None:
    changes: dict[str, Any] = {counter: int(message.get(counter) or 0) + 1}
    if not message.get(first):
        changes[first] = now().isoformat()
    ws.records.update(ACTOR, "email_message", str(message["id"]), changes)


@bp.get("/open/<message_id>/<sig>.gif")
def opened(message_id: str, sig: str) -> Any:
    ws = workspace()
    message = _message(ws, "open", message_id, sig)
    _event(ws, message, "open")
    _count(ws, message, "opens", "opened_at")
    return Response(GIF, mimetype="image/gif", headers={"Cache-Control": "no-store, private"})


@bp.get("/click/<message_id>/<int:index>/<sig>")
def clicked(message_id: str, index: int, sig: str) -> Any:
    ws = workspace()
    message = _message(ws, "click", message_id, sig, str(index))
    links = message.get("links") or []
    if not isinstance(links, list) or not 0 <= index < len(links):
        raise NotFound("This link is not valid")
    url = str(links[index])  # only an address the message itself contained: no open redirect
    _event(ws, message, "click", url)
    _count(ws, message, "clicks", "clicked_at")
    return redirect(url, code=302)


@bp.route("/unsubscribe/<message_id>/<sig>", methods=["GET", "POST"])
def unsubscribe(message_id: str, sig: str) -> Any:
    ws = workspace()
    message = _message(ws, "unsubscribe", message_id, sig)
    entity, record_id = message.get("related_entity"), message.get("related_id")
    field = consent_field_of(ws, str(entity), settings(ws)) if entity and record_id else None
    if field is None:
        raise NotFound("This link is not valid")
    if request.method == "GET":
        body = (
            "<h1>Unsubscribe</h1><p>Stop receiving these e-mails at "
            f"{html.escape(str(message.get('to_address') or ''))}?</p>"
            f'<form method="post"><button type="submit">Unsubscribe</button></form>'
        )
        return Response(PAGE.format(title="Unsubscribe", body=body), mimetype="text/html")
    current = find_one(ws, str(entity), id=str(record_id))
    if current is not None and current.get(field) is not False:
        ws.records.update(ACTOR, str(entity), str(record_id), {field: False})
        _event(ws, message, "unsubscribe")
    body = "<h1>You are unsubscribed</h1><p>You will not receive these e-mails any more.</p>"
    return Response(PAGE.format(title="Unsubscribed", body=body), mimetype="text/html")
