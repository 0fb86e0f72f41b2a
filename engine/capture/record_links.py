"""Record links: a signed, expiring, single-use link to one record for someone without a login.

A form with ``record_link:`` (``forms/``) does not create records. Instead a message template
calls ``{{ record_link("FORM") }}`` and gets a URL (``/api/v1/public/respond/TOKEN``) that
lets whoever holds it fill the form's fields of the record the message is about, once:
the answer to a survey, the confirmation of an appointment, a delivery receipt.

- The token is the form, the entity, the record id and an expiry, signed with the
  workspace's secret key (``itsdangerous``): nothing is stored, and a token changed in any
  way is refused. It lives ``record_link.expires_after`` (default 30 days).
- **Single use**: the link works while every field of the form is empty on the record; the
  answer fills them, and the write is made against the version that was read (optimistic
  locking), so two answers sent at the same moment cannot both land.
- The answer is written through the data-access layer as the engine itself (validation,
  rules, audit), with ``record_link:FORM`` and the client address as the source.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

import jinja2
from itsdangerous import BadSignature, URLSafeSerializer

from engine.actor import SYSTEM
from engine.capture.definitions import Capture, captures
from engine.capture.intake import submitted_values
from engine.errors import Conflict, FieldError, NotFound, PreconditionFailed, ValidationError

SALT = "tessera-record-link"
PATH = "/api/v1/public/respond/"
INVALID = "This link is not valid. Use the link from your e-mail as it is."


def _serializer(ws: Any) -> URLSafeSerializer:
    return URLSafeSerializer(ws.config.resolved_secret_key(), salt=SALT)


def _form(ws: Any, name: str) -> Capture | None:
    form = captures(ws.snapshot(), "form").get(name)
    return form if form is not None and form.link_ttl is not None else None


def issue(ws: Any, form_name: str, entity: str, record_id: str, now: dt.datetime | None = None) -> str:
    """A token for ``form_name`` on the record; ValueError when the form is no record link
    of that entity (a template naming the wrong form fails its delivery, visibly)."""
    form = _form(ws, form_name)
    if form is None or form.entity != entity:
        raise ValueError(f"there is no record-link form {form_name!r} for {entity!r}")
    assert form.link_ttl is not None
    expires = (now or ws.records.clock()) + form.link_ttl
    return str(_serializer(ws).dumps({"f": form_name, "e": entity, "r": record_id, "x": int(expires.timestamp())}))


def link(ws: Any, form_name: str, entity: str, record_id: str) -> str:
    """A new link (what ``record_link("FORM")`` gives a template): absolute under the
    configured ``public_url``, else the path; a wrong form name is a template error, so the
    delivery fails visibly instead of mailing a dead link."""
    try:
        return (ws.config.public_url or "") + PATH + issue(ws, form_name, entity, record_id)
    except ValueError as exc:
        raise jinja2.TemplateRuntimeError(str(exc)) from None


def open_link(ws: Any, token: str) -> tuple[Capture, dict[str, Any]]:
    """The form and the record a token opens; 404 for a forged, altered or unknown link,
    409 once it was used or has expired."""
    try:
        claims = _serializer(ws).loads(token)
    except BadSignature:
        raise NotFound(INVALID) from None
    if not isinstance(claims, dict) or not {"f", "e", "r", "x"} <= set(claims):
        raise NotFound(INVALID)
    form = _form(ws, str(claims["f"]))
    if form is None or form.entity != claims["e"]:
        raise NotFound(INVALID)
    if ws.records.clock().timestamp() > float(claims["x"]):
        raise Conflict("This link has expired.")
    try:
        record = ws.records.get(SYSTEM, form.entity, str(claims["r"]))
    except NotFound:
        raise NotFound(INVALID) from None
    if any(record.get(name) not in (None, "", []) for name in form.fields):
        raise Conflict("This link was already used: the answer is recorded. Thank you!")
    return form, record


def respond(ws: Any, token: str, data: Mapping[str, Any], client: str) -> Capture:
    """Fill the form's fields of the record once (422 naming the fields on invalid input)."""
    form, record = open_link(ws, token)
    values = submitted_values(form, data)
    unknown = sorted(set(data) - set(form.fields))
    errors = [FieldError(name, "Is not a field of this form.") for name in unknown]
    errors += [FieldError(name, "Is required.") for name in form.required if name not in values]
    if errors:
        raise ValidationError("Some answers need correcting", errors)
    actor = dataclasses.replace(SYSTEM, source=f"record_link:{form.name} {client}"[:255])
    try:
        ws.records.update(actor, form.entity, record["id"], {**values, **form.values}, if_match=record["version"])
    except PreconditionFailed:  # answered by someone else in the meantime
        raise Conflict("This link was already used: the answer is recorded. Thank you!") from None
    return form
