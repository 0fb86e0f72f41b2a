"""The records a dashboard shows besides its aggregates: the rows of a ``table`` widget and
the titles of the users or linked records a chart is grouped by.

A table's rows are shared like the aggregates (``engine.dashboard_cache.shared_for``) when
every column it shows is a plain stored field: they then depend only on the SQL the reader
would send, whose fingerprint is the key. A column computed at read time or a secret one
may differ between readers with the same SQL, so such a table is read for each viewer.
"""

from __future__ import annotations

import re
from typing import Any

from engine.actor import Actor
from engine.dashboard_cache import shared_for
from engine.dashboard_definitions import TABLE_ROWS, Widget, column_kind
from engine.errors import TesseraError
from engine.meta.model import EntityDef
from engine.storage.derivation import label_text
from engine.storage.listing import SYSTEM_TYPES

ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def dsl_text(text: str) -> str:
    """A DSL text literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def titles(ws: Any, actor: Actor, entity: EntityDef, name: str, keys: list[Any]) -> dict[Any, str]:
    """Names of the users or linked records a chart is grouped by (ids the reader may not read stay ids)."""
    kind = column_kind(entity, name)
    fd = entity.fields.get(name)
    target = "user" if kind == "user" else (fd.opt("to") if fd is not None and kind == "link" else None)
    ids = [k for k in keys if isinstance(k, str) and ID.match(k)]
    if not target or not ids:
        return {}
    snap = ws.snapshot()
    target_entity = snap.catalog.entities.get(target)
    if target_entity is None:
        return {}
    title = target_entity.title_field
    condition = "id in (" + "".join(f"{dsl_text(i)}, " for i in ids) + ")"  # ("a", ) is a list of one
    try:
        rows = ws.records.list(actor, target, {"filter": condition, "fields": f"id,{title}", "limit": "500"}).data
    except TesseraError:
        return {}
    return {r["id"]: str(r.get(title) or r["id"]) for r in rows}


def table(
    ws: Any, actor: Actor, entity: EntityDef, widget: Widget, condition: str | None, shared: tuple[bool, list[Any]]
) -> dict[str, Any]:
    """A table widget's columns and rows. ``shared`` is (refresh, the shared answers used so
    far), as for the aggregates."""
    assert widget.entity is not None
    readable = ws.records.catalog_for(actor).entities[entity.name].fields  # hidden fields stay out
    shown = [c for c in widget.columns if c in readable or c in SYSTEM_TYPES]
    params = {"fields": ",".join(("id", *shown)), "limit": str(widget.limit or TABLE_ROWS)}
    if condition:
        params["filter"] = condition
    if widget.sort:
        params["sort"] = widget.sort

    def read() -> dict[str, Any]:
        return {"rows": ws.records.list(actor, entity.name, params).data}

    if _plain(entity, shown):
        refresh, kept = shared
        scope = ws.records.aggregate_key(actor, entity.name, [{"filter": condition}] if condition else [])
        answer = shared_for(ws).figures(
            ("rows", scope, *sorted(params.items())), frozenset({entity.name}), read, refresh
        )
        kept.append(answer)
    else:
        answer = read()
    columns = []
    for column in shown:
        fd = entity.fields.get(column)
        columns.append({"name": column, "label": label_text(fd.label, "en") if fd else column})
    return {
        "columns": columns,
        "rows": [
            {"id": r["id"], "url": f"/app/{entity.name}/{r['id']}", "values": [r.get(c) for c in shown]}
            for r in answer["rows"]
        ],
    }


def _plain(entity: EntityDef, shown: list[str]) -> bool:
    """Every column a stored, non-secret field: the same SQL gives every reader the same rows."""
    for name in shown:
        fd = entity.fields.get(name)
        if fd is None:
            if name not in SYSTEM_TYPES:
                return False
        elif not fd.has_column or fd.type == "secret":
            return False
    return True
