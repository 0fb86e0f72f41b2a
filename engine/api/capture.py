"""Public capture (``/api/v1/public/...``): web forms and signed inbound hooks, no login.

Every submission is counted against the client address (``limits``, shared through Redis
when configured) before anything else happens. The answer is ``202`` whatever became of
the submission (written, merged into an existing record, dropped as a duplicate or as a
bot); only invalid input gets a ``422`` naming the fields.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from engine.api.context import json_body, require_admin, workspace
from engine.capture.definitions import Capture, captures
from engine.capture.intake import submit
from engine.capture.signing import remove_secret, set_secret, verify
from engine.errors import BadRequest, NotFound
from engine.security.throttle import Throttle
from engine.storage.derivation import label_text

bp = Blueprint("capture", __name__, url_prefix="/api/v1")
DEFAULT_MESSAGE = {"en": "Thank you, we have received your message.", "de": "Danke, wir haben Ihre Nachricht erhalten."}


def _capture(kind: str, name: str) -> Capture:
    found = captures(workspace().snapshot(), kind).get(name)
    if found is None or found.link_ttl is not None:  # a record link answers at /public/respond only
        raise NotFound(f"There is no {kind} {name!r}")
    return found


def _throttle(capture: Capture) -> None:
    """At most the form's (or the workspace's) rate per client address."""
    limit = capture.rate_limit or workspace().config.capture_rate_limit
    throttles: dict[str, Throttle] = current_app.extensions.setdefault("tessera.capture_throttles", {})
    throttle = throttles.get(limit)
    if throttle is None:
        throttle = throttles[limit] = Throttle(limit, workspace().config.redis_url)
    throttle.hit(f"{capture.kind}:{workspace().name}:{capture.name}", request.remote_addr or "?")


def _locale() -> str:
    best = request.accept_languages.best or "en"
    return best.split("-")[0].lower()


def _received(capture: Capture) -> Any:
    response = jsonify({"status": "received", "message": label_text(capture.message or DEFAULT_MESSAGE, _locale())})
    response.status_code = 202
    return response


def describe_fields(capture: Capture, locale: str) -> list[dict[str, Any]]:
    """The form's fields with labels, types, options and ranges (what a page renders)."""
    entity = workspace().snapshot().catalog.entities[capture.entity]
    fields = []
    for field_name in capture.fields:
        fd = entity.fields[field_name]
        item: dict[str, Any] = {
            "name": field_name,
            "label": label_text(fd.label, locale),
            "type": fd.type,
            "required": field_name in capture.required or fd.required,
        }
        if fd.opt("help"):
            item["help"] = label_text(fd.opt("help"), locale)
        for bound in ("min", "max"):
            if fd.opt(bound) is not None:
                item[bound] = fd.opt(bound)
        if fd.enum_options:
            item["options"] = [
                {"value": o.value, "label": label_text(o.label or o.value, locale)} for o in fd.enum_options
            ]
        fields.append(item)
    return fields


@bp.get("/public/forms/<name>")
def describe_form(name: str) -> Any:
    """What a web page needs to render the form: its fields with labels, types and options."""
    capture = _capture("form", name)
    locale = _locale()
    label = label_text(capture.label or name.replace("_", " ").capitalize(), locale)
    fields = describe_fields(capture, locale)
    return jsonify({"form": name, "label": label, "fields": fields, "honeypot": capture.honeypot})


@bp.post("/public/forms/<name>")
def submit_form(name: str) -> Any:
    capture = _capture("form", name)
    _throttle(capture)
    if request.is_json:
        data = json_body()
        if not isinstance(data, dict):
            raise BadRequest("The body must be a JSON object of field values")
    else:  # an HTML form posting straight to the endpoint
        data = request.form.to_dict()
    submit(workspace(), capture, data, request.remote_addr or "?")
    return _received(capture)


@bp.post("/public/hooks/<name>")
def receive_hook(name: str) -> Any:
    capture = _capture("hook", name)
    _throttle(capture)
    body = request.get_data(cache=True)
    headers = request.headers
    verify(workspace(), capture, headers.get("X-Tessera-Timestamp", ""), headers.get("X-Tessera-Signature", ""), body)
    data = json_body()
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object")
    submit(workspace(), capture, data, request.remote_addr or "?")
    return _received(capture)


@bp.put("/admin/hooks/<name>/secret")
def put_hook_secret(name: str) -> Any:
    """Set a hook's signing secret (``{"secret": "..."}``), or generate one (empty body).
    The answer shows the secret this once."""
    who = require_admin()
    capture = _capture("hook", name)
    body = json_body() if request.get_data(cache=True) else {}
    if not isinstance(body, dict) or set(body) - {"secret"}:
        raise BadRequest('Send {"secret": "..."} or nothing')
    secret = set_secret(workspace(), who, capture, body.get("secret"))
    return jsonify({"hook": name, "secret": secret})


@bp.delete("/admin/hooks/<name>/secret")
def delete_hook_secret(name: str) -> Any:
    who = require_admin()
    remove_secret(workspace(), who, _capture("hook", name))
    return "", 204
