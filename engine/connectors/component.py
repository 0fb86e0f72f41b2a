"""The connectors' part of the automation: checking connector records, queueing pushes.

Compiled with the automation (``engine.automation.model``), so ``tessera check`` reports a
bad ``connectors/`` document. At run time it sees every write:

- a write of a connector record is checked (its entity, external key, kind, mapping and
  cron schedule) and refused with a 422 naming the field when it does not hold;
- a create or update of an entity that an active ``push`` or ``both`` connector maps is
  queued in the outbox (channel ``connector_push``), in the write's transaction, so a
  crash loses nothing. A write whose transaction began as that connector's own import
  (actor source ``sync:NAME``) is not queued: a change never echoes back to its origin.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from croniter import croniter

from engine.automation.model import Automation, BaseComponent
from engine.automation.notify import outbox_key
from engine.connectors.mapping import parse_mapping
from engine.connectors.store import Store, compile_store
from engine.connectors.sync import origin
from engine.dsl.functions import FunctionRegistry
from engine.errors import FieldError, TesseraError, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.problems import Problems

NAME = "connectors"
CHANNEL = "connector_push"
#: seconds a process trusts its cached list of push connectors (changes by other processes)
REFRESH_SECONDS = 5.0


class PushTargets:
    """Active push connectors by local entity: ``{entity: [(id, name)]}``, cached briefly."""

    def __init__(self, store: Store):
        self.store = store
        self._lock = threading.Lock()
        self._by_entity: dict[str, list[tuple[str, str]]] | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        with self._lock:
            self._by_entity = None

    def for_entity(self, run: Any, entity: str) -> list[tuple[str, str]]:
        by_entity = self._by_entity
        if by_entity is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            table = run.snap.tables.main(self.store.configs)
            rows = run.conn.execute(
                sa.select(table.c.id, table.c.name, table.c.entity).where(
                    table.c.active.is_(True),
                    table.c.deleted_at.is_(None),
                    table.c.direction.in_(("push", "both")),
                )
            ).all()
            by_entity = {}
            for row in rows:
                by_entity.setdefault(row.entity, []).append((row.id, row.name))
            with self._lock:
                self._by_entity, self._loaded_at = by_entity, time.monotonic()
        return by_entity.get(entity, [])


class ConnectorsComponent(BaseComponent):
    name = NAME

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        store = compile_store(catalog, problems)
        if store is None:
            return
        automation.parts[self.name] = store
        automation.parts[f"{self.name}.push"] = PushTargets(store)
        automation.always = True  # which entities are pushed is data

    def on_event(self, run: Any, event: Any) -> None:
        store: Store | None = run.automation.parts.get(self.name)
        if store is None:
            return
        targets: PushTargets = run.automation.parts[f"{self.name}.push"]
        if event.entity.name == store.configs:
            targets.invalidate()
            run.after_commit.append(targets.invalidate)
            if event.kind in ("create", "update", "restore") and event.new is not None:
                check_config(event.new, run.snap.catalog, run.snap.functions)
            return
        if event.kind not in ("create", "update"):
            return
        for config_id, config_name in targets.for_entity(run, event.entity.name):
            if run.actor.source == origin(config_name):
                continue  # the connector's own import: no echo
            # once per transaction: a record created and then changed by rules in the same
            # transaction is pushed once (delivery sends it as it is then), not created twice
            once = (f"{CHANNEL}:{config_id}", event.entity.name, event.record_id)
            run.counts[once] += 1
            if run.counts[once] > 1:
                continue
            payload = {"config": config_id, "entity": event.entity.name, "record_id": event.record_id}
            key = outbox_key(CHANNEL, config_id, event.entity.name, event.record_id, event.record.get("version"))
            run.outbox(CHANNEL, payload, key=key, entity=event.entity.name, record_id=event.record_id)


def check_config(values: dict[str, Any], catalog: Catalog, functions: FunctionRegistry) -> None:
    """Refuse (422) a connector whose entity, key, kind, mapping or schedule does not hold."""
    from engine.connectors import kinds

    errors: list[FieldError] = []
    entity = catalog.entities.get(str(values.get("entity")))
    if entity is None or entity.child:
        errors.append(FieldError("entity", f"There is no entity {values.get('entity')!r}."))
    elif values.get("local_key") not in entity.fields:
        errors.append(FieldError("local_key", f"{entity.name} has no field {values.get('local_key')!r}."))
    known = kinds()
    if values.get("kind") not in known:
        errors.append(FieldError("kind", f"Unknown kind {values.get('kind')!r}; one of {', '.join(sorted(known))}."))
    if values.get("schedule") and not croniter.is_valid(str(values["schedule"])):
        errors.append(FieldError("schedule", f"{values['schedule']!r} is not a cron expression (m h dom mon dow)."))
    if entity is not None and not errors:
        try:
            parse_mapping(values.get("mapping"), entity, catalog, functions)
        except TesseraError as exc:
            errors.extend(exc.errors or [FieldError("mapping", exc.detail)])
    if errors:
        raise ValidationError("The connector is not valid", errors)


COMPONENT = ConnectorsComponent()
