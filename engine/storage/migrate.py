"""Schema evolution: bring the database to the metadata, additive changes online.

The plan comes from Alembic's autogenerate comparison of the live database with the
tables ``build_tables`` derives from the catalog. Each step is classified:

* additive (new table, column, index, foreign key, a wider type): applied online;
* destructive (dropping a table or column, narrowing a type, NOT NULL on existing data):
  refused unless the caller passes ``allow_destructive``.

Columns and tables that no field or entity uses any more are *orphans*: reported in every
plan and dropped only with ``allow_destructive``. The engine's own ``tessera_*`` tables
are Alembic's (``migrations/``) and never part of this diff.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import produce_migrations
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.operations import ops as alembic_ops
from sqlalchemy.engine import Connection

from engine.errors import DestructiveChange
from engine.storage import search, summaries
from engine.storage.database import advisory_lock
from engine.storage.system_tables import SYSTEM_TABLE_NAMES
from engine.storage.tables import Tables

SCHEMA_LOCK = "tessera:schema"


@dataclass
class Step:
    action: str  # add_table add_column add_index drop_index add_foreign_key alter_type drop_column drop_table ...
    table: str
    name: str
    destructive: bool
    detail: str = ""
    op: Any = field(default=None, repr=False)

    def __str__(self) -> str:
        mark = "!" if self.destructive else "+"
        name = f".{self.name}" if self.name else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{mark} {self.action} {self.table}{name}{detail}"


@dataclass
class Plan:
    steps: list[Step]

    @property
    def additive(self) -> list[Step]:
        return [s for s in self.steps if not s.destructive]

    @property
    def destructive(self) -> list[Step]:
        return [s for s in self.steps if s.destructive]

    @property
    def orphans(self) -> list[str]:
        return [
            f"{s.table}.{s.name}" if s.name else s.table
            for s in self.steps
            if s.action in ("drop_column", "drop_table")
        ]

    def __bool__(self) -> bool:
        return bool(self.steps)

    def describe(self) -> list[str]:
        return [str(s) for s in self.steps] or ["(the database matches the metadata)"]


def upgrade_system_tables(conn: Connection) -> None:
    """Run the engine's own Alembic revisions on ``conn``."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[2] / "migrations"))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table":
        return name not in SYSTEM_TABLE_NAMES and not (name or "").startswith(("sqlite_", summaries.PREFIX))
    if type_ == "index":
        return not (name or "").endswith(search.SUFFIX)  # planned by engine.storage.search
    return True


def _type_change(op: alembic_ops.AlterColumnOp) -> tuple[bool, str]:
    """Is the type change of ``op`` a widening (safe)? Returns (destructive, detail)."""
    old, new = op.existing_type, op.modify_type
    detail = f"{old} -> {new}"
    if isinstance(old, sa.String) and isinstance(new, sa.Text):
        return False, detail
    if isinstance(old, sa.String) and isinstance(new, sa.String) and not isinstance(old, sa.Text):
        if isinstance(new, sa.Text) or (new.length or 10**9) >= (old.length or 10**9):
            return False, detail
    if isinstance(old, sa.Integer) and isinstance(new, sa.BigInteger):
        return False, detail
    if isinstance(old, sa.Numeric) and isinstance(new, sa.Numeric) and not isinstance(old, sa.Float):
        if (new.precision or 0) >= (old.precision or 0) and (new.scale or 0) >= (old.scale or 0):
            return False, detail
    return True, detail


def _classify(op: Any, table: str) -> list[Step]:
    if isinstance(op, alembic_ops.AddColumnOp):
        return [Step("add_column", table, op.column.name, False, str(op.column.type), op)]
    if isinstance(op, alembic_ops.DropColumnOp):
        return [Step("drop_column", table, op.column_name, True, "orphan column (no field uses it)", op)]
    if isinstance(op, alembic_ops.CreateIndexOp):
        return [Step("add_index", table, str(op.index_name or ""), False, "unique" if op.unique else "", op)]
    if isinstance(op, alembic_ops.DropIndexOp):
        return [Step("drop_index", table, str(op.index_name or ""), False, "no longer declared", op)]
    if isinstance(op, alembic_ops.CreateForeignKeyOp):
        return [Step("add_foreign_key", table, str(op.constraint_name or ""), False, "", op)]
    if isinstance(op, alembic_ops.DropConstraintOp):
        return [Step("drop_constraint", table, str(op.constraint_name or ""), False, "", op)]
    if isinstance(op, alembic_ops.AlterColumnOp):
        steps = []
        if op.modify_type is not None:
            destructive, detail = _type_change(op)
            steps.append(Step("alter_type", table, op.column_name, destructive, detail, op))
        if op.modify_nullable is not None:
            steps.append(
                Step(
                    "alter_nullable",
                    table,
                    op.column_name,
                    op.modify_nullable is False,
                    "NOT NULL" if op.modify_nullable is False else "NULL",
                    op,
                )
            )
        return steps
    return [Step(type(op).__name__, table, "", True, "unrecognised change", op)]


def _fresh_plan(tables: Tables) -> list[Step]:
    """The steps of a database without entity tables: every table and index is new, as
    autogenerate would find, without its reflection (about 0.5 s on PostgreSQL per install)."""
    steps: list[Step] = []
    for table in tables.metadata.sorted_tables:
        steps.append(Step("add_table", table.name, "", False, "", alembic_ops.CreateTableOp.from_table(table)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            if _include_name(index.name, "index", None):
                op = alembic_ops.CreateIndexOp.from_index(index)
                steps.append(
                    Step("add_index", table.name, str(index.name), False, "unique" if index.unique else "", op)
                )
    return steps


def plan_migration(conn: Connection, tables: Tables) -> Plan:
    with warnings.catch_warnings():
        # links that point at each other (a contract's renewal deal, the deal's contract) form
        # foreign-key cycles; alembic only warns that it cannot sort them, and create_all below
        # breaks them with ALTER TABLE
        warnings.filterwarnings("ignore", message="Cannot correctly sort tables", category=sa.exc.SAWarning)
        fresh = not any(_include_name(name, "table", None) for name in sa.inspect(conn).get_table_names())
        steps = _fresh_plan(tables) if fresh else _compared_steps(conn, tables)
    return Plan(steps + _search_steps(conn, tables))


def _compared_steps(conn: Connection, tables: Tables) -> list[Step]:
    """The steps autogenerate finds comparing the database with the metadata."""
    context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": _include_name})
    script = produce_migrations(context, tables.metadata)
    steps: list[Step] = []
    for op in script.upgrade_ops.ops if script.upgrade_ops else []:
        if isinstance(op, alembic_ops.CreateTableOp):
            steps.append(Step("add_table", op.table_name, "", False, "", op))
        elif isinstance(op, alembic_ops.DropTableOp):
            steps.append(Step("drop_table", op.table_name, "", True, "orphan table (no entity uses it)", op))
        elif isinstance(op, alembic_ops.ModifyTableOps):
            for inner in op.ops:
                steps += _classify(inner, op.table_name)
        else:
            steps += _classify(op, "")
    dropped = {s.table for s in steps if s.action == "drop_table"}
    # an orphan table keeps its indexes until the table itself goes
    return [s for s in steps if not (s.table in dropped and s.action == "drop_index")]


def _search_steps(conn: Connection, tables: Tables) -> list[Step]:
    return [
        Step("add_search_index", tables.search[name][0], name, False, "trigram (global search)")
        for name in search.missing(conn, tables.search)
    ]


def apply_plan(conn: Connection, tables: Tables, plan: Plan, destructive: str = "refuse") -> None:
    """Apply ``plan`` on ``conn`` (inside the caller's transaction).

    ``destructive`` says what to do with destructive steps: ``refuse`` (raise, apply
    nothing), ``skip`` (apply the additive ones; used on start-up and by overlays) or
    ``apply``.
    """
    if destructive == "skip":
        plan = Plan(plan.additive)
    elif plan.destructive and destructive != "apply":
        raise DestructiveChange(
            "The schema change would lose data; review it with 'tessera migrate --plan' and "
            "rerun with --allow-destructive",
            [],
        )
    trigram = [s.name for s in plan.steps if s.action == "add_search_index"]
    plan = Plan([s for s in plan.steps if s.action != "add_search_index"])
    new_tables = [tables.metadata.tables[s.table] for s in plan.steps if s.action == "add_table"]
    created = {t.name for t in new_tables}
    if new_tables:
        # create_all orders tables by their foreign keys and breaks cycles with ALTER
        tables.metadata.create_all(conn, tables=new_tables, checkfirst=True)
    operations = Operations(MigrationContext.configure(conn))
    by_table: dict[str, list[Step]] = {}
    for step in plan.steps:
        if step.action != "add_table" and step.table not in created:  # create_all made their indexes
            by_table.setdefault(step.table, []).append(step)
    sqlite = conn.dialect.name == "sqlite"
    for table_name, steps in by_table.items():
        if any(s.action not in ("add_column", "add_index", "drop_index") for s in steps):
            summaries.drop_for_table(conn, table_name)  # their triggers name the table's columns
        if any(s.action == "drop_table" for s in steps):
            operations.invoke(steps[0].op)
            continue
        needs_batch = sqlite and any(s.action not in ("add_column", "add_index", "drop_index") for s in steps)
        if needs_batch:
            with operations.batch_alter_table(table_name) as batch:
                for step in steps:
                    batch.invoke(step.op)
        else:
            for step in steps:
                operations.invoke(step.op)
    search.create(conn, tables.search, trigram)


def migrate(conn: Connection, tables: Tables, destructive: str = "refuse", dry_run: bool = False) -> Plan:
    """Plan and (unless ``dry_run``) apply, holding the schema lock."""
    advisory_lock(conn, SCHEMA_LOCK)
    plan = plan_migration(conn, tables)
    if not dry_run and plan.steps:
        apply_plan(conn, tables, plan, destructive)
    return plan


#: the engine revision from which field columns store a null as SQL NULL (migrations/versions)
JSON_NULLS_REVISION = "0010"


def clear_json_nulls(conn: Connection) -> int:
    """Turn the JSON ``null`` values of entity tables' JSON columns into SQL NULL; returns
    how many values changed. Before revision 0010 a json or multi_enum field sent as null was
    stored as JSON ``null``, which ``field == null`` does not find. The engine's own tables
    keep theirs (a JSON null may mean something there)."""
    inspector = sa.inspect(conn)
    changed = 0
    for name in inspector.get_table_names():
        if name.startswith(("tessera_", "sqlite_")):
            continue
        columns = [c for c in inspector.get_columns(name) if isinstance(c["type"], sa.JSON)]
        table = sa.table(name, *(sa.column(c["name"]) for c in columns))
        for column in columns:
            target = table.c[column["name"]]
            if conn.dialect.name == "postgresql":
                typeof = "jsonb_typeof" if type(column["type"]).__name__ == "JSONB" else "json_typeof"
                found = getattr(sa.func, typeof)(target) == "null"
            else:
                found = target == sa.literal_column("'null'")
            changed += conn.execute(sa.update(table).where(found).values({column["name"]: None})).rowcount
    return changed
