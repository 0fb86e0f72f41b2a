"""Reading submitted record forms: values converted by field type, datetimes read and shown
in the time zone of the user's profile (the calendar's), child-table lines, and the field
messages of a refusal. Record forms and record-action forms (``ui.records``) share it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.datastructures import MultiDict

from engine.api.context import actor, workspace
from engine.calendar_feed import user_zone
from engine.errors import FieldError, TesseraError
from engine.meta.model import EntityDef, FieldDef
from ui.pages import catalog

#: field types a form does not edit
NO_FORM = {"json", "file", "links"}


def child_entity(fd: FieldDef) -> EntityDef | None:
    return catalog().entities.get(fd.opt("of")) if fd.type == "table" else None


def form_zone() -> ZoneInfo:
    """The time zone forms read and show datetimes in: the user's profile's (the calendar's)."""
    return user_zone(workspace(), actor())


def _convert(fd: FieldDef, raw: str | None, values: list[str], zone: ZoneInfo) -> Any:
    if fd.type == "bool":
        return raw in ("on", "true", "1")
    if fd.type == "multi_enum":
        return values
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if fd.type == "int":
        return int(raw) if raw.lstrip("-").isdigit() else raw  # the API explains a bad number
    if fd.type in ("decimal", "money", "percent", "duration", "rating"):
        return raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw
    if fd.type == "datetime":
        return _utc_text(raw, zone)
    if fd.type == "json":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _utc_text(raw: str, zone: ZoneInfo) -> str:
    """``<input type=datetime-local>`` gives the wall-clock time without a zone: the user's
    time in ``zone``, sent on as UTC. Text that is no datetime goes on for the API to explain."""
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        return raw
    moment = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def local_text(value: Any, zone: ZoneInfo) -> Any:
    """A stored (UTC) datetime as a datetime-local input shows it in ``zone``, to the second
    (``step="1"``); anything else (what was typed and refused) as it is."""
    try:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S") if moment and moment.tzinfo else value


def unchanged_datetimes(entity: EntityDef, record_id: str, body: dict[str, Any], zone: ZoneInfo) -> set[str]:
    """The datetimes of ``body`` still as the form showed the stored ones (to the second):
    left out of the update, they keep their exact value and record no change."""
    typed = [k for k, v in body.items() if entity.fields[k].type == "datetime" and isinstance(v, str)]
    try:
        stored = workspace().records.get(actor(), entity.name, record_id) if typed else {}
    except TesseraError:
        return set()  # the update says what is wrong
    shown = {k: local_text(stored.get(k), zone) for k in typed}
    return {k for k in typed if isinstance(shown[k], str) and _utc_text(shown[k], zone) == body[k]}


def form_values(fields: Iterable[FieldDef], form: MultiDict[str, Any], editing: bool, zone: ZoneInfo) -> dict[str, Any]:
    """The body a submitted form stands for: one value per editable field shown (of an
    entity's fields, or of an action's inputs)."""
    body: dict[str, Any] = {}
    for fd in fields:
        if fd.readonly or fd.type in NO_FORM:
            continue
        if fd.type == "table":
            child = child_entity(fd)
            if child is not None and f"{fd.name}.present" in form:
                body[fd.name] = _lines(child, fd.name, form, zone)
            continue
        if fd.type == "secret" and editing and not form.get(fd.name):
            continue  # left empty: the secret stays as it is
        if fd.name not in form and fd.type not in ("bool", "multi_enum"):
            continue
        if fd.type == "bool" and f"{fd.name}.present" not in form:
            continue
        value = _convert(fd, form.get(fd.name), form.getlist(fd.name), zone)
        if value is None and not editing:
            continue  # left empty on a new record: the field's default (or derivation) applies
        body[fd.name] = value
    return body


def _lines(child: EntityDef, name: str, form: MultiDict[str, Any], zone: ZoneInfo) -> list[dict[str, Any]]:
    """``lines.0.product``, ``lines.0.qty``...: one row per index with anything filled in."""
    rows: dict[int, dict[str, Any]] = {}
    prefix = name + "."
    for key in form:
        if not key.startswith(prefix) or key.endswith(".present"):
            continue
        index_text, _, column = key[len(prefix) :].partition(".")
        fd = child.fields.get(column)
        if not index_text.isdigit() or fd is None or fd.readonly:
            continue
        value = _convert(fd, form.get(key), form.getlist(key), zone)
        rows.setdefault(int(index_text), {})[column] = value
    kept = []
    for index in sorted(rows):
        row = {k: v for k, v in rows[index].items() if k != "id" or v}
        if not any(v not in (None, "", False, []) for k, v in row.items() if k != "id"):
            continue  # an empty line of the editor
        if "id" not in row:  # a new line: what is left empty takes its default (a catalog price)
            row = {k: v for k, v in row.items() if v is not None}
        kept.append(row)
    return kept


def field_errors(exc: TesseraError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in getattr(exc, "errors", []) or []:
        assert isinstance(error, FieldError)
        key = error.field if error.index is None else f"{error.field}[{error.index}]"
        errors.setdefault(key, error.message)
    return errors


# --- pickers for reference fields -------------------------------------------------------------
