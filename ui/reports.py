"""Reports: ``/app/reports`` (the reports the signed-in user may open) and
``/app/reports/NAME`` (a report's table, with CSV and XLSX downloads).

The rows come from ``engine.reports.compute``, the same data as ``GET /api/v1/reports/NAME``,
computed as the signed-in user through the data-access layer, so the page, the API and the
downloaded files show the same rows; the files are the API's own
(``engine.api.reports.download``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import abort

from engine import reports
from engine.api.context import actor, workspace
from engine.api.reports import download
from ui.charts import format_value
from ui.pages import bp, render_page, signed_in

_NUMBERS = {"int", "decimal", "money", "percent", "duration", "rating", "number"}


def cell(kind: str, value: Any) -> str:
    """A value as the table shows it: numbers with thousands separators, dates as ISO days."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float | Decimal) and kind in _NUMBERS:
        return format_value(value, "money" if kind == "money" else "number")
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


@bp.get("/app/reports")
@signed_in
def report_list() -> Any:
    who = actor()
    found = [reports.summary(r, who.locale) for r in reports.visible(workspace(), who)]
    return render_page("reports/list.html", reports=found)


@bp.get("/app/reports/<name>")
@signed_in
def report_view(name: str) -> Any:
    who = actor()
    result = reports.compute(workspace(), who, name, who.locale)
    kinds = [c["type"] for c in result["columns"]]
    rows = [
        {**row, "cells": [cell(kind, value) for kind, value in zip(kinds, row["values"], strict=True)]}
        for row in result["rows"]
    ]
    numeric = [kind in _NUMBERS for kind in kinds]
    return render_page("reports/report.html", report=result, rows=rows, numeric=numeric)


@bp.get("/app/reports/<name>/download.<fmt>")
@signed_in
def report_download(name: str, fmt: str) -> Any:
    if fmt not in ("csv", "xlsx"):
        abort(404)
    who = actor()
    return download(reports.compute(workspace(), who, name, who.locale), fmt)
