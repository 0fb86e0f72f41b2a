"""Dashboard answers shared between processes, through Redis.

``engine.dashboard_cache`` keeps the aggregate answers of a dashboard in the memory of one
process. With ``TESSERA_REDIS_URL`` set, several web processes serve the workspace, and
each would compute the same slow answers again: after a start, or when its first viewer of
a scope arrives. :class:`AnswerStore` keeps every computed answer in Redis too, under the
fingerprint's digest, for :data:`engine.dashboard_cache.STALE_LIMIT`; a process that has
none of its own takes the stored one (``DashboardCache.figures`` decides whether it may
show it as fresh or only as stale while it computes its own).

Answers are stored as JSON with a few tagged types, so they come back as they were:
``Decimal``, dates and times, tuples, pages of rows (``Page``) and the error a widget
answered with (the ``engine.errors`` classes). Nothing is unpickled: a stored value can
only ever become data. Redis is a help here, never a need: a Redis that fails is left alone
for a while (:data:`engine.change_feed.REDIS_RETRY_SECONDS`) and the process computes as if
it were alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine import errors
from engine.change_feed import REDIS_RETRY_SECONDS
from engine.storage.reading import Page

log = logging.getLogger("tessera.dashboards")

#: seconds a view waits at most for Redis before computing on its own
TIMEOUT = 0.5


class Unstorable(TypeError):
    """A value the codec does not carry (the answer is then kept in this process only)."""


@dataclass(frozen=True)
class Stored:
    figures: dict[str, Any]
    started: float  # when computing them started (wall clock, seconds since the epoch)
    cost: float  # how long computing them took, in seconds


class AnswerStore:
    def __init__(self, redis_url: str, namespace: str, seconds: float) -> None:
        self.redis_url, self.seconds = redis_url, seconds
        self.prefix = f"tessera:dashboards:{namespace}:"
        self._redis: Any = None
        self._down_until = 0.0  # monotonic: Redis is not asked again before this

    def get(self, key: Hashable) -> Stored | None:
        raw = self._call(lambda r: r.get(self._name(key)))
        if raw is None:
            return None
        try:
            item = json.loads(raw)
            return Stored(decode(item["figures"]), float(item["started"]), float(item["cost"]))
        except (ValueError, TypeError, KeyError):
            log.warning("ignored malformed dashboard answers in Redis")
            return None

    def put(self, key: Hashable, figures: dict[str, Any], started: float, cost: float) -> None:
        try:
            raw = json.dumps({"figures": encode(figures), "started": started, "cost": cost}, separators=(",", ":"))
        except Unstorable as exc:
            log.debug("dashboard answers kept in this process only: %s", exc)
            return
        self._call(lambda r: r.set(self._name(key), raw, ex=max(1, int(self.seconds))))

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    def _name(self, key: Hashable) -> str:
        """The Redis key of a fingerprint: the same in every process (its ``repr`` holds only
        strings, numbers, dates and tuples of them)."""
        return self.prefix + hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()

    def _call(self, action: Any) -> Any:
        if time.monotonic() < self._down_until:
            return None
        try:
            if self._redis is None:
                from redis import Redis

                self._redis = Redis.from_url(self.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
            return action(self._redis)
        except Exception as exc:  # shared answers are a help, never a need
            self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning("dashboard answers are not shared between processes for now (Redis: %s)", exc)
            return None


# --- the codec: JSON with tagged types ------------------------------------------------------
_TAG = "$"


def encode(value: Any) -> Any:
    """``value`` as JSON data; :class:`Unstorable` for a type it does not carry."""
    if value is None or isinstance(value, bool | int | float | str):  # json reads inf and nan back too
        return value
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and k != _TAG for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {_TAG: "map", "v": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {_TAG: "tuple", "v": [encode(v) for v in value]}
    if isinstance(value, Decimal):
        return {_TAG: "decimal", "v": str(value)}
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {_TAG: "time", "v": value.isoformat()}
    if isinstance(value, Page):
        return {
            _TAG: "page",
            "v": [encode(value.data), value.next_cursor, value.total, value.total_capped],
        }
    if isinstance(value, errors.TesseraError):
        cls = type(value)
        if getattr(errors, cls.__name__, None) is not cls or set(vars(value)) - {"detail", "errors"}:
            raise Unstorable(f"an error of type {cls.__name__}")
        found = [[e.field, e.message, e.index] for e in value.errors]
        return {_TAG: "error", "v": [cls.__name__, value.detail, found]}
    raise Unstorable(f"a value of type {type(value).__name__}")


def decode(value: Any) -> Any:
    """What :func:`encode` was given."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    raw = value["v"]
    if tag == "map":  # a key that cannot be one (a list) raises TypeError: malformed
        return {decode(k): decode(v) for k, v in raw}
    if tag == "tuple":
        return tuple(decode(v) for v in raw)
    if tag == "decimal":
        return Decimal(raw)
    if tag == "datetime":
        return dt.datetime.fromisoformat(raw)
    if tag == "date":
        return dt.date.fromisoformat(raw)
    if tag == "time":
        return dt.time.fromisoformat(raw)
    if tag == "page":
        data, cursor, total, capped = raw
        return Page(decode(data), cursor, total, bool(capped))
    if tag == "error":
        name, detail, found = raw
        cls = getattr(errors, str(name), None)
        if not (isinstance(cls, type) and issubclass(cls, errors.TesseraError)):
            cls = errors.TesseraError
        return cls(str(detail), [errors.FieldError(str(f), str(m), i) for f, m, i in found])
    raise ValueError(f"unknown tag {tag!r}")
