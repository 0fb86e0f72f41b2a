"""Computed dashboard figures, kept for a short while per viewer.

A dashboard over millions of records runs a dozen aggregates, each reading a large part of
a table; computing them at every view is what makes a dashboard slow, not any one query.
The figures of a viewer (the same user, roles, filters, language, day and time zone, and
metadata version) are kept for ``dashboard_cache_seconds`` (``TESSERA_DASHBOARD_CACHE_SECONDS``,
default 60; 0 turns the cache off) and go stale as soon as the change feed reports a change
to one of the entities the dashboard's widgets count. With ``TESSERA_REDIS_URL`` the feed
covers every process; without it, a change made in another process shows once the figures
expire. Figures that a widget's filter reads through a link into another entity, or that
depend on the time of day, are also at most that old.

Stale or expired figures are computed again at the next view, which waits for them, so a
user's own edit shows on their next view. Except when computing them took long
(:data:`SLOW`, a dashboard over a million tickets): the viewer then gets the figures they
had at once, marked ``stale``, while a background thread computes fresh ones for the view
after (one at a time per viewer and dashboard; never figures older than
:data:`STALE_LIMIT`). The answer says when its figures were computed (``as_of``);
``?refresh=true`` computes them now and waits.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engine.change_feed import MISSED, Subscription, feed_for

log = logging.getLogger("tessera.dashboards")

#: dashboards kept per workspace (every viewer's, each a few kilobytes)
SIZE = 512
#: seconds of computing beyond which a viewer is shown the stale figures rather than made to wait
SLOW = 0.25
#: stale figures older than this (seconds) are computed again while the viewer waits
STALE_LIMIT = 15 * 60

Compute = Callable[[], dict[str, Any]]


@dataclass
class _Entry:
    figures: dict[str, Any]
    entities: frozenset[str]
    computed: float  # when (monotonic)
    cost: float  # how long computing them took, in seconds
    stale: bool = False  # an entity they count changed since


class DashboardCache:
    def __init__(
        self,
        ws: Any,
        seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        later: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        self.ws, self.seconds, self.monotonic = ws, seconds, monotonic
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._changes: Subscription | None = None
        self.later = later  # runs a background refresh; None: a thread of this cache's own
        self._pool: ThreadPoolExecutor | None = None
        self._refreshing: set[Hashable] = set()

    def figures(
        self, key: Hashable, entities: frozenset[str], compute: Compute, refresh: bool = False
    ) -> dict[str, Any]:
        """The kept figures for ``key``, or ``compute()``'s (then kept), stamped ``as_of``."""
        if self.seconds <= 0:
            return self._stamped(compute())
        self._forget_changed()
        now = self.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or refresh:
                entry = None
            elif now - entry.computed < self.seconds and not entry.stale:
                self._entries.move_to_end(key)
                return entry.figures
            elif entry.cost < SLOW or now - entry.computed > STALE_LIMIT:
                entry = None
            elif key in self._refreshing:
                return {**entry.figures, "stale": True}
            else:
                self._refreshing.add(key)
        if entry is None:
            return self._compute(key, entities, compute)
        self._refresh_later(key, entities, compute)
        return {**entry.figures, "stale": True}

    def _compute(self, key: Hashable, entities: frozenset[str], compute: Compute) -> dict[str, Any]:
        started = self.monotonic()
        figures = self._stamped(compute())
        done = self.monotonic()
        with self._lock:
            self._entries[key] = _Entry(figures, entities, done, done - started)
            self._entries.move_to_end(key)
            while len(self._entries) > SIZE:
                self._entries.popitem(last=False)
        return figures

    def _refresh_later(self, key: Hashable, entities: frozenset[str], compute: Compute) -> None:
        def run() -> None:
            try:
                self._compute(key, entities, compute)
            except Exception:  # the stale figures stay; the next view tries again
                log.exception("computing dashboard figures in the background failed")
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        if self.later is not None:
            self.later(run)
            return
        with self._lock:
            if self._pool is None:  # one thread: a refresh at a time, so viewers cannot pile them up
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tessera-dashboards")
            pool = self._pool
        try:
            pool.submit(run)
        except RuntimeError:  # the cache was closed: the next view computes while waiting
            with self._lock:
                self._refreshing.discard(key)

    def _forget_changed(self) -> None:
        """Mark stale the figures of every dashboard whose entities changed since the last look."""
        if self._changes is None:
            self._changes = feed_for(self.ws).subscribe()
        changed: set[str] = set()
        while (change := self._changes.get(0)) is not None:
            if change is MISSED:  # more changes than the queue holds: any figure may be stale
                with self._lock:
                    for entry in self._entries.values():
                        entry.stale = True
                return
            changed.add(change.entity)
        if changed:
            with self._lock:
                for entry in self._entries.values():
                    if entry.entities & changed:
                        entry.stale = True

    def _stamped(self, figures: dict[str, Any]) -> dict[str, Any]:
        now: dt.datetime = self.ws.records.clock()
        return {**figures, "as_of": now.astimezone(dt.UTC).isoformat(timespec="seconds")}

    def close(self) -> None:
        if self._changes is not None:
            self._changes.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


_caches: weakref.WeakKeyDictionary[Any, DashboardCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(ws: Any) -> DashboardCache:
    """The dashboard cache of a workspace (one per workspace object)."""
    with _caches_lock:
        cache = _caches.get(ws)
        if cache is None:
            cache = _caches[ws] = DashboardCache(ws, ws.config.dashboard_cache_seconds)
        return cache
