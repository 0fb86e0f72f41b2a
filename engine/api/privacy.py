"""GDPR endpoints: ``/api/v1/privacy/COLLECTION/ID/export`` and ``.../erase`` (admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from engine.api.context import actor, workspace
from engine.security.privacy import erase_subject, export_subject

bp = Blueprint("privacy", __name__, url_prefix="/api/v1/privacy")


@bp.get("/<collection>/<record_id>/export")
def export(collection: str, record_id: str) -> Any:
    return jsonify(export_subject(workspace(), actor(), collection, record_id))


@bp.post("/<collection>/<record_id>/erase")
def erase(collection: str, record_id: str) -> Any:
    return jsonify(erase_subject(workspace(), actor(), collection, record_id))
