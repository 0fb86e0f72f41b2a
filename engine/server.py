"""Serving with gunicorn (threads per process, several processes with --workers).

In embedded mode (no ``TESSERA_REDIS_URL``) each worker process also runs the in-process job
runner thread (timers, scheduled rules, outbox); claims are atomic, so several processes
share the work without doing anything twice; ``tessera serve --no-jobs`` starts none.
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Server(BaseApplication):
    def __init__(self, options: dict[str, Any], jobs: bool = True):
        self.options = options
        self.jobs = jobs
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        # runs in each worker process after the fork: its own app, database pool and job runner
        from engine.app import create_app
        from engine.automation.jobs import start_in_process
        from engine.settling import settle

        app = create_app()
        for ws in app.extensions["tessera"].workspaces():
            if self.jobs:  # embedded mode only: with Redis, 'tessera worker' runs jobs
                start_in_process(ws)
        settle(app.extensions["tessera"].workspaces())
        return app


def run_server(host: str, port: int, workers: int, threads: int, jobs: bool = True) -> None:
    """Serve; ``jobs=False`` runs no timers, scheduled rules or deliveries (a restore drill
    or a copy of production must not send production's pending e-mails and webhooks)."""
    from engine.config import load_config

    json_logs = load_config().log_format == "json"  # then the app logs each request as a JSON line
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": None if json_logs else "-",
            "timeout": 60,
            "graceful_timeout": 10,
            # an idle connection is kept longer than clients and proxies wait between requests
            # (nginx 75 s, most load balancers 60 s); with gunicorn's 2 s, a client sending its
            # next request as the server closes the connection gets "connection reset"
            "keepalive": 75,
        },
        jobs,
    ).run()
