"""Loading the generated rows into the bench schema with PostgreSQL ``COPY`` for
``bench/seed_large.py``: the secondary indexes and foreign keys of the loaded tables are
dropped for the load and created again afterwards from their own definitions."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from seed_rows import SEED, Generator  # noqa: E402

from engine.automation.rollups import function_of  # noqa: E402
from engine.meta.model import EntityDef  # noqa: E402
from engine.workspace import Workspace  # noqa: E402


def row_maker(entity: EntityDef, table: sa.Table) -> tuple[list[str], Callable[[dict[str, Any]], tuple[Any, ...]]]:
    """The table's columns and a function turning a generated dict into a COPY row; a
    column the generator left out gets the field's literal default, 0 for an empty
    count/sum roll-up, else NULL."""
    columns = [c.name for c in table.columns]
    fallback: dict[str, Any] = {}
    for fd in entity.column_fields():
        default = fd.opt("default")
        if fd.is_rollup:
            fallback[fd.name] = 0 if function_of(fd) in ("count", "sum") else None
        elif default is not None and not (isinstance(default, str) and default.startswith("=")):
            fallback[fd.name] = default
    missing = object()

    def make(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(v if (v := row.get(c, missing)) is not missing else fallback.get(c) for c in columns)

    return columns, make


def constraints(conn: Any, table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(name, CREATE INDEX ...) of the table's secondary indexes and (name, definition) of
    its foreign keys."""
    indexes = conn.execute(
        sa.text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() "
            "AND i.tablename = :t AND i.indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u'))"
        ),
        {"t": table},
    ).all()
    fks = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f'"
        ),
        {"t": table},
    ).all()
    return [tuple(r) for r in indexes], [tuple(r) for r in fks]  # type: ignore[misc]


def load(ws: Workspace, scale: float, chunk: int, owners: list[str], agents: list[str]) -> dict[str, dict[str, float]]:
    snap = ws.snapshot()
    catalog = snap.catalog
    entities = ("account", "contact", "opportunity", "ticket", "activity")
    makers = {e: row_maker(catalog.entities[e], snap.tables.main(e)) for e in entities}
    stats = {e: {"rows": 0.0, "generate": 0.0, "copy": 0.0, "indexes": 0.0} for e in entities}
    gen = Generator(catalog, owners, agents, random.Random(SEED))
    total = round(1_000_000 * scale)
    raw = ws.db.raw_connection()
    try:
        with ws.db.connect() as conn:
            saved = {e: constraints(conn, e) for e in entities}
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            for e in entities:
                for name, _ in saved[e][1]:
                    cur.execute(f'ALTER TABLE "{e}" DROP CONSTRAINT "{name}"')
                for name, _ in saved[e][0]:
                    cur.execute(f'DROP INDEX "{name}"')
        raw.commit()
        done = 0
        while done < total:
            size = min(chunk, total - done)
            started = time.perf_counter()
            rows = gen.chunk(size)
            per_row = (time.perf_counter() - started) / sum(len(r) for r in rows.values())
            with raw.cursor() as cur:  # type: ignore[attr-defined]
                for e in entities:
                    columns, make = makers[e]
                    stats[e]["generate"] += per_row * len(rows[e])
                    stats[e]["rows"] += len(rows[e])
                    started = time.perf_counter()
                    names = ", ".join(f'"{c}"' for c in columns)
                    with cur.copy(f'COPY "{e}" ({names}) FROM STDIN') as copy:
                        for row in rows[e]:
                            copy.write_row(make(row))
                    stats[e]["copy"] += time.perf_counter() - started
            raw.commit()
            done += size
            print(f"  {done:,} / {total:,} accounts", flush=True)
        with raw.cursor() as cur:  # type: ignore[attr-defined]
            for e in entities:
                started = time.perf_counter()
                for _, definition in saved[e][0]:
                    cur.execute(definition)
                for name, definition in saved[e][1]:
                    cur.execute(f'ALTER TABLE "{e}" ADD CONSTRAINT "{name}" {definition}')
                raw.commit()
                stats[e]["indexes"] = time.perf_counter() - started
            for year, value in gen.ticket_seq.items():  # later tickets continue the numbering
                cur.execute(
                    "INSERT INTO tessera_series (name, value) VALUES (%s, %s) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (f"ticket.number:TCK-{year:04d}-#", value),
                )
            raw.commit()
    finally:
        raw.close()
    return stats
