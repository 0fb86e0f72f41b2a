"""``GET /metrics``: Prometheus metrics of this web process, and per-request bookkeeping.

Counters and histograms are per process (one registry per app, nothing global), so run each
``tessera serve`` process on its own port and let Prometheus scrape every port (see
docs/operations.md). The job gauges are read from the database and Redis at scrape time,
so any one process reports them for the whole workspace.

Access: with ``TESSERA_METRICS_TOKEN`` set, callers send ``Authorization: Bearer TOKEN``;
unset, only loopback callers are answered, and the reverse proxy must not forward
``/metrics`` (deploy/nginx/tessera.conf refuses it).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from engine import __version__
from engine.actor import SYSTEM
from engine.api.context import bearer_token
from engine.api.problems import problem
from engine.logging_setup import REQUEST_ID_HEADER, REQUEST_LOGGER, request_id_from

bp = Blueprint("metrics", __name__)
log = logging.getLogger(REQUEST_LOGGER)
EXTENSION = "tessera.metrics"
#: seconds; web requests of a CRM are mostly 5-500 ms, exports and reports take longer
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: the route label of a request no route matched (its raw path would make label values unbounded)
UNMATCHED = "<unmatched>"


class HttpMetrics:
    """The registry of one app: request counters and latencies, plus the job collector."""

    def __init__(self, app: Flask):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tessera_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tessera_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(JobCollector(app))


class JobCollector:
    """Gauges read when Prometheus scrapes: database reachability and pool, outbox rows per
    state (as ``GET /api/v1/admin/jobs/metrics`` counts them) and the RQ queues in Redis."""

    def __init__(self, app: Flask):
        self.router = app.extensions["tessera"]
        self.redis_url: str | None = app.extensions["tessera.config"].redis_url

    def describe(self) -> list[Metric]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        from engine.automation.outbox import job_metrics

        info = GaugeMetricFamily("tessera_build_info", "The running Tessera version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        up = GaugeMetricFamily("tessera_database_up", "1 when the workspace database answers", labels=["workspace"])
        jobs = GaugeMetricFamily(
            "tessera_jobs",
            "Outbox jobs per state (queued, running, sent, failed, discarded)",
            labels=["workspace", "state"],
        )
        pool = GaugeMetricFamily(
            "tessera_db_pool_connections", "Database pool connections of this process", labels=["workspace", "state"]
        )
        redis_urls = {self.redis_url} if self.redis_url else set()
        for ws in self.router.workspaces():
            try:
                counts = job_metrics(ws, SYSTEM)
            except sa.exc.SQLAlchemyError:
                up.add_metric([ws.name], 0)
                continue
            up.add_metric([ws.name], 1)
            for state, count in counts.items():
                jobs.add_metric([ws.name, state], count)
            for state, value in _pool_stats(ws.db.pool).items():
                pool.add_metric([ws.name, state], value)
            if ws.config.redis_url:
                redis_urls.add(ws.config.redis_url)
        yield from (up, jobs, pool)
        if redis_urls:
            yield from _rq_metrics(sorted(redis_urls))


def _pool_stats(pool: Any) -> dict[str, int]:
    """Checked-out and idle connections and the pool's size, for pools that count them (QueuePool)."""
    stats: dict[str, int] = {}
    for state, method in (("in_use", "checkedout"), ("idle", "checkedin"), ("size", "size")):
        fn = getattr(pool, method, None)
        if callable(fn):
            try:
                stats[state] = int(fn())
            except (TypeError, ValueError):
                continue
    return stats


def _rq_metrics(urls: list[str]) -> Iterator[Metric]:
    """Jobs waiting, started and failed per RQ queue; ``tessera_redis_up`` 0 when Redis is down."""
    import redis
    from rq import Queue

    up = GaugeMetricFamily("tessera_redis_up", "1 when Redis answers")
    queued = GaugeMetricFamily("tessera_rq_jobs", "RQ jobs per queue and state", labels=["queue", "state"])
    reachable = 1
    for url in urls:
        try:
            with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as connection:
                for queue in Queue.all(connection=connection):
                    queued.add_metric([queue.name, "queued"], queue.count)
                    queued.add_metric([queue.name, "started"], queue.started_job_registry.count)
                    queued.add_metric([queue.name, "failed"], queue.failed_job_registry.count)
        except redis.RedisError:
            reachable = 0
    up.add_metric([], reachable)
    yield up
    yield queued


def _allowed() -> Response | None:
    """None when the caller may read the metrics, else the problem to answer."""
    token = current_app.extensions["tessera.config"].metrics_token
    if token:
        sent = bearer_token()
        if sent and hmac.compare_digest(sent.encode(), token.encode()):
            return None
        return problem(
            401,
            "Authentication required",
            "Send 'Authorization: Bearer TOKEN' with the TESSERA_METRICS_TOKEN value",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return problem(403, "Forbidden", "Metrics are served to this machine only; set TESSERA_METRICS_TOKEN to scrape")


@bp.get("/metrics")
def metrics() -> Any:
    refused = _allowed()
    if refused is not None:
        return refused
    registry = current_app.extensions[EXTENSION].registry
    return Response(
        generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST
    )


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    if started is None:  # a request that failed before our before_request ran
        return response
    seconds = time.perf_counter() - started
    route = request.url_rule.rule if request.url_rule is not None else UNMATCHED
    collected: HttpMetrics = current_app.extensions[EXTENSION]
    collected.requests.labels(request.method, route, str(response.status_code)).inc()
    collected.latency.labels(request.method, route).observe(seconds)
    response.headers[REQUEST_ID_HEADER] = g.request_id
    if current_app.extensions["tessera.config"].log_format == "json":
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
                "remote_addr": request.remote_addr,
            },
        )
    return response


def register(app: Flask) -> None:
    """The ``/metrics`` route, and request timing, counting, ``X-Request-ID`` and (JSON
    logs) the one-line request log for every request of ``app``."""
    app.extensions[EXTENSION] = HttpMetrics(app)
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
