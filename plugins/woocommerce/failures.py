"""The dead-letter list of the WooCommerce import: ``woo_sync_failure`` records.

A shop object the pull sync or a webhook could not import is kept with the shop's data and
the reason (one open entry per shop, resource and object id: a repeated failure updates
it). Once the object imports, its open entries are marked resolved. Written as the system
(the fields are read-only for users); administrators and finance read the list.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.storage.database import read_transaction

FAILURE_ENTITY = "woo_sync_failure"
SOURCE = "woocommerce sync"


def woo_id_of(data: Any) -> str | None:
    value = data.get("id") if isinstance(data, dict) else None
    return None if value in (None, "") else str(value)[:64]


def _open_ids(conn: Any, table: Any, store_id: str, resource: str, woo_id: str | None) -> list[str]:
    query = sa.select(table.c.id).where(
        table.c.store == store_id,
        table.c.resource == resource,
        table.c.woo_id.is_(None) if woo_id is None else table.c.woo_id == woo_id,
        table.c.resolved.is_(False),
        table.c.deleted_at.is_(None),
    )
    return [str(i) for i in conn.execute(query).scalars()]


def record_failure(ws: Any, store_id: str, resource: str, data: Any, reason: str, via: str = "sync") -> None:
    """Keep a shop object that could not be imported (``resource``: products or orders)."""
    snap = ws.snapshot()
    if FAILURE_ENTITY not in snap.catalog.entities:
        return
    woo_id = woo_id_of(data)
    values = {"payload": data, "reason": reason[:10_000], "via": via}
    with ws.records.acting(SYSTEM) as run:
        existing = _open_ids(run.conn, snap.tables.main(FAILURE_ENTITY), store_id, resource, woo_id)
        if existing and woo_id is not None:
            run.update(FAILURE_ENTITY, existing[0], values, SOURCE)
        else:
            run.create(FAILURE_ENTITY, {"store": store_id, "resource": resource, "woo_id": woo_id, **values}, SOURCE)


def open_failures(ws: Any, store_id: str) -> set[tuple[str, str]]:
    """The (resource, woo_id) of a shop's open entries (a sync resolves only these)."""
    snap = ws.snapshot()
    if FAILURE_ENTITY not in snap.catalog.entities:
        return set()
    table = snap.tables.main(FAILURE_ENTITY)
    query = sa.select(table.c.resource, table.c.woo_id).where(
        table.c.store == store_id, table.c.resolved.is_(False), table.c.deleted_at.is_(None)
    )
    with read_transaction(ws.db) as conn:
        return {(str(r), str(w)) for r, w in conn.execute(query) if w is not None}


def resolve(ws: Any, store_id: str, resource: str, data: Any) -> None:
    """The object imported after all: its open entries are resolved."""
    snap = ws.snapshot()
    woo_id = woo_id_of(data)
    if FAILURE_ENTITY not in snap.catalog.entities or woo_id is None:
        return
    table = snap.tables.main(FAILURE_ENTITY)
    with read_transaction(ws.db) as conn:
        if not _open_ids(conn, table, store_id, resource, woo_id):
            return
    with ws.records.acting(SYSTEM) as run:
        for failure_id in _open_ids(run.conn, table, store_id, resource, woo_id):
            run.update(FAILURE_ENTITY, failure_id, {"resolved": True}, SOURCE)
