"""Small semantic rules of the language, each pinned by an example."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.dsl import Env, compile_expression
from engine.errors import DslError

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def gadget(workspace):
    snap = workspace.snapshot()
    return snap.catalog.entities["gadget"], snap.catalog


@pytest.mark.parametrize(("count", "expected"), [(10**17 + 1, 2), (-7, -1), (7, 1), (-(10**17) - 1, -2)])
def test_remainder_is_exact_and_takes_the_dividends_sign(gadget, count, expected):
    entity, catalog = gadget
    expr = compile_expression("count % 3", entity, catalog)
    assert expr.evaluate(Env({"count": count}, now=NOW)) == expected


def test_unknown_escapes_keep_their_backslash(gadget):
    entity, catalog = gadget
    expr = compile_expression(r'matches(name, "^G\d+$")', entity, catalog)
    assert expr.evaluate(Env({"name": "G42"}, now=NOW)) is True
    assert expr.evaluate(Env({"name": "Gd"}, now=NOW)) is False


def test_days_between_refuses_a_date_and_a_datetime(gadget):
    entity, catalog = gadget
    with pytest.raises(DslError, match="two dates or two datetimes"):
        compile_expression("days_between(released_on, seen_at) > 1", entity, catalog)
