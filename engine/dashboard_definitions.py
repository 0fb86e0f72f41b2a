"""Dashboard definitions: the ``dashboard`` documents of packs and overlays (a pack's
``dashboards/`` folder), checked with the automation at start-up, by ``tessera check`` and
when an overlay is saved, and compiled into :class:`Dashboard` values. Computing their
figures is :mod:`engine.dashboards`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.automation.definitions import Definition, collect
from engine.automation.model import Automation, BaseComponent
from engine.automation.values import target_entity
from engine.dsl import compile_expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage.aggregation import BUCKETS, split_group
from engine.storage.listing import SYSTEM_TYPES, UNSORTABLE

CHARTS = ("bar", "line", "pie", "funnel")
#: widgets without an entity: the viewer's day (date, days left in the month) and a quote of the day
PLAIN = ("today", "daily_quote")
#: keys of record widgets (kpi, charts, table) that the plain ones do not take
_RECORD_KEYS: tuple[str, ...] = ("entity", "metric", "rate", "group_by", "filter", "date_field", "period")
_RECORD_KEYS += ("owner_field", "optional", "format", "columns", "sort", "limit")
_METRIC = re.compile(r"^\s*(count|sum|avg|min|max)\s*\((.*)\)\s*$", re.S)
TABLE_ROWS = 10


@dataclass(frozen=True)
class Quote:
    text: Any  # a label: plain text or a map by locale
    author: str | None = None


@dataclass(frozen=True)
class Widget:
    name: str
    label: Any
    type: str  # kpi | bar | line | pie | funnel | table | today | daily_quote
    entity: str | None = None  # None for today and daily_quote
    metric: str = "count()"
    #: kpi and charts: the percentage of the records matching this condition instead of a metric
    rate: str | None = None
    group_by: str | None = None
    filter: str | None = None
    date_field: str | None = None
    date_kind: str | None = None  # date | datetime
    #: the span around the viewer's day the date_field must fall in (today, this_month...)
    period: str | None = None
    owner_field: str | None = None
    format: str = "number"
    columns: tuple[str, ...] = ()
    sort: str | None = None
    limit: int | None = None
    #: left out for viewers who may not read the entity (the dashboard stays open to them)
    optional: bool = False
    quotes: tuple[Quote, ...] = ()


@dataclass(frozen=True)
class Dashboard:
    name: str
    label: Any
    description: str
    roles: tuple[str, ...]
    widgets: tuple[Widget, ...]
    pack: str
    #: the home of users none of whose roles has a dashboard of its own
    default: bool = False

    @property
    def entities(self) -> set[str]:
        """The entities a viewer must be able to read to open the dashboard."""
        return {w.entity for w in self.widgets if w.entity is not None and not w.optional}


# --- definitions --------------------------------------------------------------------------


class DashboardComponent(BaseComponent):
    name = "dashboards"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        compiled: dict[str, Dashboard] = {}
        for definition in collect(catalog, "dashboard", problems):
            dashboard = _compile(definition, catalog, functions, problems)
            if dashboard is not None:
                compiled[dashboard.name] = dashboard
        automation.parts[self.name] = compiled


COMPONENT = DashboardComponent()


def dashboards(snap: Any) -> dict[str, Dashboard]:
    """The enabled dashboards of a snapshot, by name."""
    found: dict[str, Dashboard] = snap.automation.parts.get("dashboards", {})
    return found


def column_kind(entity: EntityDef, name: str) -> str | None:
    if name in SYSTEM_TYPES:
        return SYSTEM_TYPES[name]
    fd = entity.fields.get(name)
    return fd.type if fd is not None and fd.has_column else None


def _compile(
    definition: Definition, catalog: Catalog, functions: FunctionRegistry, problems: Problems
) -> Dashboard | None:
    data = definition.data
    before = len(problems.items)
    widgets: list[Widget] = []
    seen: set[str] = set()
    for index, spec in enumerate(data["widgets"]):

        def where(*sub: Any, index: int = index) -> str:
            return definition.location("widgets", index, *sub)

        if spec["name"] in seen:
            problems.add(where("name"), f"the dashboard already has a widget {spec['name']!r}")
        seen.add(spec["name"])
        widget = _widget(definition, spec, where, catalog, functions, problems)
        if widget is not None:
            widgets.append(widget)
    if len(problems.items) > before:
        return None
    return Dashboard(
        name=definition.name,
        label=data.get("label") or definition.name.replace("_", " ").capitalize(),
        description=data.get("description", ""),
        roles=tuple(data.get("roles", ())),
        widgets=tuple(widgets),
        pack=definition.pack,
        default=bool(data.get("default", False)),
    )


def _widget(
    definition: Definition,
    spec: dict[str, Any],
    where: Any,
    catalog: Catalog,
    functions: FunctionRegistry,
    problems: Problems,
) -> Widget | None:
    if spec["type"] in PLAIN:
        return _plain_widget(spec, where, problems)
    if not spec.get("entity"):
        problems.add(where("type"), f"a {spec['type']} widget needs an entity")
        return None
    if "quotes" in spec:
        problems.add(where("quotes"), "quotes belong to quote widgets")
    entity = target_entity(spec["entity"], definition.pack, catalog, problems, where("entity"))
    if entity is None:
        return None
    before = len(problems.items)
    kind = spec["type"]
    label = f"dashboard {definition.name} widget {spec['name']}"

    def check(source: str, key: str, expect: str | None = None) -> Any:
        try:
            return compile_expression(
                source, entity, catalog, functions=functions, where=f"{label} {key}", sql=True, expect=expect
            )
        except DslError as exc:
            for message in [e.message for e in exc.errors] or [exc.detail]:
                problems.add(where(key), message)
            return None

    if spec.get("filter"):
        check(spec["filter"], "filter", "bool")
    rate = spec.get("rate")
    if rate:
        check(rate, "rate", "bool")
        if "metric" in spec:
            problems.add(where("rate"), "a rate counts records: give rate or metric, not both")
    metric = spec.get("metric", "count()")
    if kind == "table":
        if "metric" in spec or "group_by" in spec or rate:
            problems.add(where("type"), "a table lists records: give columns (and sort), not metric, rate or group_by")
        if not spec.get("columns"):
            problems.add(where("type"), "a table needs columns")
    else:
        match = _METRIC.match(metric)
        if match is None:
            problems.add(where("metric"), f"{metric!r} is not count(), sum(EXPR), avg(EXPR), min(EXPR) or max(EXPR)")
        elif match.group(2).strip():
            expr = check(match.group(2).strip(), "metric")
            if expr is not None and match.group(1) in ("sum", "avg") and not expr.type.numeric:
                problems.add(where("metric"), f"{match.group(1)}() needs a number, {match.group(2)!r} is {expr.type}")
        elif match.group(1) != "count":
            problems.add(where("metric"), f"{match.group(1)}() needs an expression")
        if "columns" in spec or "sort" in spec:
            problems.add(where("type"), "columns and sort belong to table widgets")
    group = spec.get("group_by")
    if kind in CHARTS and not group:
        problems.add(where("type"), f"a {kind} chart needs group_by")
    if kind in ("kpi", "table") and group:
        problems.add(where("group_by"), f"a {kind} widget has no group_by")
    if group:
        name, bucket = split_group(group)
        field_kind = column_kind(entity, name)
        if field_kind is None:
            problems.add(where("group_by"), f"{entity.name} has no field {name!r}")
        elif bucket is not None and field_kind not in ("date", "datetime"):
            problems.add(where("group_by"), f"only date and datetime fields take a bucket ({', '.join(BUCKETS)})")
        elif bucket is None and (field_kind in UNSORTABLE or field_kind in ("file", "table")):
            problems.add(where("group_by"), f"{name} is a {field_kind} field; it cannot be grouped by")
    date_field = spec.get("date_field")
    date_kind = None
    if date_field:
        date_kind = column_kind(entity, date_field)
        if date_kind not in ("date", "datetime"):
            problems.add(where("date_field"), f"{entity.name}.{date_field} is not a date or datetime field")
    if spec.get("period") and not date_field:
        problems.add(where("period"), "a period applies to the widget's date_field: give one")
    owner_field = spec.get("owner_field")
    if owner_field and column_kind(entity, owner_field) != "user":
        problems.add(where("owner_field"), f"{entity.name}.{owner_field} is not a user field")
    for index, column in enumerate(spec.get("columns", ())):
        if column_kind(entity, column) is None and column not in entity.fields:
            problems.add(where("columns", index), f"{entity.name} has no field {column!r}")
    for part in (spec.get("sort") or "").split(","):
        name = part.strip().lstrip("-")
        if name and column_kind(entity, name) is None:
            problems.add(where("sort"), f"{entity.name} has no field {name!r} to sort by")
    if len(problems.items) > before:
        return None
    return Widget(
        name=spec["name"],
        label=spec.get("label") or spec["name"].replace("_", " ").capitalize(),
        type=kind,
        entity=entity.name,
        metric=metric,
        rate=rate,
        group_by=group,
        filter=spec.get("filter"),
        date_field=date_field,
        date_kind=date_kind,
        period=spec.get("period"),
        owner_field=owner_field or "owner",
        format=spec.get("format", "percent" if rate else "number"),
        columns=tuple(spec.get("columns", ())),
        sort=spec.get("sort"),
        limit=spec.get("limit"),
        optional=bool(spec.get("optional", False)),
    )


def _plain_widget(spec: dict[str, Any], where: Any, problems: Problems) -> Widget | None:
    """A ``today`` or ``daily_quote`` widget: no entity, no query; a daily_quote widget needs its quotes."""
    kind = spec["type"]
    before = len(problems.items)
    for key in _RECORD_KEYS:
        if key in spec:
            problems.add(where(key), f"a {kind} widget has no {key}")
    if kind == "daily_quote" and not spec.get("quotes"):
        problems.add(where("type"), "a quote widget needs quotes (text and author)")
    if kind != "daily_quote" and "quotes" in spec:
        problems.add(where("quotes"), "quotes belong to quote widgets")
    if len(problems.items) > before:
        return None
    return Widget(
        name=spec["name"],
        label=spec.get("label") or spec["name"].replace("_", " ").capitalize(),
        type=kind,
        quotes=tuple(Quote(q["text"], q.get("author")) for q in spec.get("quotes", ())),
    )
