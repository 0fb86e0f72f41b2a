"""The application factory: one Flask app serving one or more workspaces."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface

from engine.api.jsonio import TesseraJSONProvider
from engine.config import Config, load_config
from engine.logging_setup import configure_logging
from engine.workspace import Workspace


class ApiAwareSessions(SecureCookieSessionInterface):
    """Browser sessions (signed cookie holding a revocable token); API calls with bearer
    tokens and no cookie get no session at all."""

    def open_session(self, app: Flask, request: Request) -> Any:
        # API clients without a browser session cookie pay nothing for sessions
        if request.path.startswith("/api/") and self.get_cookie_name(app) not in request.cookies:
            return self.null_session_class()
        return super().open_session(app, request)


class WorkspaceRouter:
    """Maps a request's host name to its workspace (one database each).

    With a single workspace every host maps to it; several workspaces are routed by host
    as Frappe routes sites.
    """

    def __init__(self, default: Workspace, by_host: dict[str, Workspace] | None = None):
        self.default = default
        self.by_host = by_host or {}

    def for_host(self, host: str) -> Workspace:
        return self.by_host.get(host.split(":")[0].lower(), self.default)

    def workspaces(self) -> list[Workspace]:
        """Every workspace served, once each."""
        unique = {id(ws): ws for ws in (self.default, *self.by_host.values())}
        return list(unique.values())


def _registered_workspaces(config: Config) -> dict[str, Workspace]:
    """The workspaces of ``workspaces.yaml`` by host name (``engine.workspaces``)."""
    from engine.workspaces import read_registry, workspace_config

    by_host: dict[str, Workspace] = {}
    for entry in read_registry(config).values():
        ws = Workspace(workspace_config(config, entry), name=entry.name)
        by_host.update(dict.fromkeys(entry.hosts, ws))
    return by_host


def create_app(config: Config | None = None, workspace: Workspace | None = None) -> Flask:
    config = config or load_config()
    workspace = workspace or Workspace(config)
    app = Flask("tessera", instance_path=str(config.instance_path.resolve()), instance_relative_config=False)
    app.json = TesseraJSONProvider(app)
    app.session_interface = ApiAwareSessions()
    app.config.update(
        SECRET_KEY=config.resolved_secret_key(),
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        SESSION_COOKIE_NAME="tessera_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    app.extensions["tessera"] = WorkspaceRouter(workspace, _registered_workspaces(config))
    app.extensions["tessera.config"] = config
    if config.trusted_proxies:  # behind nginx: the client's address and scheme from X-Forwarded-*
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    from engine.api import register_api
    from engine.api.hardening import security_headers
    from engine.security.throttle import Throttle
    from ui import register_ui

    app.after_request(security_headers)
    app.extensions["tessera.sign_in_throttle"] = Throttle(config.auth_rate_limit, config.redis_url)
    register_api(app)
    register_ui(app)
    logging.getLogger("tessera").setLevel(logging.INFO)
    configure_logging(config.log_format)  # TESSERA_LOG_FORMAT=json: JSON lines
    return app
