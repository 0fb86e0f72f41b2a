"""Where connectors live: the pack document naming their entities, and reading one connector.

The engine names no pack entity. A pack that provides integrations says, in a document of
its ``connectors/`` folder, which of its entities hold the connectors, their sync runs and
their dead-letter rows::

    # metadata/integrations/connectors/store.yaml
    connectors: connector
    runs: sync_run
    failures: sync_failure

The link fields between them are found by their target (the run's link to the connector
entity, the failure's links to both). :func:`compile_store` checks the document with the
rest of the metadata, so ``tessera check`` reports a missing entity or field.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.errors import NotFound
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage.database import read_transaction
from engine.storage.encryption import Unopenable
from engine.storage.ids import is_id

FOLDER = "connectors"
#: the key of a loaded connector's values listing its secrets no configured key opens
UNOPENABLE = "_unopenable"
#: what a connector's name looks like (the pack's ``pattern`` may be stricter)
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
#: fields the engine reads and writes on each entity of the store
CONFIG_FIELDS = ("name", "kind", "direction", "base_url", "entity", "mapping", "local_key", "active")
RUN_FIELDS = ("trigger", "status", "started_at", "finished_at", "created", "updated", "unchanged", "failed", "errors")
FAILURE_FIELDS = ("remote_id", "payload", "reason", "resolved")
#: secret fields opened when a connector is loaded for a sync (never returned by the API)
SECRETS = ("api_key", "password", "client_secret", "webhook_secret")


@dataclass(frozen=True)
class Store:
    """The entities (and link fields) of one workspace's connectors."""

    configs: str
    runs: str
    failures: str
    #: the run's link to its connector
    run_link: str
    #: the failure's links to its connector and to its run
    failure_link: str
    failure_run: str | None


def _link_to(entity: EntityDef, target: str) -> str | None:
    for fd in entity.fields.values():
        if fd.type == "link" and fd.opt("to") == target:
            return fd.name
    return None


def compile_store(catalog: Catalog, problems: Problems) -> Store | None:
    """The store a pack declares (at most one), or None when no pack provides connectors."""
    found: Store | None = None
    for _pack, doc in catalog.documents.get(FOLDER, []):
        data = doc.data
        if not isinstance(data, dict) or set(data) != {"connectors", "runs", "failures"}:
            problems.add(doc.location([]), "a connectors document names exactly: connectors, runs, failures")
            continue
        if found is not None:
            problems.add(doc.location([]), "connectors are already stored by another pack")
            continue
        entities = {}
        for key, fields in (("connectors", CONFIG_FIELDS), ("runs", RUN_FIELDS), ("failures", FAILURE_FIELDS)):
            entity = catalog.entities.get(str(data[key]))
            if entity is None:
                problems.add(doc.location([key]), f"there is no entity {data[key]!r}")
                continue
            missing = [f for f in fields if f not in entity.fields]
            if missing:
                problems.add(doc.location([key]), f"{entity.name} lacks the field(s) {', '.join(missing)}")
                continue
            entities[key] = entity
        if len(entities) < 3:
            continue
        configs, runs, failures = entities["connectors"], entities["runs"], entities["failures"]
        run_link = _link_to(runs, configs.name)
        failure_link = _link_to(failures, configs.name)
        if run_link is None or failure_link is None:
            problems.add(doc.location([]), f"{runs.name} and {failures.name} need a link to {configs.name}")
            continue
        found = Store(configs.name, runs.name, failures.name, run_link, failure_link, _link_to(failures, runs.name))
    return found


def store_of(snap: Any) -> Store:
    """The workspace's store; NotFound when no installed pack provides connectors."""
    store: Store | None = snap.automation.parts.get("connectors")
    if store is None:
        raise NotFound("No installed pack provides connectors (install the integrations pack)")
    return store


def load_config(ws: Any, name: str, open_secrets: bool = True) -> dict[str, Any]:
    """A connector's stored values by name (or id), its secrets opened for the engine's own use."""
    snap = ws.snapshot()
    store = store_of(snap)
    if not NAME.fullmatch(name) and not is_id(name):  # nothing else can match (and NUL bytes upset SQL)
        raise NotFound(f"There is no connector {name[:100]!r}")
    table = snap.tables.main(store.configs)
    with read_transaction(ws.db) as conn:
        row = conn.execute(
            sa.select(table).where(sa.or_(table.c.name == name, table.c.id == name), table.c.deleted_at.is_(None))
        ).first()
    if row is None:
        raise NotFound(f"There is no connector {name!r}")
    values = dict(row._mapping)
    values[UNOPENABLE] = []
    for key in SECRETS:
        if open_secrets and values.get(key):
            try:
                values[key] = ws.records.cipher.open(values[key])
            except Unopenable as exc:  # sealed under another key: the run says so (see unopenable)
                ws.records.cipher.report_unopenable(store.configs, key, values["id"], exc)
                values[key] = None
                values[UNOPENABLE].append(key)
        elif key in values and not open_secrets:
            values[key] = None
    return values


def unopenable(values: dict[str, Any]) -> str | None:
    """Why a loaded connector cannot be used, when a secret of it does not open (as after a
    restore under another TESSERA_SECRET_KEY); None when every secret opened. (``load_config``
    logged it, once per secret field: a sender retrying a webhook must not fill the log.)"""
    keys = values.get(UNOPENABLE)
    if not keys:
        return None
    problem = (
        f"the connector {values['name']!r} cannot open its {' and '.join(keys)}: it was sealed under another"
        " TESSERA_SECRET_KEY; set that key in TESSERA_SECRET_KEY_PREVIOUS, or enter the value again"
    )
    return problem


def active_configs(ws: Any, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every active connector's stored values (secrets still sealed): for schedules."""
    snap = ws.snapshot()
    store: Store | None = snap.automation.parts.get("connectors")
    if store is None:
        return []
    table = snap.tables.main(store.configs)
    with read_transaction(ws.db) as conn:
        rows = conn.execute(
            sa.select(table).where(table.c.active.is_(True), table.c.deleted_at.is_(None)).order_by(table.c.name)
        ).all()
    return [dict(r._mapping) for r in rows]
