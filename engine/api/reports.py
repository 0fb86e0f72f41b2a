"""Placeholder blueprint, built by the reports work."""

from __future__ import annotations

from apispec import APISpec
from flask import Blueprint

from engine.meta.catalog import Catalog

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


def add_report_paths(spec: APISpec, catalog: Catalog) -> None:
    """Adds this blueprint's operations to the OpenAPI document."""
