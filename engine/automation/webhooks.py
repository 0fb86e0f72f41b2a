"""Webhook subscriptions: other systems told about changes, signed and retried.

A subscription is a record of the system entity ``webhook`` (admins only): a url, the
entity and events it wants, an optional DSL ``filter`` over that entity, and a signing
secret (generated when left empty, encrypted at rest, readable by admins). This component
sees every write of every entity; when an active subscription matches, it writes an outbox
row (channel ``webhook``) in the write's transaction, so a receiver hears of a change
exactly when it committed. :mod:`engine.automation.delivery` signs and sends the row and
switches a subscription off after too many failures in a row (or a ``410 Gone``).

Per-write cost is a dictionary look-up: active subscriptions are cached per metadata
snapshot, reloaded after a ``webhook`` record changes in this process (on commit) and
every few seconds for changes made by other processes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# the notify and webhook actions and the email, sms and webhook channels register on import
from engine.automation import delivery, notify  # noqa: F401
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent
from engine.automation.notify import outbox_key, snapshot
from engine.dsl import Expression, compile_expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import DslError, FieldError, NotFound, PermissionDenied, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.problems import Problems
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.database import read_transaction
from engine.storage.ids import is_id

log = logging.getLogger("tessera.automation")

ENTITY = "webhook"
EVENTS = ("create", "update", "delete", "restore", "transition")
#: seconds a process trusts its cached subscriptions (changes by other processes)
REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Subscription:
    id: str
    name: str
    entity: str
    events: frozenset[str]
    filter: Expression | None


def compile_filter(source: str, entity: Any, catalog: Catalog, functions: FunctionRegistry) -> Expression:
    """A subscription's filter: a condition over its entity (``old.FIELD`` allowed)."""
    return compile_expression(
        source, entity, catalog, functions=functions, where="webhook filter", updates=True, expect="bool"
    )


class SubscriptionCache:
    """The active subscriptions of one workspace under one metadata snapshot, by entity."""

    def __init__(self, catalog: Catalog, functions: FunctionRegistry):
        self.catalog, self.functions = catalog, functions
        self._lock = threading.Lock()
        self._by_entity: dict[str, list[Subscription]] | None = None
        self._loaded_at = 0.0
        #: runs that changed a subscription: they read their own uncommitted state, uncached
        self._writers: weakref.WeakSet[Any] = weakref.WeakSet()

    def invalidate(self) -> None:
        with self._lock:
            self._by_entity = None

    def for_entity(self, run: Any, entity: str) -> list[Subscription]:
        by_entity = self._by_entity
        if run in self._writers:
            return self._load(run).get(entity, [])
        if by_entity is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            by_entity = self._load(run)
            with self._lock:
                self._by_entity, self._loaded_at = by_entity, time.monotonic()
        return by_entity.get(entity, [])

    def changed_in(self, run: Any) -> None:
        """``run`` wrote a subscription: reload now, and again once it committed."""
        self._writers.add(run)
        self.invalidate()
        run.after_commit.append(self.invalidate)

    def _load(self, run: Any) -> dict[str, list[Subscription]]:
        table = run.snap.tables.main(ENTITY)
        rows = run.conn.execute(
            sa.select(table.c.id, table.c.name, table.c.entity, table.c.events, table.c.filter).where(
                table.c.active.is_(True), table.c.deleted_at.is_(None), table.c.entity.is_not(None)
            )
        ).all()
        by_entity: dict[str, list[Subscription]] = {}
        for row in rows:
            entity = self.catalog.entities.get(row.entity)
            if entity is None:
                continue
            condition = None
            if row.filter:
                try:
                    condition = compile_filter(row.filter, entity, self.catalog, self.functions)
                except DslError as exc:  # the metadata changed under it since it was saved
                    log.warning("webhook %s is skipped: its filter no longer compiles: %s", row.name, exc.detail)
                    continue
            sub = Subscription(row.id, row.name, row.entity, frozenset(row.events or ()), condition)
            by_entity.setdefault(row.entity, []).append(sub)
        return by_entity


class Webhooks(BaseComponent):
    name = "webhooks"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        if ENTITY not in catalog.entities:
            return
        # subscriptions are data: every entity's writes may concern one
        automation.always = True
        automation.parts[self.name] = SubscriptionCache(catalog, functions)

    def on_event(self, run: Any, event: Event) -> None:
        cache: SubscriptionCache | None = run.automation.parts.get(self.name)
        if cache is None:
            return
        if event.entity.name == ENTITY:
            self._subscription_written(run, event, cache)
            return
        if event.kind not in EVENTS:
            return
        subscriptions = cache.for_entity(run, event.entity.name)
        if not subscriptions:
            return
        record = event.record
        env = None
        for sub in subscriptions:
            if event.kind not in sub.events:
                continue
            if sub.filter is not None:
                env = env or run.env(event.entity, record, event.old if event.kind == "update" else None)
                if not sub.filter.holds(env):
                    continue
            self._queue(run, event, sub)

    def _queue(self, run: Any, event: Event, sub: Subscription) -> None:
        record = event.record
        payload = {
            "subscription": sub.id,
            "event": f"{event.entity.name}.{event.kind}",
            "entity": event.entity.name,
            "record_id": event.record_id,
            "occurred_at": to_json(run.now),
            "record": snapshot(event.entity, record),
        }
        if event.kind == "update":
            payload["old"] = snapshot(event.entity, event.old)
            payload["changed"] = sorted(event.changed)
        if event.kind == "transition" and event.name:
            payload["transition"] = event.name
        key = outbox_key("webhook", sub.id, event.entity.name, event.record_id, record.get("version"), event.kind)
        run.outbox("webhook", payload, key=key, entity=event.entity.name, record_id=event.record_id)

    def _subscription_written(self, run: Any, event: Event, cache: SubscriptionCache) -> None:
        cache.changed_in(run)
        if event.kind not in ("create", "update", "restore") or event.new is None:
            return
        check_subscription(event.new, cache.catalog, cache.functions)
        if event.kind == "create":
            fresh: dict[str, Any] = {"failures": 0, "disabled_reason": None}
            if not event.new.get("secret"):
                fresh["secret"] = secrets.token_urlsafe(32)
            run.update(event.entity, event.record_id, fresh, "webhooks")
        old = event.old or {}
        if event.kind == "update" and event.new.get("active") and not old.get("active"):
            # switched on again by an admin: a fresh start
            run.update(event.entity, event.record_id, {"failures": 0, "disabled_reason": None}, "webhooks")


def check_subscription(values: Mapping[str, Any], catalog: Catalog, functions: FunctionRegistry) -> None:
    """Refuse (422) a subscription naming an unknown entity or event, or with a bad filter."""
    errors: list[FieldError] = []
    name, events, source = values.get("entity"), list(values.get("events") or ()), values.get("filter")
    entity = catalog.entities.get(name) if name else None
    if name and (entity is None or entity.child or name == ENTITY):
        errors.append(FieldError("entity", f"There is no entity {name!r} to subscribe to."))
    if name and not events:
        errors.append(FieldError("events", f"Name the events to send: {', '.join(EVENTS)}."))
    if not name and (events or source):
        errors.append(FieldError("entity", "Events and a filter need the entity they are about."))
    if source and entity is not None and not errors:
        try:
            compile_filter(source, entity, catalog, functions)
        except DslError as exc:
            errors.append(FieldError("filter", exc.detail))
    if errors:
        raise ValidationError("The webhook is not valid", errors)


def subscription_deliveries(ws: Any, actor: Any, subscription_id: str, limit: int = 100) -> dict[str, Any]:
    """The latest deliveries of one subscription (admins): each outbox row with its attempts."""
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may see webhook deliveries")
    snap = ws.snapshot()
    if ENTITY not in snap.catalog.entities or not is_id(subscription_id):
        raise NotFound(f"There is no webhook {subscription_id!r}")
    table, o, d = snap.tables.main(ENTITY), st.outbox, st.delivery
    with read_transaction(ws.db) as conn:
        if conn.execute(sa.select(table.c.id).where(table.c.id == subscription_id)).first() is None:
            raise NotFound(f"There is no webhook {subscription_id!r}")
        rows = conn.execute(
            sa.select(o)
            .where(o.c.channel == "webhook", o.c.key.startswith(f"webhook:{subscription_id}:", autoescape=True))
            .order_by(o.c.created_at.desc(), o.c.id.desc())
            .limit(limit)
        ).all()
        attempts: dict[str, list[dict[str, Any]]] = {r.id: [] for r in rows}
        if rows:
            for a in conn.execute(sa.select(d).where(d.c.outbox_id.in_(list(attempts))).order_by(d.c.at, d.c.id)).all():
                attempts[a.outbox_id].append(
                    {
                        "at": to_json(a.at),
                        "ok": bool(a.ok),
                        "status_code": a.status_code,
                        "error": a.error,
                        "duration_ms": a.duration_ms,
                    }
                )
    return {
        "data": [
            {
                "id": r.id,
                "event": (r.payload or {}).get("event"),
                "entity": r.entity,
                "record_id": r.record_id,
                "state": r.state,
                "attempts": r.attempts,
                "created_at": to_json(r.created_at),
                "sent_at": to_json(r.sent_at),
                "last_error": r.last_error,
                "log": attempts[r.id],
            }
            for r in rows
        ]
    }


COMPONENT = Webhooks()
