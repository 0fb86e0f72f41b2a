"""OpenAPI operations of the dashboards (``engine.api.dashboards``): the list of those the
caller may open, and one dashboard's computed figures."""

from __future__ import annotations

from apispec import APISpec

from engine.api.openapi import data_schema, json_response, path_param, problem_responses, ref
from engine.api.openapi_auth import operation

COMMON = problem_responses(400, 401, 403, 404, 413, 429)
TEXT = {"type": "string"}
OPTIONAL_TEXT = {"type": ["string", "null"]}
NUMBER = {"type": ["number", "integer", "string", "null"], "description": "a number (decimals as strings)"}

INTEGER = {"type": "integer"}
DATE_TEXT = {"type": "string", "format": "date"}
KINDS = ["kpi", "bar", "line", "pie", "funnel", "table", "today", "daily_quote"]
WIDGET_SUMMARY = {
    "type": "object",
    "required": ["name", "type", "entity"],
    "properties": {
        "name": TEXT,
        "type": {"enum": KINDS},
        "entity": {**OPTIONAL_TEXT, "description": "null for today, daily_quote"},
    },
}
#: a rate widget's tile or bar: the percentage (value) of its records (total) that match (matches)
RATE = {
    "rate": {
        "type": "string",
        "description": "rate widgets: the DSL condition whose share of the records is the value",
    },
    "total": {**INTEGER, "description": "rate: the records the percentage is of (those of filter and url)"},
    "matches": {**INTEGER, "description": "rate: how many of them match the rate's condition"},
    "match_filter": {"type": "string", "description": "rate: DSL filter selecting exactly the matching records"},
    "match_url": {"type": "string", "description": "rate: the list view of the matching records"},
}
DASHBOARD_SUMMARY = {
    "type": "object",
    "required": ["name", "label", "roles", "url", "widgets"],
    "properties": {
        "name": TEXT,
        "label": TEXT,
        "description": TEXT,
        "roles": {"type": "array", "items": TEXT, "description": "roles whose home dashboard this is"},
        "default": {"type": "boolean", "description": "the home of users none of whose roles has a dashboard"},
        "url": TEXT,
        "home": {"type": "boolean", "description": "the caller's home dashboard"},
        "widgets": {"type": "array", "items": WIDGET_SUMMARY},
    },
}
POINT = {
    "type": "object",
    "required": ["key", "label", "value", "filter", "url"],
    "properties": {
        "key": {"description": "the group's value (an enum value, an id, a bucket like 2026-03, or null)"},
        "label": TEXT,
        "color": OPTIONAL_TEXT,
        "value": NUMBER,
        "filter": {"type": "string", "description": "DSL filter selecting exactly the records counted"},
        "url": {"type": "string", "description": "the list view of those records (drill-down)"},
        "total": RATE["total"],
        "matches": RATE["matches"],
        "match_filter": RATE["match_filter"],
        "match_url": RATE["match_url"],
    },
}
WIDGET = {
    "type": "object",
    "required": ["name", "label", "type", "entity"],
    "description": "kpi, bar, line, pie, funnel and table widgets count or list the records of an entity and "
    "carry url (the drill-down); today gives the viewer's date and the days left, daily_quote the quote of the day",
    "properties": {
        "name": TEXT,
        "label": TEXT,
        "type": {"enum": KINDS},
        "entity": {**OPTIONAL_TEXT, "description": "null for today and daily_quote"},
        "format": TEXT,
        "metric": TEXT,
        "group_by": TEXT,
        "filter": OPTIONAL_TEXT,
        "url": TEXT,
        "value": NUMBER,
        "series": {"type": "array", "items": ref("DashboardPoint")},
        "columns": {"type": "array", "items": {"type": "object"}},
        "rows": {"type": "array", "items": {"type": "object"}},
        "error": {"type": "string", "description": "why this widget could not be computed for the caller"},
        **RATE,
        # today
        "date": {
            **DATE_TEXT,
            "description": "today: the viewer's date in their time zone; daily_quote: the day it is for",
        },
        "time_zone": {**TEXT, "description": "today: the viewer's time zone (IANA name)"},
        "weekday": {**INTEGER, "description": "today: 1 (Monday) to 7 (Sunday)"},
        "week": {**INTEGER, "description": "today: the ISO week number"},
        "day_of_month": INTEGER,
        "days_in_month": INTEGER,
        "days_left_in_month": {**INTEGER, "description": "today: days after today to the month's last day (0 on it)"},
        "month_end": DATE_TEXT,
        "days_left_in_quarter": INTEGER,
        "quarter_end": DATE_TEXT,
        "days_left_in_year": INTEGER,
        # daily_quote
        "text": {**OPTIONAL_TEXT, "description": "daily_quote: the quote of the day"},
        "author": OPTIONAL_TEXT,
        "index": {"type": ["integer", "null"], "description": "daily_quote: its place in the list (from 0)"},
        "count": {**INTEGER, "description": "quote: how many quotes the list holds"},
    },
}
DASHBOARD = {
    "allOf": [
        ref("DashboardSummary"),
        {
            "type": "object",
            "required": ["filters", "widgets", "as_of"],
            "properties": {
                "filters": {
                    "type": "object",
                    "properties": {"from": OPTIONAL_TEXT, "to": OPTIONAL_TEXT, "owner": OPTIONAL_TEXT},
                },
                "widgets": {"type": "array", "items": ref("DashboardWidget")},
                "as_of": {**TEXT, "format": "date-time", "description": "when the figures were computed"},
                "stale": {
                    "type": "boolean",
                    "description": "present (true) when records these figures count changed since as_of,"
                    " or refresh=true was asked for, and computing them takes long: fresh figures are"
                    " being computed behind; ask again (without refresh) until stale is gone",
                },
            },
        },
    ]
}
DATE = {"type": "string", "format": "date"}


def add_dashboard_paths(spec: APISpec) -> None:
    for name, schema in (
        ("DashboardSummary", DASHBOARD_SUMMARY),
        ("DashboardPoint", POINT),
        ("DashboardWidget", WIDGET),
        ("Dashboard", DASHBOARD),
    ):
        spec.components.schema(name, schema)
    spec.path(
        path="/api/v1/dashboards",
        operations={
            "get": operation(
                "list_dashboards",
                "dashboards",
                "The dashboards the caller may open (every entity of their widgets readable)",
                {"200": json_response(data_schema(ref("DashboardSummary"))), **COMMON},
            )
        },
    )
    query = [
        {"name": "from", "in": "query", "schema": DATE, "description": "first day of the date range"},
        {"name": "to", "in": "query", "schema": DATE, "description": "last day of the date range"},
        {"name": "owner", "in": "query", "schema": TEXT, "description": "a user id, or me"},
        {
            "name": "refresh",
            "in": "query",
            "schema": {"type": "boolean"},
            "description": "compute the figures now instead of returning those kept for up to a minute"
            " (a slow dashboard with kept figures answers them at once, stale, and computes behind)",
        },
    ]
    spec.path(
        path="/api/v1/dashboards/{name}",
        operations={
            "get": operation(
                "get_dashboard",
                "dashboards",
                "A dashboard's figures with the global filters applied, each with its drill-down filter",
                {"200": json_response(ref("Dashboard")), **COMMON},
                parameters=[path_param("name"), *query],
            )
        },
    )
