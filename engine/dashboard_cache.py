"""Computed dashboard figures, kept for a short while per viewer.

A dashboard over millions of records runs a dozen aggregates, each reading a large part of
a table; computing them at every view is what makes a dashboard slow, not any one query.
The figures of a viewer (the same user, roles, filters, language, day and time zone, and
metadata version) are kept for ``dashboard_cache_seconds`` (``TESSERA_DASHBOARD_CACHE_SECONDS``,
default 60; 0 turns the cache off) and dropped as soon as the change feed reports a change to
one of the entities the dashboard's widgets count, so a user's own edit shows on their next
view. With ``TESSERA_REDIS_URL`` the feed covers every process; without it, a change made in
another process shows once the figures expire. Figures that a widget's filter reads through
a link into another entity, or that depend on the time of day, are also at most that old.
The answer says when it was computed (``as_of``); ``?refresh=true`` computes it again.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from engine.change_feed import MISSED, Subscription, feed_for

#: dashboards kept per workspace (every viewer's, each a few kilobytes)
SIZE = 512


@dataclass
class _Entry:
    figures: dict[str, Any]
    entities: frozenset[str]
    expires: float


class DashboardCache:
    def __init__(self, ws: Any, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ws, self.seconds, self.monotonic = ws, seconds, monotonic
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._changes: Subscription | None = None

    def figures(
        self, key: Hashable, entities: frozenset[str], compute: Callable[[], dict[str, Any]], refresh: bool = False
    ) -> dict[str, Any]:
        """The cached figures for ``key``, or ``compute()``'s (then kept), stamped ``as_of``."""
        if self.seconds <= 0:
            return self._stamped(compute())
        self._forget_changed()
        now = self.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not refresh and entry.expires > now:
                self._entries.move_to_end(key)
                return entry.figures
        figures = self._stamped(compute())
        with self._lock:
            self._entries[key] = _Entry(figures, entities, now + self.seconds)
            self._entries.move_to_end(key)
            while len(self._entries) > SIZE:
                self._entries.popitem(last=False)
        return figures

    def _forget_changed(self) -> None:
        """Drop the figures of every dashboard whose entities changed since the last look."""
        if self._changes is None:
            self._changes = feed_for(self.ws).subscribe()
        changed: set[str] = set()
        while (change := self._changes.get(0)) is not None:
            if change is MISSED:  # more changes than the queue holds: any figure may be stale
                with self._lock:
                    self._entries.clear()
                return
            changed.add(change.entity)
        if changed:
            with self._lock:
                for key in [k for k, e in self._entries.items() if e.entities & changed]:
                    del self._entries[key]

    def _stamped(self, figures: dict[str, Any]) -> dict[str, Any]:
        now: dt.datetime = self.ws.records.clock()
        return {**figures, "as_of": now.astimezone(dt.UTC).isoformat(timespec="seconds")}

    def close(self) -> None:
        if self._changes is not None:
            self._changes.close()


_caches: weakref.WeakKeyDictionary[Any, DashboardCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(ws: Any) -> DashboardCache:
    """The dashboard cache of a workspace (one per workspace object)."""
    with _caches_lock:
        cache = _caches.get(ws)
        if cache is None:
            cache = _caches[ws] = DashboardCache(ws, ws.config.dashboard_cache_seconds)
        return cache
