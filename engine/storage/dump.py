"""Table-level dump and load for backups: rows as JSON values, exactly, on every backend.

A backup is a copy of the database, not a series of record writes: ids, versions,
timestamps, trashed rows and the engine's own tables must come back as they were, with
no rule, audit entry or event of their own. So this module reads and writes whole tables
with SQLAlchemy Core, below ``Records`` (engine.dataio.backup and .restore are its only
callers).

Values are written in one canonical form whatever the source dialect, so that the same
data dumped from SQLite and from PostgreSQL gives the same bytes (and checksums): instants
as ISO 8601 in UTC, decimals without trailing zeros (``12.7``, never ``12.70``), JSON with
sorted keys, rows sorted by primary key in byte order (``COLLATE "C"`` on PostgreSQL).

Foreign keys: links may form cycles (a contract's renewal deal, the deal's contract) and
point into their own table (a parent account). Such columns are *deferred*: rows are
inserted with them empty and the values set once every row exists, so loading needs no
privilege to switch constraints off on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from engine.storage import system_tables as st

#: engine tables a backup leaves out: the metadata version row (a restore starts its own)
#: and Alembic's revision (recorded in the manifest; a restore upgrades to its own head)
SKIPPED_SYSTEM_TABLES = frozenset({st.meta_state.name, "tessera_alembic_version"})

#: how a JSON ``null`` stored in a JSON column is told apart from SQL NULL in a dump
JSON_NULL = {"$type": "json-null"}
BATCH = 1000
_NULL_FLAG = "__tessera_sql_null__"


def _kind(type_: sa.types.TypeEngine[Any]) -> str:
    """The value family of a column type: datetime, date, decimal, json or plain."""
    if isinstance(type_, sa.TypeDecorator):
        type_ = type_.impl_instance
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    if isinstance(type_, sa.Date):
        return "date"
    if isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float):
        return "decimal"
    return "plain"


def decimal_text(value: Decimal) -> str:
    """``12.70`` and ``12.7`` as ``12.7``; ``1E+2`` as ``100``: one spelling per number."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def encode(kind: str, value: Any) -> Any:
    """A column value as a JSON value (None stays None)."""
    if value is None:
        return None
    if kind == "datetime":
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if kind == "date":
        return value.isoformat()
    if kind == "decimal":
        return decimal_text(value if isinstance(value, Decimal) else Decimal(repr(value)))
    return value


def decode(kind: str, value: Any) -> Any:
    """The column value for a dumped JSON value; a JSON ``null`` becomes ``sa.JSON.NULL``."""
    if value is None:
        return None
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "json" and value == JSON_NULL:
        return sa.JSON.NULL
    return value


def dump_line(row: dict[str, Any]) -> bytes:
    """One row as a canonical JSON line (sorted keys, no spaces, UTF-8)."""
    return (json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


@dataclass
class TablePlan:
    """One table to dump or load: its columns and the foreign-key columns loaded last."""

    table: sa.Table
    kinds: dict[str, str]
    deferred: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.table.name


def _sorted(tables: list[sa.Table]) -> tuple[list[sa.Table], set[tuple[str, str]]]:
    """Tables in foreign-key order, and the (table, column) pairs whose keys had to be cut."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*cycle", category=sa.exc.SAWarning)
        warnings.filterwarnings("ignore", message="Cannot correctly sort", category=sa.exc.SAWarning)
        ordered = sa.schema.sort_tables_and_constraints(tables)
    result: list[sa.Table] = []
    cut: set[tuple[str, str]] = set()
    for table, constraints in ordered:
        if table is not None:
            result.append(table)
            continue
        for constraint in constraints:
            if constraint.table is not None:
                cut.update((constraint.table.name, c.name) for c in constraint.columns)
    return result, cut


def table_plans(entity_tables: Iterable[sa.Table]) -> list[TablePlan]:
    """The engine's tables, then the entity tables in foreign-key order (parents first)."""
    system = [t for t in st.system_metadata.sorted_tables if t.name not in SKIPPED_SYSTEM_TABLES]
    ordered, cut = _sorted(list(entity_tables))
    plans = [TablePlan(t, {c.name: _kind(c.type) for c in t.columns}) for t in system]
    for table in ordered:
        deferred = [
            c.name
            for c in table.columns
            if "id" in table.c
            and not c.primary_key
            and (any(fk.column.table is table for fk in c.foreign_keys) or (table.name, c.name) in cut)
        ]
        plans.append(TablePlan(table, {c.name: _kind(c.type) for c in table.columns}, deferred))
    return plans


def _order_by(conn: Connection, table: sa.Table) -> list[Any]:
    """Primary key order, in bytes on every backend (PostgreSQL's collation may differ)."""
    keys = list(table.primary_key.columns) or list(table.columns)
    if conn.dialect.name != "postgresql":
        return keys
    return [c.collate("C") if _kind(c.type) == "plain" and isinstance(c.type, sa.String) else c for c in keys]


def read_rows(conn: Connection, plan: TablePlan, present: set[str]) -> Iterator[dict[str, Any]]:
    """Every row of a table as canonical JSON values, in primary-key order.

    ``present`` is the set of the table's columns in the database: an older database may
    lack a column the code knows, and columns no field uses any more are left out."""
    columns = [c for c in plan.table.columns if c.name in present]
    flags = [c.is_(None).label(_NULL_FLAG + c.name) for c in columns if plan.kinds[c.name] == "json"]
    query = sa.select(*columns, *flags).order_by(*_order_by(conn, plan.table))
    result = conn.execution_options(yield_per=BATCH).execute(query)
    for row in result.mappings():
        out: dict[str, Any] = {}
        for column in columns:
            kind, value = plan.kinds[column.name], row[column.name]
            if kind == "json" and value is None and not row[_NULL_FLAG + column.name]:
                out[column.name] = JSON_NULL
            else:
                out[column.name] = encode(kind, value)
        yield out


def _load_type(kind: str, type_: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    if kind == "json":  # None is SQL NULL; a stored JSON null is passed as sa.JSON.NULL
        return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    return type_


class TableLoader:
    """Inserts dumped rows of one table in batches, holding back deferred columns."""

    def __init__(self, conn: Connection, plan: TablePlan, columns: list[str]):
        self.conn, self.plan = conn, plan
        known = {c.name: c for c in plan.table.columns}
        self.columns = columns
        self.target = sa.table(plan.name, *(sa.column(n, _load_type(plan.kinds[n], known[n].type)) for n in columns))
        self.batch: list[dict[str, Any]] = []
        self.later: dict[str, list[dict[str, Any]]] = {name: [] for name in plan.deferred if name in columns}
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        values = {name: decode(self.plan.kinds[name], row.get(name)) for name in self.columns}
        for name, held in self.later.items():
            if values[name] is not None:
                held.append({"_key": values["id"], "_value": values[name]})
                values[name] = None
        self.batch.append(values)
        if len(self.batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            self.conn.execute(self.target.insert(), self.batch)
            self.count += len(self.batch)
            self.batch = []

    def finish(self) -> None:
        """Set the deferred foreign keys, once every table has its rows (call last)."""
        for name, values in self.later.items():
            column = self.target.c[name]
            for start in range(0, len(values), BATCH):
                self.conn.execute(
                    self.target.update()
                    .where(self.target.c.id == sa.bindparam("_key"))
                    .values({column: sa.bindparam("_value")}),
                    values[start : start + BATCH],
                )


def reset_sequences(conn: Connection, tables: Iterable[sa.Table]) -> None:
    """Move PostgreSQL sequences of integer keys past the loaded rows (ids are UUIDs, so
    only a serial key such as ``tessera_meta_state.id`` has one)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
            ).scalar()
            if sequence:
                highest = f'SELECT COALESCE(MAX("{column.name}"), 0) + 1 FROM "{table.name}"'  # nosec B608
                conn.execute(sa.text(f"SELECT setval(:seq, ({highest}), false)"), {"seq": sequence})


def foreign_key_problems(conn: Connection) -> list[str]:
    """Rows whose foreign key points nowhere (SQLite, loaded with its checks switched off)."""
    if conn.dialect.name != "sqlite":
        return []
    rows = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    return [f"{row[0]} row {row[1]} -> {row[2]}" for row in rows[:5]]


def existing_columns(conn: Connection) -> dict[str, set[str]]:
    """Table name -> its column names, as the database has them."""
    inspector = sa.inspect(conn)
    return {name: {c["name"] for c in inspector.get_columns(name)} for name in inspector.get_table_names()}
