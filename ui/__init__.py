"""The web interface: server-rendered Jinja2 pages generated from the metadata.

``ui.pages`` holds the blueprint and what every page shares; each page family has its own
module (shell, lists, records, ...), imported here so its routes register on the blueprint.
Bootstrap 5 comes from the Bootstrap-Flask package (served locally, never from a CDN);
our own CSS and JavaScript are in ``ui/static``.
"""

from __future__ import annotations

from flask import Flask
from flask_bootstrap import Bootstrap5

from ui import (  # noqa: F401 - routes register on import
    admin,
    boards,
    calendar,
    dashboards,
    layout_editor,
    lists,
    live,
    onboarding,
    portal,
    portal_kb,
    public,
    records,
    reports,
    shell,
)
from ui.pages import bp


def register_ui(app: Flask) -> None:
    app.config["BOOTSTRAP_SERVE_LOCAL"] = True  # nothing loads from the internet
    Bootstrap5(app)
    app.register_blueprint(bp)
