"""``switch(value, case, result, ..., default)``: type rules, null handling, Python and SQL alike."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import Env, compile_expression, sql_context
from engine.errors import DslError

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def gadget(workspace):
    snap = workspace.snapshot()
    return snap.catalog.entities["gadget"], snap.catalog


def run(gadget, source, **record):
    entity, catalog = gadget
    return compile_expression(source, entity, catalog).evaluate(Env(record, now=NOW))


@pytest.mark.parametrize(
    ("status", "expected"),
    [("draft", 10), ("live", 60), ("retired", 0), (None, 0)],
)
def test_the_first_matching_case_gives_its_result_else_the_default(gadget, status, expected):
    assert run(gadget, 'switch(status, "draft", 10, "live", 60, 0)', status=status) == expected


def test_without_a_default_no_match_is_null(gadget):
    assert run(gadget, 'switch(status, "draft", "D", "live", "L")', status="retired") is None
    assert run(gadget, 'switch(status, "draft", "D", "live", "L")', status="live") == "L"


def test_a_null_case_never_matches_not_even_a_null_value(gadget):
    assert run(gadget, 'switch(notes, null, "empty", "x")', notes=None) == "x"


def test_numbers_compare_across_int_and_decimal_and_the_result_takes_the_wider_type(gadget):
    entity, catalog = gadget
    expr = compile_expression("switch(count, 1, 0.5, 2, 1, 0)", entity, catalog)
    assert expr.type.kind == "decimal"
    assert expr.evaluate(Env({"count": 1}, now=NOW)) == Decimal("0.5")
    assert expr.evaluate(Env({"count": 2}, now=NOW)) == 1


def test_results_may_be_expressions_and_only_the_chosen_one_counts(gadget):
    source = 'switch(status, "live", price * 2, "draft", price, 0)'
    assert run(gadget, source, status="live", price=Decimal("3.5")) == Decimal("7.0")


def test_a_switch_can_be_a_condition(gadget):
    entity, catalog = gadget
    expr = compile_expression('switch(status, "live", count > 3, false)', entity, catalog, expect="bool")
    assert expr.holds(Env({"status": "live", "count": 5}, now=NOW))
    assert not expr.holds(Env({"status": "draft", "count": 5}, now=NOW))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('switch(status, "lost", 1, 0)', "'lost' is not one of the options: draft, live, retired"),
        ('switch(status, "live", 1, "two")', "switch() mixes int and string"),
        ('switch(count, "one", 1, 0)', "cannot compare int with string using =="),
        ("switch(status, 1)", "switch() takes a value, then cases and results in pairs"),
        ("switch(parts, 1, 2)", "names many values"),
    ],
)
def test_bad_switches_are_refused_when_loaded(gadget, source, message):
    entity, catalog = gadget
    with pytest.raises(DslError) as info:
        compile_expression(source, entity, catalog)
    assert message in info.value.detail


def test_python_and_sql_agree_on_stored_records(workspace):
    rows = [
        {"name": "a", "status": "draft", "count": 1, "price": "2.50", "released_on": "2026-01-10"},
        {"name": "b", "status": "live", "count": 2, "price": "4.00", "released_on": "2026-03-01"},
        {"name": "c", "status": "retired", "count": None, "price": None},
        {"name": "d", "status": None, "count": 7, "price": "1.25"},
    ]
    ids = [workspace.records.create(SYSTEM, "gadget", row)["id"] for row in rows]
    sources = [
        'switch(status, "draft", 10, "live", 60, 0)',
        'switch(status, "draft", price, "live", price * 2)',
        'switch(count, 1, "one", 2, "two", 7, upper(name), "many")',
        'switch(status, "live", released_on + 7d, released_on)',
        'switch(status, "live", seen_at, "draft", created_at + 1h, created_at)',
        'switch(count > 1, true, "big", false, "small", "unknown")',
        'switch(coalesce(notes, "none"), "none", 1.5, 2)',
    ]
    snap = workspace.snapshot()
    entity = snap.catalog.entities["gadget"]
    table = snap.tables.main("gadget")
    ctx = sql_context(workspace.db.dialect.name, NOW)
    from engine.storage.evaluation import RecordLoader

    for source in sources:
        expr = compile_expression(source, entity, snap.catalog, sql=True)
        with workspace.db.connect() as conn:
            in_sql = dict(conn.execute(sa.select(table.c.id, expr.to_sql(snap.tables, ctx, table))).all())
            loader = RecordLoader(conn, snap)
            for record_id in ids:
                python = expr.evaluate(Env(loader("gadget", record_id), now=NOW, load=loader))
                sql = in_sql[record_id]
                if expr.type.kind in ("int", "decimal") and sql is not None:
                    assert float(python) == pytest.approx(float(sql)), source
                elif expr.type.kind == "date" and isinstance(sql, str):
                    assert python.isoformat() == sql, source
                elif expr.type.kind == "datetime" and sql is not None and not isinstance(sql, dt.datetime):
                    assert python is not None and python.timestamp() == pytest.approx(float(sql)), source
                elif isinstance(sql, dt.datetime):
                    assert python.replace(tzinfo=None) == sql.replace(tzinfo=None), source
                else:
                    assert python == sql, (source, python, sql)


def test_a_list_filter_can_use_switch(workspace, admin):
    for name, status in (("a", "draft"), ("b", "live"), ("c", "retired")):
        workspace.records.create(SYSTEM, "gadget", {"name": name, "status": status})
    response = admin.get("gadget", query_string={"filter": 'switch(status, "draft", 1, "live", 2, 0) >= 1'})
    assert response.status_code == 200, response.get_json()
    assert sorted(r["name"] for r in response.get_json()["data"]) == ["a", "b"]


# --- start_of_month / start_of_quarter / start_of_year --------------------------------------
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("start_of_month(released_on)", "2026-08-01"),
        ("start_of_quarter(released_on)", "2026-07-01"),
        ("start_of_year(released_on)", "2026-01-01"),
        ("start_of_month(seen_at)", "2026-02-01"),
        ("start_of_quarter(seen_at)", "2026-01-01"),
        ("start_of_quarter(seen_at + 40d)", "2026-04-01"),
        ("start_of_month(released_on + 30d)", "2026-09-01"),
    ],
)
def test_period_starts_agree_in_python_and_sql(workspace, source, expected):
    from engine.storage.evaluation import RecordLoader

    record = workspace.records.create(
        SYSTEM, "gadget", {"name": "p", "released_on": "2026-08-17", "seen_at": "2026-02-28T23:30:00Z"}
    )
    empty = workspace.records.create(SYSTEM, "gadget", {"name": "q"})
    snap = workspace.snapshot()
    entity = snap.catalog.entities["gadget"]
    table = snap.tables.main("gadget")
    expr = compile_expression(source, entity, snap.catalog, sql=True)
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
