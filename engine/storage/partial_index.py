"""Partial indexes: an index declared with ``where:`` covers only the rows matching a DSL
condition over the entity's own stored fields.

A list or widget over a small part of a large table (the open tickets whose SLA is breached,
among a million mostly closed ones) is then read from an index of just those rows. The
condition is compiled to SQL like any filter; PostgreSQL uses the index for a query whose own
condition implies it (written the same way, e.g. ``status not in ("resolved", "closed")`` in
both). SQLite only matches literal terms, and the engine sends values as parameters, so there
the index exists but lists do not use it. An index condition must read only the record's own
columns and give the same SQL whoever reads and whenever: no ``now()``, ``today()`` or
``has_role()``, no links.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.sql.util import find_tables

from engine.dsl import compile_expression
from engine.dsl.sqlparts import SqlContext
from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, IndexDef

_DIALECTS = ("postgresql", "sqlite")
_ANY_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: what a SQL context tells about the moment and the reader: an index condition reads none
_PERSONAL = frozenset({"now", "today", "user_id", "roles", "teams", "team_ids", "team_members"})


@dataclass
class _Watched(SqlContext):
    """A SQL context that notes which of :data:`_PERSONAL` the compiler read."""

    def __getattribute__(self, name: str) -> Any:
        if name in _PERSONAL:
            object.__getattribute__(self, "__dict__").setdefault("_read", set()).add(name)
        return object.__getattribute__(self, name)

    @property
    def personal(self) -> set[str]:
        return set(self.__dict__.get("_read", ()))


def suffix(index: IndexDef) -> tuple[str, ...]:
    """The part of a partial index's name telling its condition apart (a new condition is
    a new index, so ``tessera migrate`` replaces it)."""
    if not index.where:
        return ()
    return ("where", hashlib.blake2b(index.where.encode(), digest_size=4).hexdigest())


def predicates(tables: Any, catalog: Catalog, entity: EntityDef, index: IndexDef) -> dict[str, Any]:
    """``postgresql_where`` and ``sqlite_where`` of ``index``: its condition in each dialect's SQL.

    Raises ``DslError`` when the condition is not a SQL condition over the entity's own
    columns that reads the same for everyone at any time."""
    assert index.where is not None
    where = f"{entity.name}.indexes[{', '.join(index.fields)}].where"
    expr = compile_expression(index.where, entity, catalog, where=where, sql=True, expect="bool")
    table = tables.main(entity.name)
    out = {}
    for name in _DIALECTS:
        ctx = _Watched(name, _ANY_MOMENT, _ANY_MOMENT.date(), None, frozenset(), frozenset())
        clause = expr.to_sql(tables, ctx, table)
        if ctx.personal:
            raise DslError("an index condition cannot depend on the time or the reader (now(), has_role()...)")
        if set(find_tables(clause)) - {table}:
            raise DslError("an index condition reads only the record's own fields, not links")
        out[f"{name}_where"] = clause
    return out


def problem(entity: EntityDef, index: IndexDef, exc: Exception) -> str:
    """The one-line report of a condition :func:`predicates` refused."""
    errors = getattr(exc, "errors", None) or []
    reason = "; ".join(e.message for e in errors) or str(getattr(exc, "detail", exc))
    return f"{entity.name}: index {list(index.fields)} where {index.where!r}: {reason}"
