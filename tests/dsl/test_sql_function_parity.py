"""Functions whose SQL forms once disagreed with Python: datetimes mixed with epoch seconds in
``coalesce``/``if``/``min``/``max``, ``round`` with negative or huge places, ``min``/``max`` of
texts under a linguistic collation, and ``startswith`` with a null prefix."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import Env, compile_expression, sql_context
from engine.storage.evaluation import RecordLoader

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)

ROWS = [
    {
        "name": "Alpha",
        "notes": "beta",
        "count": 5,
        "price": "1234.50",
        "weight": "-1250",
        "active": True,
        "seen_at": "2026-06-01T09:00:00Z",
    },
    {"name": "zeta", "notes": "Zulu", "count": -15, "price": "1250", "weight": "15", "active": False},
    {"name": "éclair", "notes": "Zebra", "price": "0.25", "seen_at": "2030-06-03T12:00:00Z"},
]


@pytest.fixture
def gadgets(workspace):
    return [workspace.records.create(SYSTEM, "gadget", row)["id"] for row in ROWS]


def _plain(value: Any, kind: str) -> Any:
    """A value as a number of seconds, a float or itself, whichever side computed it."""
    if value is None:
        return None
    if kind == "datetime":
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp()
        return float(value)  # epoch seconds (after arithmetic)
    if kind in ("int", "decimal"):
        return float(value)
    if kind == "bool":
        return bool(value)
    if kind == "date":
        return str(value)[:10]
    return value


def both(workspace, source: str, ids: list[str], table: Any = None) -> list[tuple[Any, Any]]:
    """(Python, SQL) values of ``source`` for each gadget, comparable with ``==``."""
    snap = workspace.snapshot()
    expr = compile_expression(source, snap.catalog.entities["gadget"], snap.catalog, sql=True)
    main = snap.tables.main("gadget")
    table = main if table is None else table
    ctx = sql_context(workspace.db.dialect.name, NOW)
    with workspace.db.connect() as conn:
        query = sa.select(table.c.id, expr.to_sql(snap.tables, ctx, table)).where(table.c.id.in_(ids))
        in_sql = dict(conn.execute(query).all())
        loader = RecordLoader(conn, snap)
        python = {i: expr.evaluate(Env(loader("gadget", i), now=NOW, load=loader)) for i in ids}
    kind = expr.type.kind
    return [(_plain(python[i], kind), _plain(in_sql[i], kind)) for i in ids]


def assert_agree(workspace, source: str, ids: list[str], table: Any = None) -> list[Any]:
    pairs = both(workspace, source, ids, table)
    for python, sql in pairs:
        if isinstance(python, float) and isinstance(sql, float):
            assert python == pytest.approx(sql, abs=1e-3), (source, pairs)
        else:
            assert python == sql, (source, pairs)
    return [python for python, _ in pairs]


# --- datetimes mixed with epoch seconds ------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        "coalesce(seen_at, $now - 1d)",
        "coalesce(seen_at, $now - 1d) < $now",
        "coalesce(seen_at + 1h, seen_at, null)",
        "if(active, seen_at, seen_at + 1h)",
        "if(active, $now - 1d, coalesce(seen_at, $now))",
        "min(seen_at, $now - 1d)",
        "max(seen_at, $now - 1d) > 2026-06-01T00:00:00Z",
        "max(created_at, seen_at + 1h) > created_at",
        "hours_between(coalesce(seen_at, created_at + 1h), now())",
        "hours_between(min(seen_at, $now - 1d), $now)",
        "days_between(if(active, seen_at, $now + 2d), $now)",
        "start_of_month(coalesce(seen_at + 1h, $now))",
    ],
)
def test_datetimes_mixed_with_arithmetic_agree(workspace, gadgets, source):
    assert_agree(workspace, source, gadgets)


def test_datetime_results_are_the_right_instants(workspace, gadgets):
    seen = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC).timestamp()
    later = dt.datetime(2030, 6, 3, 12, tzinfo=dt.UTC).timestamp()
    assert assert_agree(workspace, "coalesce(seen_at, $now - 1d)", gadgets) == [
        seen,
        (NOW - dt.timedelta(days=1)).timestamp(),
        later,
    ]
    assert assert_agree(workspace, "if(active, seen_at, seen_at + 1h)", gadgets) == [
        seen,
        None,
        later,
    ]  # a new gadget is active
    assert assert_agree(workspace, "min(seen_at, $now - 1d)", gadgets) == [
        (NOW - dt.timedelta(days=1)).timestamp(),
        None,
        (NOW - dt.timedelta(days=1)).timestamp(),
    ]


def test_a_list_filter_may_mix_a_datetime_with_arithmetic(workspace, gadgets, admin):
    response = admin.get("gadget", query_string={"filter": "coalesce(seen_at, now() - 1d) < now()", "fields": "name"})
    assert response.status_code == 200, response.get_json()
    assert sorted(r["name"] for r in response.get_json()["data"]) == ["Alpha", "zeta"]


# --- round ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("round(price, -2)", [1200, 1300, 0]),
        ("round(weight, -2)", [-1300, 0, None]),
        ("round(weight, -1)", [-1250, 20, None]),
        ("round(count, -1)", [10, -20, None]),
        ("round(1234.5, -3)", [1000, 1000, 1000]),
        ("round(price, -400)", [0, 0, 0]),
        ("round(price, count - 7)", [1200, 0, None]),
        ("round(price, 100)", [1234.5, 1250, 0.25]),
        ("round(price, 10000000000)", [1234.5, 1250, 0.25]),
        ("round(price, -10000000000)", [0, 0, 0]),
        ("round(price, 1)", [1234.5, 1250, 0.3]),
        ("round(price)", [1235, 1250, 0]),
    ],
)
def test_round_agrees_for_negative_and_many_places(workspace, gadgets, source, expected):
    assert assert_agree(workspace, source, gadgets) == expected


def test_python_rounds_to_more_places_than_decimal_holds():
    from engine.dsl.functions import _py_round

    assert _py_round(Decimal("12.5"), 100) == Decimal("12.5")
    assert _py_round(5, 10**9) == 5
    assert _py_round(Decimal("1234.5"), -(10**9)) == 0
    assert _py_round(Decimal("1234.5"), -2) == 1200
    assert _py_round(Decimal("1250"), -2) == 1300
    assert _py_round(Decimal("-1250"), -2) == -1300
    assert _py_round(Decimal("12.345"), 2) == Decimal("12.35")
    assert str(_py_round(Decimal("12.5"), 2)) == "12.50"
    assert _py_round(Decimal("1" * 30 + ".55"), 1) == Decimal("1" * 30 + ".6")


# --- min/max of texts --------------------------------------------------------------------------
def test_scalar_min_and_max_of_texts_order_by_code_point(workspace, gadgets):
    sources = ["min(name, notes)", "max(name, notes)", 'min(lower(name), "b")', "max(upper(notes), name)"]
    expected = {
        "min(name, notes)": ["Alpha", "Zulu", "Zebra"],
        "max(name, notes)": ["beta", "zeta", "éclair"],
        'min(lower(name), "b")': ["alpha", "b", "b"],
        "max(upper(notes), name)": ["BETA", "zeta", "éclair"],
    }
    table = None
    if workspace.db.dialect.name == "postgresql":
        # a database whose collation sorts linguistically ("beta" before "Zulu", "éclair" before "zeta")
        with workspace.db.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")).first():
                pytest.skip("PostgreSQL without ICU collations")
        main = workspace.snapshot().tables.main("gadget")
        columns = [c.collate("und-x-icu").label(c.name) if c.name in ("name", "notes") else c for c in main.c]
        table = sa.select(*columns).subquery()
    for source in sources:
        assert assert_agree(workspace, source, gadgets, table) == expected[source], source


def test_scalar_min_of_numbers_is_unchanged(workspace, gadgets):
    assert assert_agree(workspace, "min(count, len(name))", gadgets) == [5, -15, None]
    assert assert_agree(workspace, "max(price, weight)", gadgets) == [1234.5, 1250, None]


# --- null text arguments -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "source",
    [
        "startswith(name, null)",
        "startswith(null, name)",
        "startswith(null, null)",
        "startswith(name, notes)",
        "contains(name, null)",
        "contains(null, null)",
        "not startswith(name, null)",
        'replace(name, null, "x")',
        "has_role(null)",
        "is_team_member(null)",
        "is_my_team(null)",
    ],
)
def test_a_null_text_argument_gives_unknown_in_sql_too(workspace, gadgets, source):
    values = assert_agree(workspace, source, gadgets)
    if "null" in source and "replace" not in source:
        assert values == [None, None, None]


def test_startswith_still_finds_prefixes(workspace, gadgets):
    assert assert_agree(workspace, 'startswith(name, "Al")', gadgets) == [True, False, False]
    assert assert_agree(workspace, 'startswith(notes, "Z")', gadgets) == [False, True, True]


TICKET = """
entity: ticket
title: name
fields:
  name:    {type: string, required: true}
  due_at:  {type: datetime}
  next_at: {type: datetime, compute: 'coalesce(due_at, created_at + 3d)'}
permissions:
  agent: {read: all, create: true}
"""


def test_a_computed_datetime_mixing_arithmetic_can_be_created_listed_and_filtered(database_url, tmp_path):
    from engine.app import create_app
    from tests.conftest import pack_workspace, sign_in

    ws = pack_workspace(database_url, tmp_path, "deskkit", {"entities/ticket.yaml": TICKET}, {"agent": "Agent"})
    try:
        api = sign_in(create_app(ws.config, ws).test_client(), "agent@test.dev")
        created = api.post("ticket", json={"name": "due", "due_at": "2026-06-01T09:00:00Z"})
        assert created.status_code == 201, created.get_json()
        assert created.get_json()["next_at"].startswith("2026-06-01T09:00:00")
        assert api.post("ticket", json={"name": "open"}).status_code == 201
        assert sorted(r["name"] for r in api.get("ticket").get_json()["data"]) == ["due", "open"]
        listed = api.get("ticket", query_string={"filter": "coalesce(due_at, created_at + 3d) > 2026-06-02T00:00:00Z"})
        assert listed.status_code == 200, listed.get_json()
        assert [r["name"] for r in listed.get_json()["data"]] == ["open"]
    finally:
        ws.close()
