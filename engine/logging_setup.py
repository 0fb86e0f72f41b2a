"""Log output: plain text (the default) or one JSON object per line (``TESSERA_LOG_FORMAT=json``).

JSON lines are what log shippers (journald + Vector/Fluent Bit, Loki, Elasticsearch) parse
without a grok pattern: every line carries ``timestamp``, ``level``, ``logger``, ``message``
and, inside a request, its ``request_id`` and ``workspace``, so one request's lines can be
found across the web process, its log of the request, and the reverse proxy's log (nginx
passes the same ``X-Request-ID``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import uuid
from typing import IO, Any

#: the loggers Tessera writes to; ``tessera.request`` is the per-request line (JSON mode)
LOGGER = "tessera"
REQUEST_LOGGER = "tessera.request"
REQUEST_ID_HEADER = "X-Request-ID"
#: a request id sent by the client or the proxy is kept only if it looks like one
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: attributes every LogRecord has; anything else was passed with ``extra=`` and is logged too
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp (UTC, ISO 8601), level, logger, message, the
    request's id and workspace when there is a request, ``extra=`` fields, and the
    traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(request_fields())
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def request_fields() -> dict[str, Any]:
    """``request_id`` and ``workspace`` of the current Flask request; nothing outside one."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - flask is a dependency
        return {}
    if not has_request_context():
        return {}
    fields: dict[str, Any] = {}
    request_id = g.get("request_id")
    if request_id:
        fields["request_id"] = request_id
    ws = g.get("tessera_workspace")
    if ws is not None:
        fields["workspace"] = ws.name
    return fields


def request_id_from(header: str | None) -> str:
    """The proxy's (or client's) request id when it is a sane token, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


def configure_logging(log_format: str, stream: IO[str] | None = None) -> logging.Handler | None:
    """Send the ``tessera`` loggers to ``stream`` (stderr) as JSON lines when ``log_format``
    is ``json``; ``text`` leaves logging as it was. Calling it again replaces the handler
    it installed before, so it is safe in every process and in tests."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "tessera_json", False):
            logger.removeHandler(handler)
            logger.propagate = True
    if log_format != "json":
        return None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.tessera_json = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line per record, not a second copy through the root logger
    return handler
