"""The REST API (``/api/v1``): thin HTTP views over the data-access layer.

One blueprint per area; entity routes are generic (``/api/v1/<entity>``) and dispatch on the
live metadata, so entities added at run time need no new routes.
"""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from engine.api import admin, auth, health, meta, notifications, oidc, openapi, privacy, problems, records, users

    problems.register(app)
    from engine.api import metrics

    metrics.register(app)  # /metrics, request counts/latency and X-Request-ID for every request
    from engine.api import input_guard

    input_guard.register(app)  # no NUL characters in any request
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(oidc.bp)
    app.register_blueprint(meta.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(notifications.bp)
    from engine.api import render

    app.register_blueprint(render.bp)
    from engine.api import capture, files, timeline

    app.register_blueprint(capture.bp)  # /public/forms, /public/hooks, /admin/hooks
    app.register_blueprint(timeline.bp)
    app.register_blueprint(files.bp)  # /ENTITY/ID/files and /ENTITY/ID/files/FIELD
    from engine.api import respond

    app.register_blueprint(respond.bp)  # /public/respond/TOKEN (record links)
    from engine.api import dashboards

    app.register_blueprint(dashboards.bp)  # /dashboards, /dashboards/NAME
    from engine.api import exports, imports, reports

    app.register_blueprint(imports.bp)  # /ENTITY/import, /imports/JOB
    app.register_blueprint(exports.bp)  # /ENTITY/export
    app.register_blueprint(reports.bp)  # /reports, /reports/NAME
    from engine.api import connectors

    app.register_blueprint(connectors.bp)  # /connectors/NAME/sync, /public/connectors/NAME/webhook
    from engine.api import calendar

    app.register_blueprint(calendar.bp)  # /me/calendar-feed, /public/calendar/TOKEN.ics
    from engine.plugins import register_blueprints

    register_blueprints(app)  # plugins' routes (engine.hookspecs.tessera_blueprints)
    app.register_blueprint(records.bp)  # last: its /<entity> routes are the catch-all
