"""Datetime arithmetic keeps microseconds in SQL as in Python: on SQLite, epoch seconds
came from julianday(), which rounds to milliseconds, so ``seen_at + 1s`` missed the exact
second and ``12:29:59.999999 + 0s`` reached 12:30. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import Env, compile_expression, sql_context
from engine.storage.evaluation import RecordLoader

NOW = dt.datetime(2026, 6, 15, 12, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("seen_at", "source", "expected"),
    [
        ("2026-06-15T12:30:00+00:00", "seen_at + 1s == 2026-06-15T12:30:01Z", True),
        ("2026-06-15T12:29:59.999999+00:00", "seen_at + 0s < $now", True),
        ("2026-06-15T12:29:59.999999+00:00", "hours_between(seen_at + 0s, $now) > 0", True),
        ("1969-12-31T23:59:59.500000+00:00", "seen_at + 1s > 1970-01-01T00:00:00Z", True),
        ("1969-12-31T23:59:59.500000+00:00", "seen_at + 0s < 1970-01-01T00:00:00Z", True),
    ],
)
def test_sql_and_python_agree_below_a_second(workspace, seen_at, source, expected):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "clock", "seen_at": seen_at})
    snap = workspace.snapshot()
    expr = compile_expression(source, snap.catalog.entities["gadget"], snap.catalog, sql=True)
    table = snap.tables.main("gadget")
    ctx = sql_context(workspace.db.dialect.name, NOW)
    with workspace.db.connect() as conn:
        sql_value = conn.execute(
            sa.select(expr.to_sql(snap.tables, ctx, table)).where(table.c.id == record["id"])
        ).scalar()
        loader = RecordLoader(conn, snap)
        python_value = expr.evaluate(Env(loader("gadget", record["id"]), now=NOW, load=loader))
    assert python_value is expected
    assert bool(sql_value) is expected
