"""Every error answered as ``application/problem+json`` (RFC 9457), never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from engine.errors import TesseraError

log = logging.getLogger("tessera.api")
PROBLEM_TYPE = "https://tessera.dev/problems/"
#: seconds a client is asked to wait when the database is unavailable
RETRY_AFTER = 2
#: SQLite's words for a database another writer kept locked past the busy timeout
_SQLITE_BUSY = ("database is locked", "database is busy")


def problem(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extensions or {})  # RFC 9457 extension members, e.g. the records a duplicate matches
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register(app: Flask) -> None:
    @app.errorhandler(TesseraError)
    def tessera_error(exc: TesseraError) -> Response:
        retry = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry)} if retry is not None else None
        extensions = getattr(exc, "extensions", None)
        return problem(exc.status, exc.title, exc.detail, [e.as_dict() for e in exc.errors], headers, extensions)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = {
            404: "There is no such resource",
            405: "This method is not allowed here",
            413: f"The request body is larger than the limit of {app.config.get('MAX_CONTENT_LENGTH')} bytes",
        }.get(status, exc.description or exc.name)
        allowed = getattr(exc, "valid_methods", None)
        headers = {"Allow": ", ".join(allowed)} if allowed else None
        title = "Payload too large" if status == 413 else exc.name
        return problem(status, title, detail, headers=headers)

    @app.errorhandler(sa.exc.SQLAlchemyError)
    def database_error(exc: sa.exc.SQLAlchemyError) -> Response:
        if not database_unavailable(exc):
            return unexpected(exc)
        log.warning("database unavailable: %s", str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])
        return problem(
            503,
            "Service unavailable",
            "The database is unavailable at the moment; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER)},
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "Internal server error", "Something went wrong on our side; it has been logged")


def database_unavailable(exc: BaseException) -> bool:
    """Is ``exc`` the database going away or staying busy (a 503 worth retrying), not a bug?

    A dropped or refused connection (PostgreSQL restarted, a backend terminated, the
    network gone), a full connection pool, and SQLite locked past its busy timeout. The
    request's transaction was rolled back."""
    if isinstance(exc, sa.exc.TimeoutError):  # no connection free in the pool in time
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError):
        return False
    module = type(exc.orig).__module__ if exc.orig is not None else ""
    if module.startswith("psycopg"):  # connection failures, shutdown, cancelled, deadlock
        return True
    return any(words in str(exc.orig).lower() for words in _SQLITE_BUSY)
