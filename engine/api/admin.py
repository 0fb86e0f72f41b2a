"""Administration endpoints (``/api/v1/admin``): the audit trail search for now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from engine.api.context import actor, workspace
from engine.security.audit_search import search_audit

bp = Blueprint("admin", __name__, url_prefix="/api/v1/admin")


@bp.get("/audit")
def audit() -> Any:
    return jsonify(search_audit(workspace(), actor(), request.args.to_dict()))
