"""The web interface (Flask blueprint, Jinja2 templates). It grows with the UI issue;
for now it serves a landing page that points to the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, render_template

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


@bp.get("/")
def home() -> Any:
    from engine.api.context import workspace

    catalog = workspace().snapshot().catalog
    return render_template("landing.html", entities=catalog.api_entities(), packs=catalog.packs)


def register_ui(app: Flask) -> None:
    app.register_blueprint(bp)
