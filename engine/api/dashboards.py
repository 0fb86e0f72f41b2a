"""``GET /api/v1/dashboards`` and ``/dashboards/NAME``: the dashboards a user may open and
their computed figures (``engine.dashboards``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from engine import dashboards
from engine.api.context import actor, workspace
from engine.errors import BadRequest

bp = Blueprint("dashboards", __name__, url_prefix="/api/v1/dashboards")


@bp.get("")
def list_dashboards() -> Any:
    if request.args:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(request.args))}")
    who = actor()
    home = dashboards.home(workspace(), who)
    found = [
        {**dashboards.summary(d, who.locale), "home": home is not None and d.name == home.name}
        for d in sorted(dashboards.visible(workspace(), who), key=lambda d: d.name)
    ]
    return jsonify({"data": found})


@bp.get("/<name>")
def dashboard(name: str) -> Any:
    who = actor()
    filters = dashboards.Filters.parse(request.args, who)
    refresh = dashboards.wants_refresh(request.args)
    return jsonify(dashboards.compute(workspace(), who, name, filters, who.locale, refresh))
