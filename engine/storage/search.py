"""Searching an entity's records for words, and the trigram indexes that make it fast.

``GET /api/v1/ENTITY?q=WORDS`` (and global search, which asks every entity) finds the records
whose search fields (``search:``, else the title field) contain every word, ignoring case:
the condition :func:`search_filter` writes in the DSL. Matches whose title starts with the
first word come first (:func:`relevance`), then the list order. The condition is
``FIELD ~ "word"``, which the DSL
compiles on PostgreSQL to ``lower(FIELD) LIKE lower('%word%')``. No B-tree index can
answer a substring test, so without help every search reads every table to the end. A GIN
index over the trigrams of ``lower(FIELD)`` (the ``pg_trgm`` extension that ships with
PostgreSQL) answers it from the index: one per search field, named ``ix_TABLE_FIELD_trgm``.

They are planned and applied with the other migration steps (``add_search_index``), but
kept out of Alembic's comparison, which cannot compare such expression indexes. The
extension is created in the ``public`` schema when it is missing; where it cannot be (not
installed, or no right to create it) the indexes are left out and search still works, only
without them. SQLite has no such index: there, search reads the tables.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.dsl import sqlparts as sp
from engine.dsl.parser import string_literal
from engine.dsl.sqlparts import SqlContext
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef

log = logging.getLogger("tessera.storage")

SUFFIX = "_trgm"
TEXT_TYPES = frozenset({"string", "email", "phone", "url", "text", "autonumber"})


def search_fields(entity: EntityDef, hidden: Collection[str] = frozenset()) -> list[str]:
    """The stored text fields global search looks in: ``search:``, else the title field;
    without the fields ``hidden`` from the reader (``ReadContext.hidden``)."""
    names = entity.search or ((entity.title_field,) if entity.title_field else ())
    out = []
    for name in names:
        fd = entity.fields.get(name)
        if fd is not None and fd.type in TEXT_TYPES and fd.has_column and name not in hidden:
            out.append(name)
    return out


def search_filter(entity: EntityDef, query: str, hidden: Collection[str] = frozenset()) -> str | None:
    """The DSL condition matching ``query`` in the entity's search fields (every word, up to
    eight, in one of them); None when the entity has no text to search, or none the reader
    may see: a field ``hidden`` from them is never searched, so a match tells nothing of it."""
    names = search_fields(entity, hidden)
    words = query.split()
    if not names or not words:
        return None
    per_word = ["(" + " or ".join(f"{n} ~ {string_literal(w)}" for n in names) + ")" for w in words[:8]]
    return " and ".join(per_word)


def relevance(
    entity: EntityDef, table: sa.Table, query: str, ctx: SqlContext, hidden: Collection[str] = frozenset()
) -> Any:
    """0 for records whose title (else first search field) starts with the first word, else 1. Ordering by
    it also keeps the planner from walking a sort index through every row of a large table
    to find a few matches (it reads the matches through the trigram indexes, then sorts).
    Fields ``hidden`` from the reader play no part: the order would hint at their values."""
    names = search_fields(entity, hidden)
    column = table.c[entity.title_field if entity.title_field in names else names[0]]
    first = query.split()[0]
    starts = sp.position(ctx, sp.lower(ctx, column), sp.lower(ctx, sa.literal(first, sa.String))) == 1
    return sa.case((starts, 0), else_=1)


def wanted(catalog: Catalog) -> dict[str, tuple[str, str]]:
    """Index name -> (table, column) for every search field of every searchable entity."""
    out = {}
    for entity in catalog.api_entities():
        if entity.system:
            continue
        for name in search_fields(entity):
            out[index_name(entity.name, name)] = (entity.name, name)
    return out


def index_name(table: str, column: str) -> str:
    name = f"ix_{table}_{column}{SUFFIX}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]  # a name, not a secret
    return f"{name[: 63 - 9 - len(SUFFIX)]}_{digest}{SUFFIX}"


def _extension_schema(conn: Connection) -> str | None:
    found = conn.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        )
    ).scalar()
    return str(found) if found is not None else None


def missing(conn: Connection, indexes: dict[str, tuple[str, str]]) -> list[str]:
    """The wanted indexes this PostgreSQL database lacks (none on SQLite, or when the
    extension is neither installed nor available)."""
    if conn.dialect.name != "postgresql" or not indexes:
        return []
    if _extension_schema(conn) is None:
        available = conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar()
        if not available:
            return []
    present = set(
        conn.execute(
            sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND indexname LIKE :p"),
            {"p": "%" + SUFFIX},
        ).scalars()
    )
    return [name for name in indexes if name not in present]


def create(conn: Connection, indexes: dict[str, tuple[str, str]], names: list[str]) -> None:
    """Create the named trigram indexes (and the extension first, when needed)."""
    if not names:
        return
    schema = _extension_schema(conn)
    if schema is None:
        try:
            with conn.begin_nested():
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
        except sa.exc.DBAPIError as exc:
            schema = _extension_schema(conn)  # another session may just have created it
            if schema is None:
                log.warning("global search runs without trigram indexes: cannot create pg_trgm (%s)", exc.orig)
                return
        schema = schema or _extension_schema(conn) or "public"
    prep = conn.dialect.identifier_preparer
    for name in names:
        table, column = indexes[name]
        conn.execute(
            sa.text(
                f"CREATE INDEX IF NOT EXISTS {prep.quote(name)} ON {prep.quote(table)}"
                f" USING gin (lower({prep.quote(column)}) {prep.quote_schema(schema)}.gin_trgm_ops)"
            )
        )
    # the planner knows how selective a LIKE is only from the statistics ANALYZE gathers on
    # the indexed expressions; without them it walks the sort index through every row
    for table in sorted({indexes[name][0] for name in names}):
        conn.execute(sa.text(f"ANALYZE {prep.quote(table)}"))
