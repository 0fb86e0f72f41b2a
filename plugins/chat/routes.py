"""The chat widget's public routes (``/public/plugins/chat/...``).

``widget.js`` is the embeddable script; ``NAME/config`` gives it the widget's texts;
``NAME/messages`` receives a visitor's message and hands it, shaped like a chat service's
webhook (``visitor.*``, ``messages[0].text``), to the capture hook the ``chat_widget``
record names (:func:`engine.capture.intake.submit`: validation, duplicate handling and
the write through the data-access layer). A browser cannot keep a signing secret, so the
widget record stands in for the signature: only hooks an active widget names are
reachable here, only from its allowed origins, at its rate per visitor address.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from engine.actor import Actor
from engine.api.context import json_body, workspace
from engine.capture.definitions import captures
from engine.capture.intake import submit
from engine.errors import BadRequest, FieldError, NotFound, PermissionDenied, ValidationError
from engine.security.throttle import Throttle

PREFIX = "/public/plugins/chat"
SCRIPT = Path(__file__).resolve().parent / "static" / "widget.js"
#: the hidden field people never fill; a bot that does gets a 202 and nothing is written
HONEYPOT = "website"
MAX_MESSAGE = 4000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ACCEPTED = {"name", "email", "company", "message", "page", HONEYPOT}

#: the plugin reading widget records (through the data-access layer, as the engine)
READER = Actor(None, frozenset({"admin"}), "plugin:chat")

bp = Blueprint("plugin_chat", __name__, url_prefix=PREFIX)


def _widget(name: str) -> dict[str, Any]:
    """The active widget called ``name``; 404 otherwise (and without the chat pack)."""
    ws = workspace()
    if "chat_widget" not in ws.snapshot().catalog.entities:
        raise NotFound("There is no chat widget here")
    page = ws.records.list(READER, "chat_widget", {"name": name, "active": "true", "limit": "1", "sort": "created_at"})
    row = page.data[0] if page.data else None
    if row is None:
        raise NotFound(f"There is no chat widget {name!r}")
    return dict(row)


def _origins(widget: dict[str, Any]) -> list[str]:
    return [line.strip().rstrip("/") for line in str(widget.get("allowed_origins") or "").splitlines() if line.strip()]


def _check_origin(widget: dict[str, Any]) -> str:
    """The ``Access-Control-Allow-Origin`` value; 403 for a site not on the allow-list."""
    allowed = _origins(widget)
    origin = request.headers.get("Origin")
    if not allowed:
        return "*"
    if origin is None or origin.rstrip("/") not in allowed:
        raise PermissionDenied("This website may not use the chat widget")
    return origin


def _cors(response: Response, origin: str) -> Response:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    if origin != "*":
        response.headers["Vary"] = "Origin"
    return response


def _throttle(widget: dict[str, Any]) -> None:
    ws = workspace()
    limit = str(widget.get("rate_limit") or ws.config.capture_rate_limit)
    throttles: dict[str, Throttle] = current_app.extensions.setdefault("tessera.chat_throttles", {})
    if limit not in throttles:
        throttles[limit] = Throttle(limit, ws.config.redis_url)
    throttles[limit].hit(f"chat:{ws.name}:{widget['name']}", request.remote_addr or "?")


def conversation(data: dict[str, Any]) -> dict[str, Any]:
    """A visitor's message checked (422 naming the fields) and shaped like a chat webhook."""
    unknown = sorted(set(data) - ACCEPTED)
    if unknown:
        raise BadRequest(f"Unknown fields: {', '.join(unknown)}; send name, email, company, message")
    errors = []
    text = data.get("message")
    if not isinstance(text, str) or not text.strip():
        errors.append(FieldError("message", "Write a message."))
    elif len(text) > MAX_MESSAGE:
        errors.append(FieldError("message", f"At most {MAX_MESSAGE} characters."))
    for key, limit in (("name", 200), ("email", 320), ("company", 200), ("page", 2000)):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            errors.append(FieldError(key, f"Text of at most {limit} characters."))
    email = data.get("email")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
        errors.append(FieldError("email", "This is not an e-mail address."))
    if errors:
        raise ValidationError("Some fields need correcting", errors)
    first, _, last = str(data.get("name") or "").strip().rpartition(" ")
    visitor = {"first_name": first or None, "last_name": last or None, "email": email, "company": data.get("company")}
    return {
        "visitor": {k: v.strip() for k, v in visitor.items() if isinstance(v, str) and v.strip()},
        "messages": [{"text": str(text).strip()}],
        "page": data.get("page"),
    }


@bp.get("/widget.js")
def script() -> Any:
    response = Response(SCRIPT.read_text(encoding="utf-8"), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/<name>/config")
def config(name: str) -> Any:
    widget = _widget(name)
    origin = _check_origin(widget)
    texts = {key: widget.get(key) for key in ("title", "greeting")}
    return _cors(jsonify({"widget": name, **texts}), origin)


@bp.route("/<name>/messages", methods=["OPTIONS"])
def preflight(name: str) -> Any:
    return _cors(Response(status=204), _check_origin(_widget(name)))


@bp.post("/<name>/messages")
def receive(name: str) -> Any:
    widget = _widget(name)
    origin = _check_origin(widget)
    _throttle(widget)
    ws = workspace()
    capture = captures(ws.snapshot(), "hook").get(str(widget["hook"]))
    if capture is None:
        raise NotFound(f"The chat widget {name!r} names no existing hook")
    data = json_body()
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object: name, email, company, message")
    if data.get(HONEYPOT) in (None, ""):
        submit(ws, capture, conversation(data), f"{request.remote_addr or '?'} via chat widget {name}")
    response = jsonify({"status": "received", "message": widget.get("thanks") or "Thank you."})
    response.status_code = 202
    return _cors(response, origin)
