"""``Records.aggregate_many``: several aggregates of one entity answered together (on
PostgreSQL in one scan, with ``FILTER`` and ``GROUPING SETS``) must give exactly what each
``Records.aggregate`` gives alone, errors included, for every reader."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import Actor
from engine.errors import TesseraError
from engine.security.users import create_user
from engine.storage import aggregation, shared_scan
from engine.workspace import Workspace
from tests.conftest import PASSWORD

BODIES: list[Any] = [
    {"metrics": {"n": "count()"}},
    {"metrics": {"total": "sum(price)", "n": "count()"}, "filter": 'name == "nobody"'},  # no rows: 0 and null
    {"group_by": ["status"], "metrics": {"n": "count()", "top": "max(price)"}, "filter": 'status != "retired"'},
    {"group_by": ["released_on:month"], "metrics": {"avg": "avg(price)", "low": "min(count)"}},
    {"group_by": ["status"], "metrics": {"value": "sum(price)"}, "filter": "active"},
    {"group_by": ["makers"], "metrics": {"n": "count()"}},  # a links field: a join, run on its own
    {"group_by": ["released_on:year", "status"], "metrics": {"n": "count()"}},  # two keys: run on its own
    {"group_by": ["nonsense"], "metrics": {"n": "count()"}},  # refused, alone
    {"metrics": {"rate": "avg(if(active, 100, 0))"}, "filter": "price > 10"},
]


def actor(ws: Workspace, email: str, role: str) -> Actor:
    return Actor(create_user(ws, email, email.split("@")[0].title(), PASSWORD, [role])["id"], frozenset({role}))


def one_by_one(ws: Workspace, who: Actor, bodies: list[Any]) -> list[Any]:
    out: list[Any] = []
    for body in bodies:
        try:
            out.append(ws.records.aggregate(who, "gadget", body).data)
        except TesseraError as exc:
            out.append((type(exc).__name__, exc.detail))
    return out


def together(ws: Workspace, who: Actor, bodies: list[Any]) -> list[Any]:
    found = ws.records.aggregate_many(who, "gadget", bodies)
    return [(type(a).__name__, a.detail) if isinstance(a, TesseraError) else a.data for a in found]


@pytest.fixture
def gadgets(workspace: Workspace) -> dict[str, Actor]:
    admin, rep = actor(workspace, "boss@test.dev", "admin"), actor(workspace, "seller@test.dev", "sales_rep")
    maker = workspace.records.create(admin, "maker", {"name": "Acme"})["id"]
    rows = [
        (admin, {"name": "A", "status": "live", "price": "12.50", "count": 3, "released_on": "2026-01-05"}),
        (
            admin,
            {"name": "B", "status": "live", "price": "7", "count": 9, "released_on": "2026-01-20", "active": False},
        ),
        (admin, {"name": "C", "status": "retired", "price": "40", "released_on": "2026-03-01", "makers": [maker]}),
        (admin, {"name": "D", "status": "draft", "price": "99.99", "count": 1, "responsible": rep.user_id}),
        (
            admin,
            {
                "name": "E",
                "status": "draft",
                "released_on": "2025-12-31",
                "makers": [maker],
                "responsible": rep.user_id,
            },
        ),
    ]
    for who, values in rows:
        workspace.records.create(who, "gadget", values)
    return {"admin": admin, "rep": rep}


@pytest.mark.parametrize("role", ["admin", "rep"])
def test_together_equals_one_by_one(workspace: Workspace, gadgets: dict[str, Actor], role: str) -> None:
    who = gadgets[role]
    alone = one_by_one(workspace, who, BODIES)
    assert together(workspace, who, BODIES) == alone
    assert alone[0] == [{"n": 5 if role == "admin" else 2}]  # a rep counts only their own gadgets
    assert alone[1] == [{"total": None, "n": 0}]
    assert [row["status"] for row in alone[2]] == (["draft", "live"] if role == "admin" else ["draft"])
    assert alone[7][0] == "BadRequest"


def test_one_body_over_the_group_limit_fails_alone(
    workspace: Workspace, gadgets: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregation, "MAX_GROUPS", 2)
    bodies = [{"group_by": ["status"], "metrics": {"n": "count()"}}, {"metrics": {"n": "count()"}}]
    found = together(workspace, gadgets["admin"], bodies)
    assert found[0][0] == "BadRequest" and "More than 2 groups" in found[0][1]
    assert found[1] == [{"n": 5}]
    assert found == one_by_one(workspace, gadgets["admin"], bodies)


SHARED = [b for b in BODIES if len(b.get("group_by", ())) < 2 and "makers" not in str(b)]
NOTHING = 'name == "nobody"'
#: bodies whose rows are none at all: counts 0, sums and averages null, no groups
EMPTY: list[Any] = [
    {"metrics": {"n": "count()", "avg": "avg(price)", "top": "max(price)"}, "filter": NOTHING},
    {"group_by": ["status"], "metrics": {"n": "count()", "total": "sum(price)"}, "filter": NOTHING},
    {"group_by": ["released_on:month"], "metrics": {"avg": "avg(count)"}, "filter": NOTHING},
]


def scans_of(workspace: Workspace, compute: Any) -> list[str]:
    """The SELECT statements reading gadgets while ``compute()`` runs."""
    scans: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM gadget" in statement and statement.lstrip().startswith("SELECT"):
            scans.append(statement)

    sa.event.listen(workspace.db, "before_cursor_execute", seen)
    try:
        compute()
    finally:
        sa.event.remove(workspace.db, "before_cursor_execute", seen)
    return scans


def test_on_postgresql_the_aggregates_share_one_scan(workspace: Workspace, gadgets: dict[str, Actor]) -> None:
    if workspace.db.dialect.name != "postgresql":
        pytest.skip("SQLite answers each aggregate with its own statement (it has no GROUPING SETS)")
    scans = scans_of(workspace, lambda: together(workspace, gadgets["admin"], SHARED))
    assert len(scans) == 1 and "GROUPING SETS" in scans[0]


@pytest.mark.parametrize("role", ["admin", "rep"])
@pytest.mark.parametrize("bodies", [SHARED, EMPTY, SHARED + EMPTY], ids=["some rows", "no rows", "both"])
def test_the_two_step_scan_answers_what_the_grouping_sets_answer(
    workspace: Workspace,
    gadgets: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    role: str,
    bodies: list[Any],
) -> None:
    """Aggregated by every key first, then rolled up into the grouping sets (PostgreSQL,
    when the planner expects few combinations): the same figures, averages to the digit."""
    if workspace.db.dialect.name != "postgresql":
        pytest.skip("SQLite answers each aggregate with its own statement (it has no GROUPING SETS)")
    who = gadgets[role]
    rolled: list[Any] = []
    scans = scans_of(workspace, lambda: rolled.extend(together(workspace, who, bodies)))
    assert len(scans) == 1 and "GROUP BY GROUPING SETS" in scans[0] and "FROM (SELECT" in scans[0]
    monkeypatch.setattr(shared_scan, "FINE_GROUPS", 0)  # more combinations expected than allowed
    direct: list[Any] = []
    scans = scans_of(workspace, lambda: direct.extend(together(workspace, who, bodies)))
    assert len(scans) == 1 and "FROM (SELECT" not in scans[0]
    assert rolled == direct == one_by_one(workspace, who, bodies)
    if bodies is EMPTY:
        assert rolled == [[{"n": 0, "avg": None, "top": None}], [], []]


def test_the_planner_is_asked_for_the_combinations_once_in_a_while(
    workspace: Workspace, gadgets: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    if workspace.db.dialect.name != "postgresql":
        pytest.skip("SQLite answers each aggregate with its own statement (it has no GROUPING SETS)")
    explained: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("EXPLAIN"):
            explained.append(statement)

    sa.event.listen(workspace.db, "before_cursor_execute", seen)
    try:
        first = together(workspace, gadgets["admin"], SHARED)
        assert len(explained) == 1 and "GROUP BY" in explained[0]
        assert together(workspace, gadgets["admin"], SHARED) == first and len(explained) == 1  # kept
        monkeypatch.setattr(shared_scan, "ESTIMATE_SECONDS", 0.0)
        assert together(workspace, gadgets["admin"], SHARED) == first and len(explained) == 2  # asked again
    finally:
        sa.event.remove(workspace.db, "before_cursor_execute", seen)


@pytest.mark.parametrize(
    ("first", "bucket", "label"),
    [
        (dt.datetime(2025, 12, 1), "quarter", "2025-Q4"),
        (dt.date(2026, 7, 1), "quarter", "2026-Q3"),
        (dt.datetime(999, 1, 1), "year", "0999"),
        (dt.date(2026, 5, 1), "month", "2026-05"),
        (dt.datetime(2026, 5, 31), "day", "2026-05-31"),
        ("2026-05", "month", "2026-05"),  # SQLite labels its buckets itself
        (None, "month", None),
    ],
)
def test_a_bucket_read_as_its_first_moment_gets_the_label_sqlite_gives_it(first: Any, bucket: str, label: Any) -> None:
    assert aggregation.bucket_label(first, bucket) == label
