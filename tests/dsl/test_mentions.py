"""``mentions(text)``: handles parsed from the text, users looked up through the Env."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.dsl import Env, compile_expression
from engine.dsl.mention_functions import handles
from engine.errors import DslError

NOW = dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.UTC)
USERS = {"anna.berg": "u1", "tom": "u2"}


def test_handles_are_mentions_not_addresses_and_ignore_case_and_punctuation():
    text = "@Anna.Berg, (@tom) and @tom again; mail bob@example.com or @ alone. Thanks @sales_rep."
    assert handles(text) == ["anna.berg", "tom", "sales_rep"]
    assert handles(None) == [] and handles("no mention") == []


def evaluate(workspace, source: str, record: dict[str, object]) -> object:
    snap = workspace.snapshot()
    expression = compile_expression(source, snap.catalog.entities["gadget"], snap.catalog)
    lookup = lambda found: sorted(USERS[h] for h in found if h in USERS)  # noqa: E731
    return expression.evaluate(Env(record, now=NOW, users_by_handle=lookup))


def test_mentions_returns_the_known_users_and_only_new_ones_with_a_second_text(workspace):
    assert evaluate(workspace, "mentions(notes)", {"notes": "@anna.berg and @TOM, not @ghost"}) == ["u1", "u2"]
    assert evaluate(workspace, "mentions(notes)", {"notes": None}) == []
    assert evaluate(workspace, "mentions(notes, name)", {"notes": "@anna.berg @tom", "name": "hi @tom"}) == ["u1"]
    snap = workspace.snapshot()
    gadget = snap.catalog.entities["gadget"]
    # a list of users: what notify's `to` takes; no SQL form, so no list filter or permission rule
    assert str(compile_expression("mentions(notes)", gadget, snap.catalog).type) == "list of link to user"
    with pytest.raises(DslError, match="no SQL form"):
        compile_expression("$user in mentions(notes)", gadget, snap.catalog, sql=True)
