"""Dashboards: KPI tiles, charts and small tables over the records, defined in YAML.

A pack's ``dashboards/`` folder holds one document per dashboard (kind ``dashboard``, also
stored as an overlay). Each widget is a query: an ``entity``, a ``metric`` (``count()``,
``sum(amount)``...), an optional ``group_by`` field (a date field may take a bucket such as
``closed_at:month``) and a DSL ``filter``. The definitions are checked with the automation
(``tessera check``, start-up, overlays); the figures are computed on request through
``workspace.records`` (``aggregate`` and ``list``), so permissions apply and the work runs in
SQL.

The dashboard's global filters, a date range on each widget's ``date_field`` and an owner on
its ``owner_field``, are added to every widget. Every tile, bar, point and slice carries the
DSL filter that selects exactly the records it counts (the widget's filter, its group and the
global filters) and the list URL ``/app/ENTITY?filter=...`` of those records. A ``rate``
widget shows the percentage of its records matching a condition: each tile and bar carries
the records it is over (``filter``/``url``) and those matching (``match_filter``/``match_url``).

``today`` and ``daily_quote`` widgets have no entity (``engine.dashboard_daily``); they follow the
viewer's date in their time zone, from the records' clock. A widget marked ``optional`` is left
out for viewers who may not read its entity, so one dashboard (``home``) serves every role.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import urlencode

from engine.actor import Actor
from engine.dashboard_cache import cache_for, shared_answers
from engine.dashboard_daily import local_day, period_condition, quote_of_the_day, today_figures, zone_of
from engine.dashboard_definitions import (  # noqa: F401 - CHARTS, PLAIN, TABLE_ROWS for the pages
    CHARTS,
    PLAIN,
    TABLE_ROWS,
    Dashboard,
    Widget,
    column_kind,
    dashboards,
)
from engine.dashboard_rows import ID, dsl_text, table, titles
from engine.errors import BadRequest, NotFound, TesseraError
from engine.meta.model import EntityDef
from engine.security.users import own_profile
from engine.storage.aggregation import split_group
from engine.storage.derivation import label_text

# --- figures -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The dashboard's global filters: a date range (inclusive days) and an owner (a user id)."""

    start: dt.date | None = None
    end: dt.date | None = None
    owner: str | None = None

    @classmethod
    def parse(cls, params: Any, actor: Actor) -> Filters:
        """``from``, ``to`` (ISO dates) and ``owner`` (a user id, or ``me``) of a request."""
        unknown = set(params) - {"from", "to", "owner", "refresh"}  # refresh: see compute
        if unknown:
            raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}; use from, to, owner and refresh")

        def day(key: str) -> dt.date | None:
            raw = params.get(key) or None
            if raw is None:
                return None
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                raise BadRequest(f"{key} must be a date like 2026-03-31, not {raw!r}") from None

        start, end = day("from"), day("to")
        if start and end and start > end:
            raise BadRequest("from must not be after to")
        owner = params.get("owner") or None
        if owner == "me":
            owner = actor.user_id
        if owner is not None and not ID.match(owner):
            raise BadRequest(f"owner must be a user id or 'me', not {owner!r}")
        return cls(start, end, owner)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "owner": self.owner,
        }


def wants_refresh(params: Any) -> bool:
    """``refresh=true``: compute the figures now instead of showing the kept ones."""
    raw = (params.get("refresh") or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest("refresh must be true or false")
    return raw in ("true", "1")


def _literal(value: Any, kind: str | None) -> str:
    """``value`` (as the API returns it) written as a DSL literal of a ``kind`` field."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return str(value)
    if kind == "date":
        return dt.date.fromisoformat(str(value)).isoformat()
    if kind == "datetime":
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return dsl_text(str(value))


def _moment(day: dt.date, kind: str | None) -> str:
    return f"{day.isoformat()}T00:00Z" if kind == "datetime" else day.isoformat()


def _bucket_range(key: str, bucket: str) -> tuple[dt.date, dt.date]:
    """The first day of a bucket (``2026-03``, ``2026-Q1``...) and of the next one."""
    if bucket == "day":
        start = dt.date.fromisoformat(key)
        return start, start + dt.timedelta(days=1)
    if bucket == "year":
        year = int(key)
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    if bucket == "quarter":
        year, quarter = int(key[:4]), int(key[-1])
        month = 3 * (quarter - 1) + 1
    else:
        year, month = int(key[:4]), int(key[5:7])
    span = 3 if bucket == "quarter" else 1
    start = dt.date(year, month, 1)
    after = month + span
    return start, dt.date(year + (after - 1) // 12, (after - 1) % 12 + 1, 1)


def group_condition(entity: EntityDef, group: str, key: Any) -> str:
    """The DSL condition selecting the records of one group (``stage == "proposal"``)."""
    name, bucket = split_group(group)
    kind = column_kind(entity, name)
    if key is None:
        return f"{name} == null"
    if bucket is not None:
        start, after = _bucket_range(str(key), bucket)
        return f"{name} >= {_moment(start, kind)} and {name} < {_moment(after, kind)}"
    return f"{name} == {_literal(key, kind)}"


def global_conditions(widget: Widget, filters: Filters) -> list[str]:
    parts: list[str] = []
    if widget.date_field and filters.start:
        parts.append(f"{widget.date_field} >= {_moment(filters.start, widget.date_kind)}")
    if widget.date_field and filters.end:
        if widget.date_kind == "datetime":
            parts.append(f"{widget.date_field} < {_moment(filters.end + dt.timedelta(days=1), 'datetime')}")
        else:
            parts.append(f"{widget.date_field} <= {filters.end.isoformat()}")
    if filters.owner and widget.owner_field:
        parts.append(f"{widget.owner_field} == {dsl_text(filters.owner)}")
    return parts


def combine(*conditions: str | None) -> str | None:
    """``(a) and (b)``; None when there is no condition at all."""
    present = [c for c in conditions if c]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return " and ".join(f"({c})" for c in present)


def list_url(entity: str, condition: str | None) -> str:
    """The list view of the records a figure counts."""
    return f"/app/{entity}" + (f"?{urlencode({'filter': condition})}" if condition else "")


def _options(entity: EntityDef, name: str, locale: str) -> list[tuple[Any, str, str | None]]:
    """(value, label, colour) of an enum field's options, in their declared order."""
    fd = entity.fields.get(name)
    if fd is None or fd.type != "enum":
        return []
    found = []
    for option in fd.options.get("options") or []:
        if isinstance(option, dict):
            found.append(
                (option["value"], label_text(option.get("label") or option["value"], locale), option.get("color"))
            )
        else:
            found.append((option, str(option), None))
    return found


def visible(ws: Any, actor: Actor) -> list[Dashboard]:
    """The dashboards ``actor`` may open: those whose every entity they may read (``optional``
    widgets aside), without the optional widgets over entities they may not read."""
    readable = set(ws.records.catalog_for(actor).entities)
    return [
        replace(d, widgets=tuple(w for w in d.widgets if not w.optional or w.entity in readable))
        for d in dashboards(ws.snapshot()).values()
        if d.entities <= readable
    ]


def find(ws: Any, actor: Actor, name: str) -> Dashboard:
    for dashboard in visible(ws, actor):
        if dashboard.name == name:
            return dashboard
    raise NotFound(f"There is no dashboard {name!r}")


def home(ws: Any, actor: Actor) -> Dashboard | None:
    """The actor's home dashboard: the first one naming one of their roles (by name), else the
    first marked ``default`` (the home of roles without a dashboard of their own), else None."""
    roles = set(actor.roles)
    found = sorted(visible(ws, actor), key=lambda d: d.name)
    for dashboard in found:
        if roles & set(dashboard.roles):
            return dashboard
    return next((d for d in found if d.default), None)


def summary(dashboard: Dashboard, locale: str = "en") -> dict[str, Any]:
    return {
        "name": dashboard.name,
        "label": label_text(dashboard.label, locale),
        "description": dashboard.description,
        "roles": list(dashboard.roles),
        "default": dashboard.default,
        "url": f"/app/dashboards/{dashboard.name}",
        "widgets": [{"name": w.name, "type": w.type, "entity": w.entity} for w in dashboard.widgets],
    }


def compute(
    ws: Any, actor: Actor, name: str, filters: Filters | None = None, locale: str = "en", refresh: bool = False
) -> dict[str, Any]:
    """The figures of dashboard ``name`` as ``actor`` sees them: plain data for the API and the
    UI, kept a short while per viewer (``engine.dashboard_cache``; ``refresh`` computes them again)."""
    dashboard = find(ws, actor, name)
    filters = filters or Filters()
    snap = ws.snapshot()
    zone = viewer_zone(ws, actor)
    day = local_day(ws.records.clock(), zone)
    viewer = (actor.user_id, actor.roles, actor.team_members, actor.impersonator)
    key = (name, viewer, filters, locale, day, str(zone), snap.version)
    entities = frozenset(w.entity for w in dashboard.widgets if w.entity)
    figures = cache_for(ws).figures(
        key, entities, lambda: _compute(ws, snap, actor, dashboard, filters, locale, (day, zone), refresh), refresh
    )
    return copy.deepcopy(figures)  # the pages decorate their copy


def _compute(
    ws: Any,
    snap: Any,
    actor: Actor,
    dashboard: Dashboard,
    filters: Filters,
    locale: str,
    today: tuple[dt.date, Any],
    refresh: bool = False,
) -> dict[str, Any]:
    day, zone = today
    record_widgets = [w for w in dashboard.widgets if w.entity and w.type not in ("today", "daily_quote")]
    kept: list[dict[str, Any]] = []  # the shared answers used, with their as_of and stale
    figures = _figures(ws, snap, actor, record_widgets, filters, locale, today, refresh, kept)
    widgets = []
    for widget in dashboard.widgets:
        if widget.type == "today":
            widgets.append({**_head(widget, locale), **today_figures(day, zone)})
        elif widget.type == "daily_quote":
            widgets.append({**_head(widget, locale), **quote_of_the_day(widget.quotes, day, locale)})
        else:
            widgets.append(figures[widget.name])
    out = {**summary(dashboard, locale), "filters": filters.as_dict(), "widgets": widgets}
    if kept:
        out["as_of"] = min(k["as_of"] for k in kept)
    if any(k.get("stale") for k in kept):
        out["stale"] = True
    return out


def _figures(
    ws: Any,
    snap: Any,
    actor: Actor,
    widgets: list[Widget],
    filters: Filters,
    locale: str,
    today: tuple[dt.date, Any],
    refresh: bool,
    kept: list[dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """The figures of the record widgets by name. The aggregates of the widgets over one
    entity are asked for together (``Records.aggregate_many``: one scan of the table), and
    their answers are shared with every viewer who would send the same SQL
    (``engine.dashboard_cache.shared_for``); each answer used is added to ``kept``."""
    heads: dict[str, dict[str, Any]] = {}
    bodies: dict[str, dict[str, Any]] = {}
    for widget in widgets:
        assert widget.entity is not None
        heads[widget.name], body = _request(snap, widget, filters, locale, today)
        if body is not None:
            bodies[widget.name] = body
    answers: dict[str, Any] = {}
    for entity_name in dict.fromkeys(w.entity for w in widgets if w.name in bodies):
        named = [w.name for w in widgets if w.entity == entity_name and w.name in bodies]
        try:
            shared = shared_answers(ws, actor, entity_name or "", [bodies[n] for n in named], refresh)
            kept.append(shared)
            found = shared["answers"]
        except TesseraError as exc:  # e.g. an entity this viewer may not list
            found = [exc] * len(named)
        answers.update(zip(named, found, strict=True))
    out = {}
    for widget in widgets:
        head, entity = heads[widget.name], widget.entity or ""
        try:
            answer = answers.get(widget.name)
            if isinstance(answer, TesseraError):
                raise answer
            rows = answer.data if answer else None
            out[widget.name] = _finish(ws, snap, actor, widget, head, rows, locale, (refresh, kept))
        except TesseraError as exc:  # e.g. a field hidden from this viewer: the other widgets still show
            out[widget.name] = {
                **_head(widget, locale),
                "filter": None,
                "url": list_url(entity, None),
                "error": exc.detail,
            }
    return out


def viewer_zone(ws: Any, actor: Actor) -> Any:
    """The time zone of the viewer's profile (UTC for the engine itself or when unset)."""
    if actor.user_id is None:
        return zone_of(None)
    try:
        return zone_of(own_profile(ws, actor).get("timezone"))
    except TesseraError:
        return zone_of(None)


def _head(widget: Widget, locale: str) -> dict[str, Any]:
    return {
        "name": widget.name,
        "label": label_text(widget.label, locale),
        "type": widget.type,
        "entity": widget.entity,
        "format": widget.format,
    }


def _request(
    snap: Any, widget: Widget, filters: Filters, locale: str, today: tuple[dt.date, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A record widget's head (with the filter of its records) and the aggregate it needs (None
    for a table); ``today`` is the viewer's date and time zone (for ``period``)."""
    assert widget.entity is not None  # record widgets (today and daily_quote are computed apart)
    span = None
    if widget.period and widget.date_field:
        span = period_condition(widget.date_field, widget.date_kind, widget.period, *today)
    condition = combine(widget.filter, span, *global_conditions(widget, filters))
    out: dict[str, Any] = {**_head(widget, locale), "filter": condition, "url": list_url(widget.entity, condition)}
    if widget.type == "table":
        return out, None
    out["metric"] = widget.metric
    body: dict[str, Any] = {"metrics": {"value": widget.metric}}
    if widget.rate:
        out["rate"] = widget.rate
        body["metrics"] = {"total": "count()", "matches": f"sum(if({widget.rate}, 1, 0))"}
    if condition:
        body["filter"] = condition
    if widget.group_by is not None:
        out["group_by"] = widget.group_by
        body["group_by"] = [widget.group_by]
    return out, body


def _finish(
    ws: Any,
    snap: Any,
    actor: Actor,
    widget: Widget,
    out: dict[str, Any],
    rows: list[Any] | None,
    locale: str,
    shared: tuple[bool, list[Any]],
) -> dict[str, Any]:
    """A record widget's figures from its aggregate's ``rows`` (a table reads its own;
    ``shared`` is (refresh, the shared answers used), see :func:`_figures`)."""
    assert widget.entity is not None
    entity = snap.catalog.entities[widget.entity]
    condition = out["filter"]
    if rows is None:
        return {**out, **table(ws, actor, entity, widget, condition, shared)}
    if widget.type == "kpi":
        if widget.rate:
            out.update(_rate(widget, condition, rows[0] if rows else {}))
        else:
            out["value"] = rows[0]["value"] if rows else None
        return out
    assert widget.group_by is not None
    rows = list(rows)
    name, bucket = split_group(widget.group_by)
    options = _options(entity, name, locale) if bucket is None else []
    order = {value: i for i, (value, _, _) in enumerate(options)}
    labels = {value: (text, colour) for value, text, colour in options}
    rows.sort(key=lambda r: (r[widget.group_by] is None, order.get(r[widget.group_by], len(order))))
    names = titles(ws, actor, entity, name, [r[widget.group_by] for r in rows]) if bucket is None else {}
    series = []
    for row in rows:
        key = row[widget.group_by]
        text, colour = labels.get(key, (names.get(key) or ("—" if key is None else str(key)), None))
        drill = combine(condition, group_condition(entity, widget.group_by, key))
        point = {
            "key": key,
            "label": text,
            "color": colour,
            "value": row.get("value"),
            "filter": drill,
            "url": list_url(widget.entity, drill),
        }
        if widget.rate:
            point.update(_rate(widget, drill, row))
        series.append(point)
    if widget.limit:
        series = series[: widget.limit]
    out["series"] = series
    return out


def percentage(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in percent, to one decimal (half up); None of nothing. Worked out
    here from the two counts SQL gives, so SQLite and PostgreSQL show the same digits."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _rate(widget: Widget, condition: str | None, row: dict[str, Any]) -> dict[str, Any]:
    """A rate figure: how many records, how many of them match, the percentage, and the list
    of those matching (the tile or bar itself links to all its records)."""
    assert widget.entity is not None and widget.rate is not None
    total, matches = int(row.get("total") or 0), int(row.get("matches") or 0)
    matching = combine(condition, widget.rate)
    return {
        "value": percentage(matches, total),
        "total": total,
        "matches": matches,
        "match_filter": matching,
        "match_url": list_url(widget.entity, matching),
    }
