"""``/healthz``: can this process serve and reach its database?"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from engine.api.context import workspace
from engine.api.problems import problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    try:
        with workspace().db.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return problem(503, "Service unavailable", "The database cannot be reached")
    return jsonify({"status": "ok"})
