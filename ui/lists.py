"""List views: ``/app/ENTITY`` with columns from the metadata, sorting, a filter builder
that writes DSL (and the raw DSL box beside it), keyset pagination, saved views, bulk
actions and export of the current view.

Every query is a ``records.list`` call as the signed-in user, so what a page shows is what
the REST API would return to them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, abort, flash, redirect, request, stream_with_context, url_for

from engine.api.context import actor, workspace
from engine.dataio.convert import ConversionError, ConvertOptions, converter
from engine.dataio.writers import FORMATS, csv_chunks, xlsx_chunks
from engine.dsl.parser import string_literal
from engine.errors import BadRequest, FieldError, NotFound, TesseraError, ValidationError
from engine.meta.model import EntityDef
from engine.render.formatting import SEPARATORS
from ui.calendar import user_zone
from ui.pages import bp, catalog, flash_refusal, form_ok, render_page, safe_target, signed_in, text, who
from ui.values import Column, choices, list_columns, reference_titles

PAGE_SIZE = 25
EXPORT_PAGE = 500
SAVED_VIEW = "saved_view"
#: builder operators: (label, DSL template); ``{f}`` the field, ``{v}`` the value literal
OPERATORS = {
    "eq": ("is", "{f} == {v}"),
    "ne": ("is not", "{f} != {v}"),
    "contains": ("contains", "{f} ~ {v}"),
    "gt": ("greater than", "{f} > {v}"),
    "ge": ("at least", "{f} >= {v}"),
    "lt": ("less than", "{f} < {v}"),
    "le": ("at most", "{f} <= {v}"),
    "empty": ("is empty", "{f} == null"),
    "set": ("is not empty", "{f} != null"),
}
_NUMBERS = {"int", "decimal", "money", "percent", "duration", "rating"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def entity_or_404(name: str) -> EntityDef:
    entity = catalog().entities.get(name)
    if entity is None or entity.child:
        abort(404)
    return entity


# --- the filter builder --------------------------------------------------------------------
def value_literal(entity: EntityDef, field: str, raw: str) -> str:
    """The DSL literal of a value typed into the builder, checked against the field type."""
    fd = entity.fields.get(field)
    kind = _kind(entity, field)
    raw = raw.strip()
    if kind in _NUMBERS:
        try:
            number = Decimal(raw)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise BadRequest(f"{text(fd.label if fd else field)}: {raw!r} is not a number")
        return raw if "." in raw or "e" in raw.lower() else str(int(number))
    if kind == "bool":
        if raw.lower() not in ("true", "false", "yes", "no"):
            raise BadRequest(f"{text(fd.label if fd else field)}: answer true or false")
        return "true" if raw.lower() in ("true", "yes") else "false"
    if kind in ("date", "datetime"):
        try:
            dt.date.fromisoformat(raw[:10])
        except ValueError:
            raise BadRequest(f"{text(fd.label if fd else field)}: write a date as YYYY-MM-DD") from None
        return raw[:10]
    return string_literal(raw)


def _kind(entity: EntityDef, field: str) -> str:
    fd = entity.fields.get(field)
    return fd.type if fd is not None else ("datetime" if field.endswith("_at") else "string")


def _moment(entity: EntityDef, field: str, raw: str) -> str:
    """A datetime typed into the builder (in the user's time zone) as a UTC literal."""
    try:
        local = dt.datetime.fromisoformat(raw.strip())
        if local.tzinfo is None:
            local = local.replace(tzinfo=user_zone())
        return local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError):
        fd = entity.fields.get(field)
        raise BadRequest(f"{text(fd.label if fd else field)}: write a date as YYYY-MM-DD") from None


def condition(entity: EntityDef, field: str, op: str, value: str) -> str:
    """One builder row as DSL. A date given for a datetime field means that whole day in the
    user's time zone: ``is`` is any time that day, ``greater than`` after it, and so on."""
    template = OPERATORS[op][1]
    if op in ("empty", "set"):
        return template.format(f=field, v="")
    if _kind(entity, field) != "datetime" or op == "contains":
        return template.format(f=field, v=value_literal(entity, field, value))
    day = value.strip()
    if "T" in day or " " in day:  # a moment, not a day
        return template.format(f=field, v=_moment(entity, field, day))
    start = _moment(entity, field, day[:10])
    try:
        end = _moment(entity, field, (dt.date.fromisoformat(day[:10]) + dt.timedelta(days=1)).isoformat())
    except OverflowError:
        end = "9999-12-31T23:59:59Z"
    return {
        "eq": f"({field} >= {start} and {field} < {end})",
        "ne": f"({field} < {start} or {field} >= {end})",
        "gt": f"{field} >= {end}",
        "ge": f"{field} >= {start}",
        "lt": f"{field} < {start}",
        "le": f"{field} < {end}",
    }[op]


def builder_filter(entity: EntityDef, fields: list[str], ops: list[str], values: list[str]) -> str | None:
    parts = []
    for field, op, value in zip(fields, ops, values + [""] * len(fields), strict=False):
        if not field:
            continue
        if field not in entity.fields and field not in ("created_at", "updated_at", "owner"):
            raise BadRequest(f"Unknown field {field!r}")
        if op not in OPERATORS:
            raise BadRequest(f"Unknown operator {op!r}")
        if op not in ("empty", "set") and value.strip() == "":
            raise BadRequest(f"Give a value for {field}")
        parts.append(condition(entity, field, op, value))
    return " and ".join(parts) or None


def combined(*conditions: str | None) -> str | None:
    present = [c.strip() for c in conditions if c and c.strip()]
    if len(present) <= 1:
        return present[0] if present else None
    return " and ".join(f"({c})" for c in present)


# --- saved views ---------------------------------------------------------------------------
def saved_views(entity: EntityDef) -> list[dict[str, Any]]:
    if SAVED_VIEW not in catalog().entities:
        return []
    page = workspace().records.list(actor(), SAVED_VIEW, {"entity": entity.name, "sort": "name", "limit": "100"})
    return page.data


def load_view(entity: EntityDef, view_id: str) -> dict[str, Any] | None:
    if not view_id or SAVED_VIEW not in catalog().entities:
        return None
    try:
        view = workspace().records.get(actor(), SAVED_VIEW, view_id)
    except (NotFound, BadRequest):
        return None
    return view if view.get("entity") == entity.name else None


# --- the page ------------------------------------------------------------------------------
class ListState:
    """What the request asks to see: the saved view, filters, sort and columns."""

    def __init__(self, entity: EntityDef, args: Any) -> None:
        self.entity = entity
        self.view = load_view(entity, args.get("view", ""))
        view = self.view or {}
        self.raw_filter = args.get("filter", view.get("filter") or "")
        self.sort = args.get("sort", view.get("sort") or "") or ""
        wanted = [c.strip() for c in (args.get("columns") or view.get("columns") or "").split(",") if c.strip()]
        self.columns: list[Column] = list_columns(entity, [c for c in wanted if _NAME.match(c)] or None)
        self.builder = list(zip(args.getlist("bf"), args.getlist("bo"), args.getlist("bv") + [""] * 20, strict=False))
        self.error: str | None = None
        self.filter: str | None = None
        try:
            built = builder_filter(entity, args.getlist("bf"), args.getlist("bo"), args.getlist("bv"))
            self.filter = combined(self.raw_filter, built)
        except BadRequest as exc:
            self.error = exc.detail

    def params(self, **extra: str) -> dict[str, str]:
        out = {"filter": self.filter or "", "sort": self.sort, **extra}
        return {k: v for k, v in out.items() if v}

    def expand(self) -> str:
        return ",".join(c.name for c in self.columns if c.field is not None and c.type in ("link", "user", "team"))


COUNT_LIMIT = 10_000  # beyond, the heading says "10000+": counting millions of rows takes seconds


def list_page(entity: EntityDef, state: ListState, cursor: str | None) -> tuple[list[dict[str, Any]], Any, str | None]:
    params = state.params(limit=str(PAGE_SIZE), count_limit=str(COUNT_LIMIT))
    if cursor:
        params["cursor"] = cursor
    try:
        page = workspace().records.list(actor(), entity.name, params)
    except TesseraError as exc:
        return [], None, exc.detail
    return page.data, page, None


@bp.get("/app/<entity_name>")
@signed_in
def list_view(entity_name: str) -> Any:
    entity = entity_or_404(entity_name)
    state = ListState(entity, request.args)
    rows: list[dict[str, Any]] = []
    page = None
    error = state.error
    if error is None:
        rows, page, error = list_page(entity, state, request.args.get("cursor"))
    refs = reference_titles(workspace(), actor(), catalog(), entity, rows, [c.name for c in state.columns])
    records = workspace().records
    return render_page(
        "list.html",
        status=400 if error else 200,
        entity=entity,
        state=state,
        rows=rows,
        page=page,
        refs=refs,
        error=error,
        operators=OPERATORS,
        views=saved_views(entity),
        can_create=records.can(actor(), entity.name, "create"),
        can_update=records.can(actor(), entity.name, "update"),
        can_delete=records.can(actor(), entity.name, "delete"),
        can_export=records.can(actor(), entity.name, "export"),
        boards=[f for f in entity.fields.values() if f.type == "enum" and f.has_column],
        assignees=choices(workspace(), actor(), catalog(), "user") or [],
    )


@bp.post("/app/<entity_name>/views")
@signed_in
def save_view(entity_name: str) -> Any:
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    form = request.form
    body = {
        "name": form.get("name", ""),
        "entity": entity.name,
        "filter": form.get("filter") or None,
        "sort": form.get("sort") or None,
        "columns": form.get("columns") or None,
        "shared_with": form.get("shared_with") or None,
    }
    records = workspace().records
    try:  # a view that cannot be opened is not saved: its filter and sort are tried first
        records.list(actor(), entity.name, {"filter": body["filter"] or "", "sort": body["sort"] or "", "limit": "1"})
        view = records.create(actor(), SAVED_VIEW, body)
    except TesseraError as exc:
        flash_refusal("The view was not saved", exc)
        shown: dict[str, Any] = {k: body[k] for k in ("filter", "sort", "columns") if body[k]}
        return redirect(url_for("ui.list_view", entity_name=entity.name, **shown))
    flash(f"Saved the view {view['name']!r}.", "success")
    return redirect(url_for("ui.list_view", entity_name=entity.name, view=view["id"]))


def typed(entity: EntityDef, field: str, raw: str) -> Any:
    """A value typed into the bulk "set field" box, read as an import reads a cell (in the
    user's decimal mark and time zone): ``no`` for a bool, ``7``, ``red; blue``, ``1.234,5``."""
    fd = entity.fields.get(field)
    if fd is None:
        return raw or None  # the write names the unknown field
    if not raw.strip():
        if fd.type == "bool":
            raise ValidationError("The value is not valid", [FieldError(field, "Type true or false.")])
        return None  # emptied
    mark = SEPARATORS.get(who().locale.replace("-", "_").split("_")[0].lower(), (",", "."))[1]
    options = ConvertOptions(decimal=mark if mark in ",." else "auto", timezone=str(user_zone()))
    try:
        value = converter(fd, options)(raw)
    except ConversionError as exc:
        raise ValidationError("The value is not valid", [FieldError(field, str(exc))]) from None
    return str(value) if isinstance(value, Decimal) else value


@bp.post("/app/<entity_name>/bulk")
@signed_in
def bulk_action(entity_name: str) -> Any:
    """Assign, set a field or delete the ticked records: all of them or none."""
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    form = request.form
    ids = form.getlist("ids")
    back = safe_target(form.get("back"), url_for("ui.list_view", entity_name=entity.name))
    if not ids:
        flash("Tick the records first.", "warning")
        return redirect(back)
    records, who, action = workspace().records, actor(), form.get("action")
    try:
        if action == "delete":
            count = records.delete_many(who, entity.name, ids)
            flash(f"Moved {count} record(s) to the trash.", "success")
        elif action in ("assign", "set"):
            field = "owner" if action == "assign" else form.get("field", "")
            value = (form.get("owner") or None) if action == "assign" else typed(entity, field, form.get("value", ""))
            records.bulk(who, entity.name, [{"id": i, field: value} for i in ids])
            flash(f"Updated {len(ids)} record(s).", "success")
        else:
            raise BadRequest("Choose assign, set or delete")
    except TesseraError as exc:
        flash_refusal("Nothing was changed", exc)
    return redirect(back)


# --- export of the current view --------------------------------------------------------------
def _cell(value: Any) -> Any:
    """A value as one cell; the writers neutralise formulas (engine.dataio.formulas)."""
    if isinstance(value, dict):
        return value.get("id")
    if isinstance(value, list):
        return ", ".join(str(_cell(v)) for v in value)
    return value


def export_rows(entity: EntityDef, state: ListState) -> Iterator[list[Any]]:
    """The header, then every record of the view, a page at a time (constant memory)."""
    yield [text(c.label) for c in state.columns]
    cursor = None
    while True:
        params = state.params(limit=str(EXPORT_PAGE), fields=",".join(c.name for c in state.columns))
        if cursor:
            params["cursor"] = cursor
        page = workspace().records.list(actor(), entity.name, params, action="export")
        for record in page.data:
            yield [_cell(record.get(c.name)) for c in state.columns]
        cursor = page.next_cursor
        if not cursor:
            return


@bp.get("/app/<entity_name>/export.<fmt>")
@signed_in
def export(entity_name: str, fmt: str) -> Any:
    entity = entity_or_404(entity_name)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    state = ListState(entity, request.args)
    if state.error:
        raise BadRequest(state.error)
    rows = export_rows(entity, state)
    header = next(rows)  # the first page is read now, so a bad filter is a 400, not a broken file
    first = list(_take(rows, EXPORT_PAGE))
    table = itertools.chain([header], first, rows)
    chunks = csv_chunks(table) if fmt == "csv" else xlsx_chunks(entity.name, table)
    stamp = dt.date.today().isoformat()
    return Response(
        stream_with_context(chunks),
        content_type=FORMATS[fmt][0],
        headers={"Content-Disposition": f'attachment; filename="{entity.name}-{stamp}.{fmt}"'},
    )


def _take(rows: Iterator[list[Any]], n: int) -> Iterator[list[Any]]:
    for _ in range(n):
        try:
            yield next(rows)
        except StopIteration:
            return
