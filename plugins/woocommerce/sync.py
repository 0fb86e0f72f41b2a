"""The pull sync: products, then orders, changed in the shop since the last sync.

Each shop object is applied on its own (:mod:`plugins.woocommerce.mapping`): a bad one is
listed with its reason in the shop's ``last_sync_result``, kept in the dead-letter list
(:mod:`plugins.woocommerce.failures`) until it imports, and the others still come in.
When the shop cannot be read (down, refusing the keys), the sync stops, the shop record
says why, and ``last_sync_at`` stays where it was, so the next run asks for the same
changes again. Running a sync twice imports nothing twice (upserts by ``woo_id``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from engine.actor import SYSTEM
from engine.errors import NotFound, TesseraError
from plugins.woocommerce.failures import open_failures, record_failure, resolve
from plugins.woocommerce.mapping import BadShopData, apply_order, apply_product, describe
from plugins.woocommerce.store import STORE_ENTITY, ShopError, Store, stores

#: shop objects pulled, in this order (orders need their products)
RESOURCES = (("products", apply_product), ("orders", apply_order))


@dataclass
class SyncResult:
    store: str
    imported: dict[str, int] = field(default_factory=lambda: {"products": 0, "orders": 0})
    errors: list[str] = field(default_factory=list)
    failure: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.failure else "partial" if self.errors else "ok"

    def summary(self) -> str:
        counts = ", ".join(f"{n} {what}" for what, n in self.imported.items())
        lines = [f"{self.status}: {counts}"]
        if self.failure:
            lines.append(f"stopped: {self.failure}")
        lines += [f"not imported: {error}" for error in self.errors]
        return "\n".join(lines)


def sync_store(ws: Any, store: Store, since: dt.datetime | None) -> SyncResult:
    """Pull what changed since ``since`` (everything when None) from one shop."""
    result = SyncResult(store.name)
    params = {"modified_after": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")} if since else {}
    waiting = open_failures(ws, store.id)
    try:
        for resource, apply in RESOURCES:
            for page in store.pages(resource, params, ws.config.http_timeout):
                for data in page:
                    try:
                        if not isinstance(data, dict):
                            raise BadShopData(f"a {resource} entry is not an object")
                        apply(ws, data)
                    except (BadShopData, TesseraError) as exc:
                        result.errors.append(f"{resource} {describe(data)}: {exc}")
                        record_failure(ws, store.id, resource, data, str(exc))
                        continue
                    result.imported[resource] += 1
                    if (resource, str(data.get("id"))) in waiting:
                        resolve(ws, store.id, resource, data)
    except ShopError as exc:
        result.failure = str(exc)
    return result


def sync(ws: Any, name: str | None = None) -> list[SyncResult]:
    """Sync the active shops (or the one called ``name``) and record the outcome on each."""
    chosen = stores(ws, name)
    if name is not None and not chosen:
        raise NotFound(f"There is no WooCommerce shop {name!r}")
    results = []
    for store in chosen:
        if not store.active and name is None:
            continue
        started = dt.datetime.now(dt.UTC)
        since = _last_sync(ws, store)
        result = sync_store(ws, store, since)
        values: dict[str, Any] = {"last_sync_status": result.status, "last_sync_result": result.summary()[:10_000]}
        if result.failure is None:
            values["last_sync_at"] = started.isoformat()
        record_on_store(ws, store, values)
        results.append(result)
    return results


def _last_sync(ws: Any, store: Store) -> dt.datetime | None:
    value = ws.records.get(SYSTEM, STORE_ENTITY, store.id).get("last_sync_at")
    if value is None:
        return None
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def record_on_store(ws: Any, store: Store, values: dict[str, Any]) -> None:
    """Write the sync's outcome on the shop record (read-only fields: as the system)."""
    with ws.records.acting(SYSTEM) as run:
        run.update(STORE_ENTITY, store.id, values, "woocommerce sync")


def sync_job(ws: Any, args: dict[str, Any]) -> None:
    """The job ``woocommerce_sync`` (``enqueue: {job: woocommerce_sync, args: {store: NAME}}``
    or a schedule): pull the active shops, or the one named."""
    sync(ws, args.get("store") if isinstance(args, dict) else None)
