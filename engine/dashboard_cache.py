"""Computed dashboard figures, kept for a while: per viewer, and shared between viewers.

A dashboard over millions of records runs a dozen aggregates, each reading a large part of
a table; computing them at every view is what makes a dashboard slow, not any one query.
Two caches keep what was computed, both for ``dashboard_cache_seconds``
(``TESSERA_DASHBOARD_CACHE_SECONDS``, default 60; 0 turns them off), and both go stale as
soon as the change feed reports a change to an entity they count. With ``TESSERA_REDIS_URL``
the feed covers every process; without it, a change made in another process shows once the
figures expire. Figures that a widget's filter reads through a link into another entity, or
that depend on the time of day, are also at most that old.

- :func:`shared_for`: the answers of the aggregates, kept per *fingerprint*
  (``Records.aggregate_key``: the SQL the reader would send, with its parameters), so every
  viewer who would send the same statements shares them: all admins, whoever opens the
  support dashboard first. This is where the time goes, so this cache never makes a viewer
  wait for a slow computation it already has figures for: when computing them took long
  (:data:`SLOW`), a stale entry answers at once, marked ``stale``, while a background
  thread computes fresh ones for the view after (one at a time per entry; never figures
  older than :data:`STALE_LIMIT`), and a warming thread computes again, before they get that
  old, the slow entries viewed within :data:`WARM_WINDOW`.
- :func:`cache_for`: a viewer's assembled dashboard (the same user, roles, filters,
  language, day and time zone, and metadata version), computed again whenever it is stale
  or was assembled from stale answers: cheap, since the answers are kept below it.

With Redis (``TESSERA_REDIS_URL``) the shared answers go to Redis too
(``engine.dashboard_store``), and a process without answers of its own for a fingerprint
takes the stored ones: as fresh when its change feed, which covers every process then, saw
no change to their entities since they were computed (:meth:`DashboardCache._from_store`),
else, when slow, as stale while it computes its own.

So a user's own edit shows on their next view unless the dashboard is slow, and then on
the view after. The answer says when its oldest figures were computed (``as_of``);
``?refresh=true`` computes them now: while the viewer waits when they are fast (or there
is nothing to show), else behind, the kept ones answering at once marked ``stale`` as after
a change (a forced computation over millions of records takes seconds; the page polls and
shows the fresh figures when they are there, ``ui/static/dashboard.js``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from engine.change_feed import MISSED, Subscription, feed_for
from engine.dashboard_store import AnswerStore

log = logging.getLogger("tessera.dashboards")

#: dashboards kept per workspace (every viewer's, each a few kilobytes)
SIZE = 512
#: seconds of computing beyond which a viewer is shown the stale figures rather than made to wait
SLOW = 0.25
#: stale figures older than this (seconds) are computed again while the viewer waits
STALE_LIMIT = 15 * 60
#: shared figures viewed within this many seconds are kept warm: computed again in the
#: background before they reach :data:`STALE_LIMIT`
WARM_WINDOW = 60 * 60
#: seconds between two looks of the warming thread
WARM_EVERY = 60
#: seconds the wall clocks of two processes may differ by: answers another process stored
#: count as fresh only when computing them started this much after the last change seen
CLOCK_SKEW = 1.0

Compute = Callable[[], dict[str, Any]]


@dataclass
class _Entry:
    figures: dict[str, Any]
    entities: frozenset[str]
    computed: float  # when (monotonic)
    cost: float  # how long computing them took, in seconds
    compute: Compute
    used: float  # when last viewed (monotonic)
    stale: bool = False  # an entity they count changed since
    generation: int = 0  # the source cache's generation they were computed from


class DashboardCache:
    def __init__(
        self,
        ws: Any,
        seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        later: Callable[[Callable[[], None]], Any] | None = None,
        slow: float | None = None,
        warm: bool = False,
        source: DashboardCache | None = None,
        store: AnswerStore | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ws, self.seconds, self.monotonic = ws, seconds, monotonic
        self.slow = slow  # None: :data:`SLOW`
        self.warm_up = warm  # keep recently viewed figures from growing too old (a thread)
        self._warmer: threading.Thread | None = None
        self._closed = threading.Event()
        self.source = source  # figures computed from this cache's go stale when it computes anew
        self.generation = 0  # how many times this cache computed figures
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._changes: Subscription | None = None
        self.later = later  # runs a background refresh; None: a thread of this cache's own
        self._pool: ThreadPoolExecutor | None = None
        self._refreshing: set[Hashable] = set()
        self._forced: set[Hashable] = set()  # asked to refresh while a refresh was running
        self.store, self.wall = store, wall  # answers of other processes (dashboard_store)
        self._since = math.inf  # wall time since when this cache sees every change

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
            if entry is not None:
                entry.used = now
                if not refresh and now - entry.computed < self.seconds and not self._outdated(entry):
                    self._entries.move_to_end(key)
                    return entry.figures
                if entry.cost < self._slow() or now - entry.computed > STALE_LIMIT:
                    entry = None
                elif key in self._refreshing:
                    if refresh:  # the running refresh may take stored answers: compute after it
                        self._forced.add(key)
                    return {**entry.figures, "stale": True}
                else:  # stale until the refresh is done (a forced one too: no later view takes them as fresh)
                    entry.stale = True
                    self._refreshing.add(key)
        if entry is None:
            stored = None if refresh else self._from_store(key, entities, compute)
            return stored if stored is not None else self._compute(key, entities, compute)
        self._refresh_later(key, entities, compute, take_stored=not refresh)
        return {**entry.figures, "stale": True}

    def _from_store(
        self, key: Hashable, entities: frozenset[str], compute: Compute, fresh_only: bool = False
    ) -> dict[str, Any] | None:
        """The answers another process (or this one, before a restart) stored, taken as this
        cache's own: as fresh when no change to their entities was seen since computing them
        started, else, when slow, as stale while a background refresh computes new ones
        (never ``fresh_only``). None: compute them here."""
        stored = None if self.store is None else self.store.get(key)
        if stored is None:
            return None
        age = max(0.0, self.wall() - stored.started)
        fresh = age < self.seconds and self._unchanged_since(stored.started - CLOCK_SKEW, entities)
        if age > STALE_LIMIT or not (fresh or (stored.cost >= self._slow() and not fresh_only)):
            return None
        now = self.monotonic()
        with self._lock:
            self._keep(key, _Entry(stored.figures, entities, now - age, stored.cost, compute, now, stale=not fresh))
            if fresh:
                return stored.figures
            if key in self._refreshing:
                return {**stored.figures, "stale": True}
            self._refreshing.add(key)
        self._refresh_later(key, entities, compute)
        return {**stored.figures, "stale": True}

    def _unchanged_since(self, moment: float, entities: frozenset[str]) -> bool:
        """No change to ``entities`` reached this process at or after ``moment`` (wall time),
        and it has followed every change since before it."""
        changes = self._changes
        if changes is None or self._since >= moment or changes.missed_at >= moment:
            return False
        return all(changes.seen_at.get(entity, -math.inf) < moment for entity in entities)

    def _slow(self) -> float:
        return SLOW if self.slow is None else self.slow

    def _outdated(self, entry: _Entry) -> bool:
        """Stale, computed from stale figures, or from figures since computed anew."""
        source = 0 if self.source is None else self.source.generation
        return entry.stale or bool(entry.figures.get("stale")) or entry.generation != source

    def _compute(self, key: Hashable, entities: frozenset[str], compute: Compute) -> dict[str, Any]:
        started, wall = self.monotonic(), self.wall()
        generation = 0 if self.source is None else self.source.generation
        figures = self._stamped(compute())
        done = self.monotonic()
        if self.store is not None:
            self.store.put(key, figures, wall, done - started)
        with self._lock:
            self._keep(key, _Entry(figures, entities, done, done - started, compute, done, generation=generation))
            if self.warm_up and self._warmer is None and self.later is None:
                self._warmer = threading.Thread(target=self._keep_warm, name="tessera-dashboards", daemon=True)
                self._warmer.start()
        return figures

    def _keep(self, key: Hashable, entry: _Entry) -> None:
        """Keep ``entry`` as the newest (under the lock): figures computed anew, so what was
        assembled from the ones before is outdated; a refresh is no view (``used`` stays)."""
        self.generation += 1
        old = self._entries.get(key)
        if old is not None:
            entry.used = old.used
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > SIZE:
            self._entries.popitem(last=False)

    def _keep_warm(self) -> None:
        """The warming thread: looks every :data:`WARM_EVERY` seconds until the cache is
        closed (``Workspace.close``)."""
        while not self._closed.wait(WARM_EVERY):
            try:
                self._forget_changed()
                self.warm()
            except Exception:  # the next look tries again
                log.exception("keeping dashboard figures warm failed")

    def warm(self) -> int:
        """Compute again, in the background, the slow figures viewed within :data:`WARM_WINDOW`
        that are stale or will soon be too old to show (two thirds of :data:`STALE_LIMIT`),
        so their next viewer does not wait; how many refreshes were started. (Fast figures
        are computed again at their next view.)"""
        now = self.monotonic()
        with self._lock:
            due = [
                (key, entry)
                for key, entry in self._entries.items()
                if key not in self._refreshing
                and entry.cost >= self._slow()
                and now - entry.used < WARM_WINDOW
                and (entry.stale or now - entry.computed > STALE_LIMIT * 2 / 3)
            ]
            self._refreshing.update(key for key, _ in due)
        for key, entry in due:
            self._refresh_later(key, entry.entities, entry.compute)
        return len(due)

    def _refresh_later(
        self, key: Hashable, entities: frozenset[str], compute: Compute, take_stored: bool = True
    ) -> None:
        """Compute ``key``'s figures in the background, unless another process stored fresh
        ones meanwhile and ``take_stored`` (a forced refresh computes anyway). A forced
        refresh asked for while this one runs is served by one more run that computes."""

        def run() -> None:
            again = False
            try:
                with self._lock:
                    forced = key in self._forced
                    self._forced.discard(key)
                if self._closed.is_set():  # the workspace was closed meanwhile
                    return
                if forced or not take_stored or self._from_store(key, entities, compute, fresh_only=True) is None:
                    self._compute(key, entities, compute)
            except Exception:  # the stale figures stay; the next view tries again
                log.exception("computing dashboard figures in the background failed")
            finally:
                with self._lock:
                    again = key in self._forced and not self._closed.is_set()
                    if not again:
                        self._refreshing.discard(key)
                    elif (entry := self._entries.get(key)) is not None:
                        entry.stale = True  # not the figures the forced refresh asked for
            if again:
                self._refresh_later(key, entities, compute, take_stored=False)

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
            self._since = self.wall()
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
        return {"as_of": now.astimezone(dt.UTC).isoformat(timespec="seconds"), **figures}

    def clear(self) -> None:
        """Forget every kept figure (as a new process would start)."""
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        self._closed.set()
        if self._changes is not None:
            self._changes.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self.store is not None:
            self.store.close()


#: per workspace object; each cache holds its workspace, so entries go at ``Workspace.close`` (close_for)
_caches: weakref.WeakKeyDictionary[Any, dict[str, DashboardCache]] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(ws: Any) -> DashboardCache:
    """The workspace's assembled dashboards, per viewer: computed again while the viewer
    waits whenever stale, since the slow part is kept in :func:`shared_for`."""
    return _cache(ws, "viewers", slow=math.inf, source=shared_for(ws))


def shared_for(ws: Any) -> DashboardCache:
    """The workspace's aggregate answers, shared by every viewer with the same fingerprint."""
    return _cache(ws, "shared", warm=True, store=_store(ws))


def close_for(ws: Any) -> None:
    """Stop and forget the workspace's caches and their threads (``Workspace.close``)."""
    with _caches_lock:
        caches = _caches.pop(ws, {})
    for cache in caches.values():
        cache.close()


def shared_answers(ws: Any, actor: Any, entity: str, bodies: list[Any], refresh: bool = False) -> dict[str, Any]:
    """``Records.aggregate_many``'s answers (``"answers"``), kept in :func:`shared_for` under
    the reader's fingerprint, with their ``as_of`` and, when kept ones are stale, ``stale``."""
    key = ws.records.aggregate_key(actor, entity, bodies)
    return shared_for(ws).figures(
        key, frozenset({entity}), lambda: {"answers": ws.records.aggregate_many(actor, entity, bodies)}, refresh
    )


def _store(ws: Any) -> AnswerStore | None:
    """With Redis, answers are shared between processes too (``engine.dashboard_store``);
    named after the workspace's database, like its change feed."""
    if not ws.config.redis_url or ws.config.dashboard_cache_seconds <= 0:
        return None
    digest = hashlib.sha256(str(ws.config.database_url).encode()).hexdigest()[:16]
    return AnswerStore(str(ws.config.redis_url), digest, STALE_LIMIT)


def _cache(ws: Any, kind: str, **options: Any) -> DashboardCache:
    with _caches_lock:
        caches = _caches.setdefault(ws, {})
        if kind not in caches:
            caches[kind] = DashboardCache(ws, ws.config.dashboard_cache_seconds, **options)
        return caches[kind]
