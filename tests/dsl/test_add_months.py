"""``add_months(date, int)``: whole months forward or back, the same in Python and SQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import Env, compile_expression, sql_context

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("released_on", "months", "expected"),
    [
        ("2026-03-01", 12, "2027-03-01"),
        ("2026-01-31", 1, "2026-02-28"),  # the 31st becomes the last day of a shorter month
        ("2028-01-31", 1, "2028-02-29"),
        ("2028-02-29", 12, "2029-02-28"),
        ("2026-12-15", 1, "2027-01-15"),
        ("2026-05-31", -3, "2026-02-28"),
        ("2026-01-10", -13, "2024-12-10"),
        ("2026-08-17", 0, "2026-08-17"),
    ],
)
def test_add_months_agrees_in_python_and_sql(workspace, released_on, months, expected):
    from engine.storage.evaluation import RecordLoader

    record = workspace.records.create(SYSTEM, "gadget", {"name": "p", "released_on": released_on, "count": months})
    empty = workspace.records.create(SYSTEM, "gadget", {"name": "q", "count": 3})
    snap = workspace.snapshot()
    entity = snap.catalog.entities["gadget"]
    table = snap.tables.main("gadget")
    expr = compile_expression("add_months(released_on, count)", entity, snap.catalog, sql=True)
    assert expr.type.kind == "date"
    with workspace.db.connect() as conn:
        rows = dict(
            conn.execute(
                sa.select(table.c.id, expr.to_sql(snap.tables, sql_context(workspace.db.dialect.name, NOW), table))
            ).all()
        )
        loader = RecordLoader(conn, snap)
        python = expr.evaluate(Env(loader("gadget", record["id"]), now=NOW, load=loader))
    assert python.isoformat() == expected
    assert str(rows[record["id"]])[:10] == expected
    assert rows[empty["id"]] is None


def test_add_months_filters_records_in_the_database(workspace):
    workspace.records.create(SYSTEM, "gadget", {"name": "old", "released_on": "2025-01-31"})
    workspace.records.create(SYSTEM, "gadget", {"name": "new", "released_on": "2026-05-31"})
    found = workspace.records.list(SYSTEM, "gadget", {"filter": "add_months(released_on, 12) < 2026-06-01"})
    assert [r["name"] for r in found.data] == ["old"]
