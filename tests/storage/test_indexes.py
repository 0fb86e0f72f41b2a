"""Indexes a pack declares (system fields, descending columns) and the one of the default
sort: created on install, added to an existing database by a migration, stable afterwards,
and used by the list queries they are meant for (query plans on both backends)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.errors import MetadataError
from tests.storage.test_migrate import workspace_for, write_widget

FIELDS = """
name: {type: string, max_length: 100}
due_on: {type: date}
done: {type: bool}
"""
INDEXES = """
list: {sort: -due_on}
indexes:
  - [owner, -due_on]
  - [owner, done, due_on]
"""


def index_columns(ws: Any, table: str) -> dict[str, list[tuple[str, bool]]]:
    """Index name -> [(column, descending)] as the database reports it."""
    out = {}
    with ws.db.connect() as conn:
        if ws.db.dialect.name == "sqlite":
            for row in conn.exec_driver_sql(f"PRAGMA index_list('{table}')").all():
                info = conn.exec_driver_sql(f"PRAGMA index_xinfo('{row[1]}')").all()
                out[row[1]] = [(c[2], bool(c[3])) for c in info if c[5]]  # key columns only
        else:
            for ix in sa.inspect(conn).get_indexes(table):
                sorting = ix.get("column_sorting", {})
                out[ix["name"]] = [(c, "desc" in sorting.get(c, ())) for c in ix["column_names"]]
    return out


def plan_of(ws: Any, sql: str, params: Any, *disabled: str) -> str:
    with ws.db.connect() as conn:
        if ws.db.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
            return "\n".join(str(r[-1]) for r in rows)
        for scan in ("seqscan", *disabled):  # a few rows: make the planner show its index choice
            conn.exec_driver_sql(f"SET enable_{scan} = off")
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params).all())


def list_statement(ws: Any, params: dict[str, str]) -> tuple[str, Any]:
    """The SQL of the first page of a widget list, as the data-access layer sends it."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM widget" in statement:
            seen.append((statement, parameters))

    sa.event.listen(ws.db, "before_cursor_execute", capture)
    try:
        ws.records.list(SYSTEM, "widget", params)
    finally:
        sa.event.remove(ws.db, "before_cursor_execute", capture)
    return seen[0]


@pytest.fixture
def widgets(database_url: str, tmp_path: Path) -> Any:
    write_widget(tmp_path / "packs", FIELDS, INDEXES)
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    day = dt.date(2026, 1, 1)
    for i in range(30):
        ws.records.create(SYSTEM, "widget", {"name": f"w{i}", "due_on": (day + dt.timedelta(days=i)).isoformat()})
    ws.records.create(SYSTEM, "widget", {"name": "no date"})
    yield ws
    ws.close()


def test_declared_and_sort_indexes_are_created_with_their_direction(widgets):
    found = index_columns(widgets, "widget")
    assert found["ix_widget_owner_due_on_desc"] == [("owner", False), ("due_on", True)]
    assert found["ix_widget_owner_done_due_on"] == [("owner", False), ("done", False), ("due_on", False)]
    assert found["ix_widget_due_on_desc_id_desc"] == [("due_on", True), ("id", True)]
    assert not widgets.install(dry_run=True).steps  # the database matches: nothing to migrate


def test_a_descending_list_is_read_in_index_order_with_empty_values_last(widgets):
    page = widgets.records.list(SYSTEM, "widget", {"limit": "40"})
    dues = [r["due_on"] for r in page.data]
    assert dues[0] == "2026-01-30" and dues[-1] is None
    sql, params = list_statement(widgets, {"limit": "5"})
    plan = plan_of(widgets, sql, params)
    assert "ix_widget_due_on_desc_id_desc" in plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan.replace("Incremental Sort", "")


def test_an_own_scope_list_uses_the_owner_index(widgets):
    sql, params = list_statement(widgets, {"limit": "5", "filter": f'owner == "{"0" * 26}" and done == false'})
    assert "CAST" not in sql.upper()  # a bool compared with a literal stays indexable
    assert "ix_widget_owner_" in plan_of(widgets, sql, params)  # one of the two declared for it


def test_an_index_added_to_a_pack_is_an_additive_migration(database_url, tmp_path):
    write_widget(tmp_path / "packs", FIELDS)
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    ws.records.create(SYSTEM, "widget", {"name": "kept", "due_on": "2026-03-01"})
    ws.close()
    write_widget(tmp_path / "packs", FIELDS, INDEXES)
    ws = workspace_for(database_url, tmp_path)
    plan = ws.install(dry_run=True)
    added = {s.name for s in plan.steps if s.action == "add_index"}
    assert {"ix_widget_owner_due_on_desc", "ix_widget_due_on_desc_id_desc"} <= added
    assert all(not s.destructive for s in plan.steps)
    ws.install()
    assert "ix_widget_owner_due_on_desc" in index_columns(ws, "widget")
    assert ws.records.list(SYSTEM, "widget", {}).data[0]["name"] == "kept"
    ws.close()


def test_an_index_on_an_unknown_field_is_refused_with_its_name(database_url, tmp_path):
    write_widget(tmp_path / "packs", FIELDS, "indexes:\n  - [owner, -due_by]\n")
    with pytest.raises(MetadataError, match="names 'due_by', which is not a stored or system field"):
        workspace_for(database_url, tmp_path)


def test_search_fields_get_a_trigram_index_on_postgresql_that_search_uses(widgets):
    found = index_columns(widgets, "widget")
    if widgets.db.dialect.name == "sqlite":
        assert not [name for name in found if name.endswith("_trgm")]  # SQLite reads the table
        return
    assert "ix_widget_name_trgm" in found
    sql, params = list_statement(widgets, {"filter": 'name ~ "W1"'})
    # on a few rows the planner prefers walking the sort index; at scale it takes the trigrams
    assert "ix_widget_name_trgm" in plan_of(widgets, sql, params, "indexscan")
    assert [
        r["name"] for r in widgets.records.list(SYSTEM, "widget", {"filter": 'name ~ "W1"', "sort": "name"}).data
    ] == [f"w{i}" for i in sorted([1, *range(10, 20)], key=str)]
