"""``text ~ "word"`` (contains, ignoring case) means the same in Python and in SQL, also for
needles holding the LIKE wildcards ``%`` and ``_`` or a backslash (PostgreSQL compiles a
constant needle to ``LIKE`` so a trigram index can serve global search)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import Env, compile_expression, sql_context
from engine.storage.evaluation import RecordLoader

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
NAMES = ["50% off", "500 off", "a_b", "axb", "back\\slash", "backslash", "Straße", "ÉCLAIR", ""]
NEEDLES = ["50%", "0%", "a_b", "_", "%", "\\\\", "k\\\\s", "STRASSE", "straße", "éclair", "", "x"]


@pytest.mark.parametrize("needle", NEEDLES)
def test_python_and_sql_agree_on_contains(workspace, needle):
    ids = {workspace.records.create(SYSTEM, "gadget", {"name": n or "-", "notes": n})["id"]: n for n in NAMES}
    ids[workspace.records.create(SYSTEM, "gadget", {"name": "no notes"})["id"]] = None
    snap = workspace.snapshot()
    table = snap.tables.main("gadget")
    expr = compile_expression(f'notes ~ "{needle}"', snap.catalog.entities["gadget"], snap.catalog, sql=True)
    ctx = sql_context(workspace.db.dialect.name, NOW)
    with workspace.db.connect() as conn:
        in_sql = dict(conn.execute(sa.select(table.c.id, expr.to_sql(snap.tables, ctx, table))).all())
        loader = RecordLoader(conn, snap)
        for record_id, notes in ids.items():
            python = expr.evaluate(Env(loader("gadget", record_id), now=NOW, load=loader))
            assert python == (None if in_sql[record_id] is None else bool(in_sql[record_id])), (notes, needle)
    literal = needle.replace("\\\\", "\\")
    expected = {n for n in NAMES if literal.lower() in n.lower()}
    assert {ids[i] for i, hit in in_sql.items() if hit} == expected
