"""Reports: named, saved tables over one entity, defined in YAML (``engine.report_definitions``).

A report is computed on request (``GET /api/v1/reports/NAME``, ``/app/reports/NAME``) and on
its schedule (``engine.report_schedule``), always **as one user** through ``workspace.records``
(``list`` and ``aggregate``): the permission scopes and hidden fields of that user apply, so
two people opening the same report may see different rows, and a column they may not read is
left out. Who may open a report at all is its ``roles`` (administrators always may) and
whether they may read its entity.

The rows hold display values: references (links, users, teams) are the titles of the records
the user may read, enum options their labels; numbers, dates and text stay as they are. The
same rows make the JSON answer, the page and the CSV/XLSX files (``engine.dataio.writers``,
which neutralise cells a spreadsheet would run as formulas).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.actor import Actor
from engine.dataio.writers import FORMATS, csv_chunks, xlsx_chunks
from engine.dsl.parser import string_literal
from engine.errors import NotFound, TesseraError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.report_definitions import Report, field_kind, link_target, reports
from engine.storage.aggregation import split_group
from engine.storage.codec import to_json
from engine.storage.derivation import label_text
from engine.storage.listing import MAX_LIMIT, SYSTEM_TYPES

#: ids per title query (a DSL text is at most 4000 characters)
_IDS_PER_QUERY = 80
_REFERENCES = ("link", "user", "team", "links")


# --- who may open what -----------------------------------------------------------------------
def may_open(report: Report, actor: Actor) -> bool:
    """The report names one of the actor's roles (or none at all), or the actor is an admin."""
    return actor.is_admin or not report.roles or bool(set(report.roles) & actor.roles)


def visible(ws: Any, actor: Actor) -> list[Report]:
    """The reports ``actor`` may open, by name: their role is listed and they may read the entity."""
    readable = ws.records.catalog_for(actor).entities
    found = [r for r in reports(ws.snapshot()).values() if r.entity in readable and may_open(r, actor)]
    return sorted(found, key=lambda r: r.name)


def find(ws: Any, actor: Actor, name: str) -> Report:
    """The report, or 404 (also when it exists but is not for this actor: nothing is given away)."""
    for report in visible(ws, actor):
        if report.name == name:
            return report
    raise NotFound(f"There is no report {name!r}")


def summary(report: Report, locale: str = "en") -> dict[str, Any]:
    schedule = report.schedule
    return {
        "name": report.name,
        "label": label_text(report.label, locale),
        "description": report.description,
        "entity": report.entity,
        "kind": "summary" if report.summary else "records",
        "roles": list(report.roles),
        "schedule": (
            {"cron": schedule.cron, "timezone": str(schedule.timezone), "format": schedule.format}
            if schedule is not None
            else None
        ),
        "url": f"/app/reports/{report.name}",
    }


# --- computing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    """A column: its name in the report, its title, and the field its values are (``leaf`` of ``entity``)."""

    name: str
    label: str
    type: str
    entity: EntityDef | None
    leaf: str | None


def compute(ws: Any, actor: Actor, name: str, locale: str | None = None) -> dict[str, Any]:
    """Report ``name`` as ``actor`` sees it: ``columns`` and ``rows`` (display values), plain data."""
    report = find(ws, actor, name)
    return run(ws, actor, report, locale or actor.locale)


def run(ws: Any, actor: Actor, report: Report, locale: str = "en") -> dict[str, Any]:
    """The rows of ``report`` as ``actor`` sees them (the caller decided they may open it)."""
    cat = ws.records.catalog_for(actor)
    entity = cat.entities.get(report.entity)
    if entity is None:
        raise NotFound(f"There is no report {report.name!r}")
    if report.summary:
        columns, rows, truncated = _summary_rows(ws, actor, cat, entity, report, locale)
    else:
        columns, rows, truncated = _record_rows(ws, actor, cat, entity, report, locale)
    return {
        **summary(report, locale),
        "columns": [{"name": c.name, "label": c.label, "type": c.type} for c in columns],
        "rows": rows,
        "truncated": truncated,
        "generated_at": to_json(dt.datetime.now(dt.UTC).replace(microsecond=0)),
    }


def _field_label(entity: EntityDef, name: str, locale: str) -> str:
    fd = entity.fields.get(name)
    return label_text(fd.label, locale) if fd is not None else name.replace("_", " ").capitalize()


def _record_columns(cat: Catalog, entity: EntityDef, report: Report, locale: str) -> list[_Column]:
    """The report's columns the actor may read (``cat`` is their catalog): the others are left out."""
    found = []
    for name in report.columns:
        head, _, rest = name.partition(".")
        if head not in entity.fields and head not in SYSTEM_TYPES:
            continue
        if not rest:
            kind = field_kind(entity, head) or entity.fields[head].type
            found.append(_Column(name, _field_label(entity, head, locale), kind, entity, head))
            continue
        target = cat.entities.get(link_target(entity, head) or "")
        if target is None or (rest not in target.fields and rest not in SYSTEM_TYPES):
            continue
        label = f"{_field_label(entity, head, locale)}: {_field_label(target, rest, locale)}"
        found.append(_Column(name, label, field_kind(target, rest) or "string", target, rest))
    return found


def _record_rows(
    ws: Any, actor: Actor, cat: Catalog, entity: EntityDef, report: Report, locale: str
) -> tuple[list[_Column], list[dict[str, Any]], bool]:
    columns = _record_columns(cat, entity, report, locale)
    heads = sorted({c.name.partition(".")[0] for c in columns})
    expand = sorted({c.name.partition(".")[0] for c in columns if "." in c.name})
    params: dict[str, str] = {"fields": ",".join(["id", *heads])}
    if expand:
        params["expand"] = ",".join(expand)
    if report.filter:
        params["filter"] = report.filter
    sort = [p.strip() for p in (report.sort or "").split(",") if p.strip()]
    sort = [p for p in sort if p.lstrip("-") in entity.fields or p.lstrip("-") in SYSTEM_TYPES]  # hidden: unsorted
    if sort:
        params["sort"] = ",".join(sort)
    records: list[dict[str, Any]] = []
    cursor, truncated = None, False
    while len(records) < report.limit:
        page_params = {**params, "limit": str(min(MAX_LIMIT, report.limit - len(records)))}
        if cursor:
            page_params["cursor"] = cursor
        page = ws.records.list(actor, entity.name, page_params)
        records += page.data
        cursor = page.next_cursor
        if not cursor:
            break
    else:
        truncated = cursor is not None
    raw = [[_leaf(record, c) for c in columns] for record in records]
    shown = _display(ws, actor, cat, columns, raw, locale)
    rows = [
        {"id": record["id"], "url": f"/app/{entity.name}/{record['id']}", "values": values}
        for record, values in zip(records, shown, strict=True)
    ]
    return columns, rows, truncated


def _leaf(record: dict[str, Any], column: _Column) -> Any:
    head, _, rest = column.name.partition(".")
    value = record.get(head)
    if not rest:
        return value
    return value.get(rest) if isinstance(value, dict) else None  # a linked record they may not read: no value


def _summary_rows(
    ws: Any, actor: Actor, cat: Catalog, entity: EntityDef, report: Report, locale: str
) -> tuple[list[_Column], list[dict[str, Any]], bool]:
    body: dict[str, Any] = {"group_by": list(report.group_by), "metrics": dict(report.aggregates)}
    if report.filter:
        body["filter"] = report.filter
    data = ws.records.aggregate(actor, entity.name, body).data
    for part in reversed([p.strip() for p in (report.sort or "").split(",") if p.strip()]):
        key = part.lstrip("-")
        data.sort(
            key=lambda r, k=key: (r.get(k) is None, 0 if r.get(k) is None else r.get(k)), reverse=part.startswith("-")
        )
        if part.startswith("-"):  # nulls last in both directions
            data.sort(key=lambda r, k=key: r.get(k) is None)
    truncated = len(data) > report.limit
    data = data[: report.limit]
    columns = []
    for group in report.group_by:
        name, bucket = split_group(group)
        label = _field_label(entity, name, locale) + (f" ({bucket})" if bucket else "")
        kind = "string" if bucket else (field_kind(entity, name) or "string")
        columns.append(_Column(group, label, kind, None if bucket else entity, None if bucket else name))
    for name, metric in report.aggregates:
        title = report.aggregate_labels.get(name)
        label = label_text(title, locale) if title else name.replace("_", " ").capitalize()
        columns.append(_Column(name, label, _metric_type(entity, metric), None, None))
    raw = [[row.get(c.name) for c in columns] for row in data]
    return columns, [{"values": values} for values in _display(ws, actor, cat, columns, raw, locale)], truncated


def _metric_type(entity: EntityDef, metric: str) -> str:
    """``int`` for a count, the field's type for sum/min/max/avg of one field (money stays money)."""
    function, _, rest = metric.strip().partition("(")
    argument = rest.rstrip().removesuffix(")").strip()
    if function.strip() == "count":
        return "int"
    kind = field_kind(entity, argument) if argument else None
    if kind in ("money", "decimal", "percent", "int") and not (function.strip() == "avg" and kind == "int"):
        return kind
    return "number"


# --- display values --------------------------------------------------------------------------
def _display(
    ws: Any, actor: Actor, cat: Catalog, columns: list[_Column], raw: list[list[Any]], locale: str
) -> list[list[Any]]:
    """Raw values turned into what a person reads: titles for references, labels for options."""
    wanted: dict[str, set[str]] = {}
    targets: dict[int, str] = {}
    for index, column in enumerate(columns):
        if column.entity is None or column.leaf is None or column.type not in _REFERENCES:
            continue
        target = link_target(column.entity, column.leaf) or _links_target(column)
        if target is None:
            continue
        targets[index] = target
        for row in raw:
            value = row[index]
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    wanted.setdefault(target, set()).add(item)
                elif isinstance(item, dict) and isinstance(item.get("id"), str):
                    wanted.setdefault(target, set()).add(item["id"])
    found = {target: _titles(ws, actor, cat, target, ids) for target, ids in wanted.items()}
    out = []
    for row in raw:
        shown = []
        for index, value in enumerate(row):
            column = columns[index]
            if index in targets:
                shown.append(_reference(value, found.get(targets[index], {})))
            elif column.type in ("enum", "multi_enum") and column.entity is not None and column.leaf:
                shown.append(_option(column.entity, column.leaf, value, locale))
            else:
                shown.append(value)
        out.append(shown)
    return out


def _links_target(column: _Column) -> str | None:
    fd = column.entity.fields.get(column.leaf or "") if column.entity is not None else None
    return fd.target if fd is not None and fd.type == "links" else None


def _reference(value: Any, titles: dict[str, str]) -> Any:
    if isinstance(value, list):
        return ", ".join(str(_reference(v, titles)) for v in value) or None
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str):
        return titles.get(value, value)  # a record they may not read keeps its id
    return value


def _option(entity: EntityDef, name: str, value: Any, locale: str) -> Any:
    fd = entity.fields.get(name)
    labels: dict[Any, str] = {}
    for option in (fd.options.get("options") or []) if fd is not None else []:
        if isinstance(option, dict):
            labels[option["value"]] = label_text(option.get("label") or option["value"], locale)
    if isinstance(value, list):
        return ", ".join(labels.get(v, str(v)) for v in value) or None
    return labels.get(value, value) if value is not None else None


def _titles(ws: Any, actor: Actor, cat: Catalog, target: str, ids: set[str]) -> dict[str, str]:
    """Titles of the records of ``target`` the actor may read, by id (one query per 80 ids)."""
    entity = cat.entities.get(target)
    if entity is None:
        return {}
    title, found = entity.title_field, dict[str, str]()
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IDS_PER_QUERY):
        chunk = ordered[start : start + _IDS_PER_QUERY]
        condition = "id in (" + ", ".join(string_literal(i) for i in chunk) + ",)"
        try:
            page = ws.records.list(
                actor, target, {"filter": condition, "limit": str(MAX_LIMIT), "fields": f"id,{title}"}
            )
        except TesseraError:
            return found
        found.update({r["id"]: str(r.get(title) or r["id"]) for r in page.data})
    return found


# --- files -----------------------------------------------------------------------------------
def file_name(result: dict[str, Any], fmt: str, day: dt.date | None = None) -> str:
    return f"{result['name']}-{(day or dt.date.today()).isoformat()}.{FORMATS[fmt][1]}"


def media_type(fmt: str) -> str:
    return FORMATS[fmt][0]


def table(result: dict[str, Any]) -> Iterator[list[Any]]:
    """The header and the rows of a computed report, as a spreadsheet's rows."""
    yield [c["label"] for c in result["columns"]]
    for row in result["rows"]:
        yield list(row["values"])


def file_bytes(result: dict[str, Any], fmt: str) -> bytes:
    """The report as a CSV (UTF-8 with BOM) or XLSX file; formula-like text is neutralised."""
    if fmt == "csv":
        return b"".join(csv_chunks(table(result)))
    if fmt == "xlsx":
        return b"".join(xlsx_chunks(str(result["label"]) or result["name"], table(result)))
    raise ValueError(f"unknown format {fmt!r}")


def json_rows(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with every value JSON-ready (decimals as numbers, dates as ISO text)."""
    rows = [{**row, "values": [to_json(v) for v in row["values"]]} for row in result["rows"]]
    return {**result, "rows": rows}
