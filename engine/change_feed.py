"""The change feed: which records changed, published after their transaction commits.

The data-access layer notes every write it makes (create, update, delete, restore and
workflow transitions) with :func:`note`, inside the write's transaction. When the
transaction commits, the changes it made are published once each, as
``{entity, id, version, kind}``, to the workspace's :class:`ChangeFeed`; when it rolls back,
nothing is published. Several writes of one record in one transaction give one change
(its last version; ``create`` stays ``create``, a ``transition`` outranks an ``update``).
A transaction keeps at most ``QUEUE_SIZE`` records one by one; beyond that (a large
import) it publishes one ``many`` change per entity, which a subscriber receives as
``MISSED``, so memory stays flat however many rows one transaction writes.

A change says *that* a record changed, never *what* it holds: subscribers that show it to a
person (the UI's live updates, ``ui.live``) must re-read it through the data-access layer,
as that person, before saying anything about it.

Subscribers in this process get changes through a bounded thread-safe queue each
(:meth:`ChangeFeed.subscribe`). With ``redis_url`` in the workspace configuration the feed
also goes through Redis pub/sub, so every process serving the workspace (gunicorn workers,
``tessera worker``) sees the changes of all the others; without Redis only the changes made
in this process are seen. A process always hears its own changes at once (when the commit
publishes them), not after a trip through Redis: a viewer who just saved a record never
gets figures that miss it from the process that saved it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Connection

log = logging.getLogger("tessera.changes")

KINDS = ("create", "update", "delete", "restore", "transition")
#: changes a subscriber may have waiting before it is told it missed some
QUEUE_SIZE = 1000
#: seconds the feed publishes in this process only after Redis failed, before trying it again
REDIS_RETRY_SECONDS = 10.0
#: the strength of a kind when one transaction changes a record several times
_RANK = {"update": 0, "transition": 1, "create": 2, "restore": 3, "delete": 4}


@dataclass(frozen=True)
class Change:
    entity: str
    id: str
    version: int
    kind: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: what a subscriber receives instead of a change when its queue overflowed
MISSED = Change("", "", 0, "missed")


def _many(entity: str) -> Change:
    """Stands for more changes of ``entity`` than one transaction keeps one by one."""
    return Change(entity, "", 0, "many")


class _Pending(list[Any]):
    """The changes of one transaction; ``write_transaction`` calls it after the commit (it
    is a group of the connection's ``after_commit`` hooks) and drops it on a rollback."""

    def __init__(self, feed: ChangeFeed) -> None:
        super().__init__([self._publish])
        self.feed = feed
        self.changes: dict[tuple[str, str], Change] = {}
        #: entities with more changes than are kept one by one (a large import, say)
        self.overflowed: set[str] = set()

    def add(self, change: Change) -> None:
        key = (change.entity, change.id)
        before = self.changes.get(key)
        if before is None and len(self.changes) >= QUEUE_SIZE:
            # more than a subscriber could queue anyway: memory stays flat however large the
            # transaction, and subscribers of the entity are told they missed changes
            self.overflowed.add(change.entity)
            return
        if before is not None:
            kind = before.kind if _RANK[before.kind] >= _RANK[change.kind] else change.kind
            if before.kind == "create" and change.kind != "delete":
                kind = "create"
            change = Change(change.entity, change.id, max(before.version, change.version), kind)
        self.changes[key] = change

    def _publish(self) -> None:
        changes = [*self.changes.values(), *(_many(entity) for entity in sorted(self.overflowed))]
        if changes:
            self.feed.publish(changes)


def note(ws: Any, conn: Connection, entity: str, record_id: str, version: int, kind: str) -> None:
    """Record that the transaction on ``conn`` changed a record (published after its commit)."""
    hooks = conn.info.setdefault("after_commit", [])
    for group in hooks:  # a loop, not a generator: an import calls this for every record
        if type(group) is _Pending:
            break
    else:
        group = _Pending(feed_for(ws))
        hooks.append(group)
    group.add(Change(entity, record_id, int(version), kind))


class Subscription:
    """One listener's queue of changes; close it when done (the feed drops it)."""

    def __init__(self, feed: ChangeFeed, entities: frozenset[str] | None) -> None:
        self.feed, self.entities = feed, entities
        self._queue: queue.Queue[Change] = queue.Queue(QUEUE_SIZE)
        self._missed = threading.Event()
        #: entity -> when (wall clock) a change to it last reached this subscription, and when
        #: it last missed changes: what a change since a given moment is judged by
        self.seen_at: dict[str, float] = {}
        self.missed_at = -math.inf

    def offer(self, change: Change) -> None:
        if self.entities is not None and change.entity not in self.entities:
            return
        self.seen_at[change.entity] = time.time()
        if change.kind == "many":  # too many to list: the subscriber is told it missed some
            self._missed.set()
            return
        try:
            self._queue.put_nowait(change)
        except queue.Full:
            self.missed_at = time.time()
            self._missed.set()

    def get(self, timeout: float) -> Change | None:
        """The next change (``MISSED`` once after an overflow), or None after ``timeout`` seconds."""
        if self._missed.is_set() and self._queue.empty():
            self._missed.clear()
            return MISSED
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self, limit: int) -> list[Change]:
        """Up to ``limit`` changes waiting now, without blocking."""
        out: list[Change] = []
        while len(out) < limit:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.feed.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ChangeFeed:
    def __init__(self, redis_url: str | None = None, channel: str = "tessera:changes") -> None:
        self.redis_url, self.channel = redis_url, channel
        self._subscribers: set[Subscription] = set()
        self._lock = threading.Lock()
        self._redis: Any = None
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()
        #: after a failed publish, Redis is tried again only after this (monotonic) time
        self._redis_down_until = 0.0
        self.origin = uuid.uuid4().hex  # names this feed's messages on the Redis channel

    # --- subscribing ------------------------------------------------------------------
    def subscribe(self, entities: Iterable[str] | None = None) -> Subscription:
        """A queue of the changes of ``entities`` (all when None) committed from now on."""
        subscription = Subscription(self, frozenset(entities) if entities is not None else None)
        with self._lock:
            self._subscribers.add(subscription)
            if self.redis_url and self._listener is None:
                self._ready.clear()
                self._listener = threading.Thread(target=self._listen, name="tessera-changes", daemon=True)
                self._listener.start()
        if self.redis_url:
            self._ready.wait(5)  # subscribed at Redis before the caller relies on it
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    # --- publishing -------------------------------------------------------------------
    def publish(self, changes: list[Change]) -> None:
        """Tell the subscribers of this process at once, and the other processes through Redis
        (the message names this feed, whose listener leaves it out: heard once)."""
        if self.redis_url and time.monotonic() >= self._redis_down_until:
            message = {"origin": self.origin, "changes": [c.as_dict() for c in changes]}
            try:
                self._client().publish(self.channel, json.dumps(message))
            except Exception as exc:  # live updates are best effort: the write has committed
                # a Redis that does not answer must not slow every write down: wait before trying again
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                log.warning("could not publish changes to Redis (%s); only this process sees them", exc)
        self._deliver(changes)

    def _deliver(self, changes: list[Change]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            for change in changes:
                subscription.offer(change)

    # --- Redis ------------------------------------------------------------------------
    def _client(self) -> Any:
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(str(self.redis_url), socket_timeout=5, socket_connect_timeout=5)
        return self._redis

    def _listen(self) -> None:
        """Relay the channel to this process's subscribers while there are any."""
        pubsub = None
        try:
            pubsub = self._client().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(self.channel)
            pubsub.get_message(timeout=1)  # the subscription's confirmation
            self._ready.set()
            while True:
                with self._lock:
                    if not self._subscribers:
                        self._listener = None  # decided under the lock: a new subscriber starts another
                        return
                message = pubsub.get_message(timeout=1)
                if message is not None and message.get("type") == "message":
                    origin, changes = _decode(message["data"])
                    if origin != self.origin:  # this process's own changes were delivered at once
                        self._deliver(changes)
        except Exception as exc:
            log.warning("the change feed lost Redis (%s); live updates pause until the next subscriber", exc)
        finally:
            with self._lock:
                if self._listener is threading.current_thread():
                    self._listener = None
            self._ready.set()
            if pubsub is not None:
                with contextlib.suppress(Exception):  # closing a broken connection
                    pubsub.close()

    def close(self) -> None:
        with self._lock:
            self._subscribers.clear()
        listener = self._listener
        if listener is not None:
            listener.join(3)
        if self._redis is not None:
            self._redis.close()
            self._redis = None


def _decode(data: Any) -> tuple[str | None, list[Change]]:
    """The feed that sent a message and its changes (a bare list: an older process's)."""
    try:
        message = json.loads(data)
        origin, items = (message.get("origin"), message["changes"]) if isinstance(message, dict) else (None, message)
        changes = [Change(str(i["entity"]), str(i["id"]), int(i["version"]), str(i["kind"])) for i in items]
        return (str(origin) if origin is not None else None), changes
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("ignored a malformed message on the change feed")
        return None, []


_feeds: weakref.WeakKeyDictionary[Any, ChangeFeed] = weakref.WeakKeyDictionary()
_feeds_lock = threading.Lock()


def feed_for(ws: Any) -> ChangeFeed:
    """The change feed of a workspace (one per workspace object; over Redis when configured).

    The Redis channel is named after the workspace's database, so workspaces sharing a
    Redis server do not see each other's changes."""
    with _feeds_lock:
        feed = _feeds.get(ws)
        if feed is None:
            digest = hashlib.sha256(str(ws.config.database_url).encode()).hexdigest()[:16]
            feed = _feeds[ws] = ChangeFeed(ws.config.redis_url, f"tessera:changes:{digest}")
        return feed
