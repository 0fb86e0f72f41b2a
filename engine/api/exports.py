"""Placeholder blueprint, built by the data in/out work."""

from __future__ import annotations

from apispec import APISpec
from flask import Blueprint

from engine.meta.catalog import Catalog

bp = Blueprint("exports", __name__, url_prefix="/api/v1")


def add_export_paths(spec: APISpec, catalog: Catalog) -> None:
    """Adds this blueprint's operations to the OpenAPI document."""
