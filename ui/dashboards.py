"""Dashboards: ``/app/dashboards/NAME`` with KPI tiles, SVG charts and small tables.

The figures come from ``engine.dashboards.compute`` (the same data as
``GET /api/v1/dashboards/NAME``), computed as the signed-in user through the data-access
layer. The charts are drawn on the server (``ui.charts``); each bar, point, slice and tile
links to the list of the records it counts. The form of the global filters (``from``, ``to``,
``owner``) is a plain GET form, so it works without JavaScript and the URL is bookmarkable.
The ``today`` tile links to the day in the calendar; a rate tile links to the records it is
of and, below, to those matching; the ``daily_quote`` of the day is a blockquote.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for

from engine import dashboards
from engine.api.context import actor, workspace
from engine.errors import BadRequest, TesseraError
from ui.charts import Point, chart, format_value
from ui.pages import bp, catalog, render_page, signed_in
from ui.values import column, reference_titles

#: users offered by the owner filter
OWNER_CHOICES = 200


def _owners(selected: str | None) -> list[tuple[str, str]]:
    """(id, name) choices of the owner filter: the signed-in user, the users they may read,
    and the one chosen (by id, when they may not read it)."""
    who = actor()
    found: dict[str, str] = {who.user_id: "Me"} if who.user_id else {}
    try:
        rows = workspace().records.list(who, "user", {"fields": "id,name", "sort": "name", "limit": str(OWNER_CHOICES)})
    except TesseraError:
        rows = None
    for row in rows.data if rows is not None else []:
        found.setdefault(row["id"], row.get("name") or row["id"])
    if selected and selected not in found:
        found[selected] = selected
    return list(found.items())


def _table(widget: dict[str, Any]) -> dict[str, Any]:
    """The table widget's columns (with their field types) and reference titles."""
    entity = catalog().entities[widget["entity"]]
    names = [c["name"] for c in widget["columns"]]
    records = [{"id": r["id"], **dict(zip(names, r["values"], strict=True))} for r in widget["rows"]]
    return {
        "columns": [column(entity, name) for name in names],
        "records": records,
        "refs": reference_titles(workspace(), actor(), catalog(), entity, records, names),
    }


@bp.get("/app/dashboards/<name>")
@signed_in
def dashboard(name: str) -> Any:
    who = actor()
    error = None
    try:
        filters = dashboards.Filters.parse(request.args, who)
        refresh = dashboards.wants_refresh(request.args)
    except BadRequest as exc:
        error, filters, refresh = exc.detail, dashboards.Filters(), False
    board = dashboards.compute(workspace(), who, name, filters, who.locale, refresh)
    for widget in board["widgets"]:
        if widget.get("error") or widget["type"] in dashboards.PLAIN:
            continue
        if widget["type"] in dashboards.CHARTS:
            points = [Point(p["label"], p["value"], p["url"], p["color"]) for p in widget["series"]]
            widget["svg"] = chart(widget["type"], points, widget["label"], widget["format"])
        elif widget["type"] == "kpi":
            widget["text"] = format_value(widget["value"], widget["format"])
        else:
            widget["table"] = _table(widget)
    others = sorted(dashboards.visible(workspace(), who), key=lambda d: d.name)
    given = {k: v for k, v in board["filters"].items() if v}
    return render_page(
        "dashboard.html",
        board=board,
        error=error,
        owners=_owners(filters.owner),
        others=[dashboards.summary(d, who.locale) for d in others],
        refresh_url=url_for("ui.dashboard", name=name, refresh="true", **given),
        poll_url=url_for("dashboards.dashboard", name=name, **given),
    )
