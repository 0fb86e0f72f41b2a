"""``replace(text, old, new)``: every occurrence replaced, the same in Python and SQL; an
empty ``new`` removes the text, an empty ``old`` leaves the text as it is."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import Env, compile_expression, sql_context

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("source", "notes", "expected"),
    [
        ('replace(notes, "{{ name }}", name)', "Hello {{ name }}, {{ name }}!", "Hello Ada, Ada!"),
        ('replace(notes, "x", null)', "a x b x", "a  b "),
        ('replace(notes, "", "y")', "abc", "abc"),
        ('replace(notes, null, "y")', "abc", "abc"),
        ('replace(notes, "zz", "y")', "abc", "abc"),
        ('replace(notes, "a", email)', "banana", "bnn"),  # an empty replacement removes
        ('replace(notes, "a", "b")', None, None),
    ],
)
def test_replace_agrees_in_python_and_sql(workspace, source, notes, expected):
    from engine.storage.evaluation import RecordLoader

    record = workspace.records.create(SYSTEM, "gadget", {"name": "Ada", "notes": notes})
    snap = workspace.snapshot()
    entity = snap.catalog.entities["gadget"]
    table = snap.tables.main("gadget")
    expr = compile_expression(source, entity, snap.catalog, sql=True)
    assert expr.type.kind == "string"
    with workspace.db.connect() as conn:
        rows = dict(
            conn.execute(
                sa.select(table.c.id, expr.to_sql(snap.tables, sql_context(workspace.db.dialect.name, NOW), table))
            ).all()
        )
        loader = RecordLoader(conn, snap)
        python = expr.evaluate(Env(loader("gadget", record["id"]), now=NOW, load=loader))
    assert python == expected
    assert rows[record["id"]] == expected


def test_replace_filters_records_in_the_database(workspace):
    workspace.records.create(SYSTEM, "gadget", {"name": "grey"})
    workspace.records.create(SYSTEM, "gadget", {"name": "green"})
    found = workspace.records.list(SYSTEM, "gadget", {"filter": 'replace(name, "e", "a") == "gray"'})
    assert [r["name"] for r in found.data] == ["grey"]
