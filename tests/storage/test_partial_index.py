"""Partial indexes (``where:`` on a pack's index): created with their condition on both
backends, stable under ``tessera migrate``, replaced when the condition changes, used by the
lists whose filter implies them, and refused with a one-line reason when the condition
cannot be an index's (the time, the reader, another entity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.errors import MetadataError
from tests.storage.test_indexes import list_statement, plan_of
from tests.storage.test_migrate import workspace_for, write_widget

FIELDS = """
name: {type: string, max_length: 100}
due_on: {type: date}
status: {type: enum, options: [open, pending, closed], default: open}
partner: {type: link, to: widget}
"""


def partial(where: str) -> str:
    return f"indexes:\n  - {{fields: [due_on], where: '{where}'}}\n"


OPEN = 'status != "closed"'


def predicates(ws: Any, table: str) -> dict[str, str | None]:
    """Index name -> its condition as the database keeps it (None: a full index)."""
    with ws.db.connect() as conn:
        if ws.db.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            )
            return {name: (sql.split(" WHERE ", 1)[1] if sql and " WHERE " in sql else None) for name, sql in rows}
        rows = conn.execute(
            sa.text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"
            ),
            {"t": table},
        )
        return {name: (sql.split(" WHERE ", 1)[1] if " WHERE " in sql else None) for name, sql in rows}


@pytest.fixture
def widgets(database_url: str, tmp_path: Path) -> Any:
    write_widget(tmp_path / "packs", FIELDS, partial(OPEN))
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    for i in range(40):
        status = "closed" if i % 4 else "open"
        ws.records.create(SYSTEM, "widget", {"name": f"w{i}", "due_on": f"2026-01-{i % 28 + 1:02d}", "status": status})
    yield ws
    ws.close()


def partial_name(ws: Any) -> str:
    return next(name for name, where in predicates(ws, "widget").items() if where and "due_on" in name)


def test_a_partial_index_is_created_with_its_condition_and_stays(widgets):
    condition = predicates(widgets, "widget")[partial_name(widgets)]
    assert condition is not None and "status" in condition and "closed" in condition
    assert not widgets.install(dry_run=True).steps  # the database matches: nothing to migrate


def test_a_list_whose_filter_implies_the_condition_reads_the_partial_index(widgets):
    params = {"filter": f"{OPEN} and due_on > 2026-01-10", "sort": "due_on", "limit": "5"}
    found = widgets.records.list(SYSTEM, "widget", params).data
    assert [r["status"] for r in found] == ["open"] * len(found) and found
    if widgets.db.dialect.name == "sqlite":
        return  # SQLite matches a partial index against literal terms; the engine sends parameters
    sql, values = list_statement(widgets, params)
    assert partial_name(widgets) in plan_of(widgets, sql, values, "bitmapscan")


def test_a_changed_condition_replaces_the_index(widgets, database_url, tmp_path):
    old = partial_name(widgets)
    widgets.close()
    write_widget(tmp_path / "packs", FIELDS, partial('status == "open"'))
    ws = workspace_for(database_url, tmp_path)
    added = {s.name for s in ws.install(dry_run=True).steps if s.action == "add_index"}
    assert len(added) == 1 and old not in added
    ws.install()
    assert partial_name(ws) in added and old not in predicates(ws, "widget")
    assert len(ws.records.list(SYSTEM, "widget", {"limit": "100"}).data) == 40  # the records stay
    ws.close()


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("due_on < today()", "cannot depend on the time or the reader"),
        ('has_role("admin")', "cannot depend on the time or the reader"),
        ('partner.name == "x"', "reads only the record's own fields"),
        ("status ==", "where 'status =='"),
        ("due_on", "where 'due_on'"),
    ],
)
def test_a_condition_that_cannot_be_an_index_is_refused_with_its_reason(database_url, tmp_path, where, reason):
    write_widget(tmp_path / "packs", FIELDS, partial(where))
    with pytest.raises(MetadataError) as refused:
        workspace_for(database_url, tmp_path)
    assert reason in " ".join(e.message for e in refused.value.errors)
