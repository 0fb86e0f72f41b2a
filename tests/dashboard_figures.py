"""Checks shared by the dashboard tests: a computed dashboard against the REST API.

``check_figures(api, board)``: every figure of ``GET /api/v1/dashboards/NAME`` equals the same
aggregate asked of ``POST /api/v1/ENTITY/aggregate``, and every drill-down filter lists (through
``GET /api/v1/ENTITY?filter=``) exactly the records counted: their number for ``count()``, the
sum of their field for ``sum(FIELD)``; the groups of a chart together are the widget's records.
A ``rate`` tile or bar lists ``total`` records, ``matches`` of them through its ``match_filter``,
and its value is their percentage. ``today`` and ``daily_quote`` widgets count no records.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

SUM = re.compile(r"^sum\(([a-z_][a-z0-9_]*)\)$")


def ok(reply: Any, status: int = 200) -> Any:
    body = reply.get_json(silent=True)
    assert reply.status_code == status, (reply.status_code, body)
    return body


def number(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def drill(api: Any, entity: str, condition: str | None) -> list[dict[str, Any]]:
    query = {"limit": "500", **({"filter": condition} if condition else {})}
    rows: list[dict[str, Any]] = ok(api.get(f"/api/v1/{entity}", query_string=query))["data"]
    return rows


def check_figures(api: Any, board: dict[str, Any]) -> int:
    """Assert the figures of ``board`` as ``api``'s user sees them; returns the figures checked."""
    checked = 0
    for widget in board["widgets"]:
        entity = widget["entity"]
        name = (board["name"], widget["name"])
        if widget.get("error") or entity is None:  # a hidden field; today and quote widgets
            continue
        if widget.get("rate"):
            checked += check_rate(api, widget)
            continue
        assert widget["url"] == "/app/" + entity + ("?" if widget["filter"] else "") + widget["url"].partition("?")[2]
        if widget["type"] == "table":
            records = drill(api, entity, widget["filter"])
            assert {r["id"] for r in widget["rows"]} <= {r["id"] for r in records}, name
            assert bool(widget["rows"]) == bool(records), name
            checked += 1
            continue
        body: dict[str, Any] = {"metrics": {"value": widget["metric"]}}
        if widget["filter"]:
            body["filter"] = widget["filter"]
        if widget["type"] == "kpi":
            expected = ok(api.post(f"/api/v1/{entity}/aggregate", json=body))["data"][0]["value"]
            assert widget["value"] == expected, name
            points = [(widget["filter"], widget["value"])]
        else:
            body["group_by"] = [widget["group_by"]]
            rows = ok(api.post(f"/api/v1/{entity}/aggregate", json=body))["data"]
            assert {p["key"]: p["value"] for p in widget["series"]} == {
                r[widget["group_by"]]: r["value"] for r in rows
            }, name
            points = [(p["filter"], p["value"]) for p in widget["series"]]
            total = sum(len(drill(api, entity, p["filter"])) for p in widget["series"])
            assert total == len(drill(api, entity, widget["filter"])), name
        summed = SUM.match(widget["metric"])
        for condition, value in points:
            records = drill(api, entity, condition)
            if widget["metric"] == "count()":
                assert len(records) == value, (name, condition)
            elif summed:
                field = summed.group(1)
                assert sum(number(r[field]) for r in records) == number(value), (name, condition)
            checked += 1
    return checked


def percentage(part: int, whole: int) -> Decimal | None:
    return (Decimal(part * 100) / whole).quantize(Decimal("0.1"), "ROUND_HALF_UP") if whole else None


def check_rate(api: Any, widget: dict[str, Any]) -> int:
    """A rate widget's tile or bars: each lists ``total`` records, ``matches`` of them match
    (and only those), and the value is their percentage; the bars together are the widget's records."""
    entity = widget["entity"]
    points = [widget] if widget["type"] == "kpi" else widget["series"]
    for point in points:
        records = drill(api, entity, point["filter"])
        matching = drill(api, entity, point["match_filter"])
        assert len(records) == point["total"] and len(matching) == point["matches"], (widget["name"], point)
        assert {r["id"] for r in matching} <= {r["id"] for r in records}
        expected = percentage(point["matches"], point["total"])
        assert (number(point["value"]) if point["value"] is not None else None) == expected, (widget["name"], point)
    if widget["type"] != "kpi":
        total = sum(p["total"] for p in widget["series"])
        assert total == len(drill(api, entity, widget["filter"])), widget["name"]
    return len(points)
