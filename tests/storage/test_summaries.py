"""Summaries kept by the database (``engine.storage.summaries``): once a slow shared scan
has one, a dashboard's aggregates are rolled up from it, and they stay exactly what each
aggregate gives alone whatever is written afterwards. PostgreSQL only: SQLite reads the
table (its tables are small and it has no statement triggers with transition tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM, Actor
from engine.storage import summaries
from engine.storage.database import write_transaction
from engine.workspace import Workspace
from tests.storage.test_aggregate_many import gadgets, one_by_one, together
from tests.storage.test_migrate import workspace_for, write_widget

__all__ = ["gadgets"]  # the fixture

BODIES: list[Any] = [
    {"metrics": {"n": "count()", "total": "sum(price)"}},
    {"group_by": ["status"], "metrics": {"n": "count()", "value": "sum(price)"}, "filter": 'status != "retired"'},
    {"group_by": ["released_on:month"], "metrics": {"avg": "avg(price)", "n": "count()"}},
    {"metrics": {"rate": "avg(if(active, 100, 0))"}, "filter": "price > 10"},
    {"group_by": ["status"], "metrics": {"value": "sum(price)"}, "filter": "active"},
]


@pytest.fixture
def summarised(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every shared scan counts as slow; returns the names of the summaries read from."""
    if workspace.db.dialect.name != "postgresql":
        pytest.skip("summaries are PostgreSQL's: SQLite reads the table")
    monkeypatch.setattr(summaries, "SLOW_SECONDS", 0.0)
    monkeypatch.setattr(summaries, "SLOW_TIMES", 1)
    read: list[str] = []
    source = summaries.source

    def spy(summary: summaries.Summary) -> Any:
        read.append(summary.name)
        return source(summary)

    monkeypatch.setattr(summaries, "source", spy)
    return read


def kept(workspace: Workspace) -> dict[str, int]:
    """The summary tables of the workspace, with their rows (delta tables apart)."""
    with workspace.db.connect() as conn:
        names = conn.execute(
            sa.text(
                "SELECT relname FROM pg_class WHERE relname LIKE 'tessera_sum_%' AND relkind = 'r' "
                "AND pg_table_is_visible(oid)"
            )
        ).scalars()
        return {name: conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one() for name in names}


def same(workspace: Workspace, who: Actor, bodies: list[Any]) -> list[Any]:
    """The answers read together, checked against each aggregate alone; then what they set
    going behind (a build, a fold) has finished."""
    answers = together(workspace, who, bodies)
    summaries.wait_behind()
    assert answers == one_by_one(workspace, who, bodies)
    return answers


def test_a_slow_scan_gets_a_summary_and_its_answers_stay_exact_through_every_write(
    workspace: Workspace, gadgets: dict[str, Actor], summarised: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = gadgets["admin"]
    first = same(workspace, admin, BODIES)  # read from the table, and the summary built
    assert summarised == [] and len(kept(workspace)) == 2  # the summary and its delta
    assert same(workspace, admin, BODIES) == first and len(summarised) == 1  # now read from it
    records = workspace.records
    new = records.create(admin, "gadget", {"name": "F", "status": "live", "price": "5.25", "released_on": "2026-01-09"})
    same(workspace, admin, BODIES)
    records.update(admin, "gadget", new["id"], {"status": "retired", "price": "60"})  # another group
    same(workspace, admin, BODIES)
    records.update(admin, "gadget", new["id"], {"price": None, "active": False})  # a sum loses its value
    same(workspace, admin, BODIES)
    records.delete(admin, "gadget", new["id"])
    same(workspace, admin, BODIES)
    records.restore(admin, "gadget", new["id"])
    same(workspace, admin, BODIES)
    for row in records.list(admin, "gadget", {"limit": "100"}).data:
        records.delete(admin, "gadget", row["id"])  # every record gone: counts 0, sums none
    emptied = same(workspace, admin, BODIES)
    assert emptied[0] == [{"n": 0, "total": None}] and emptied[1] == []
    assert len(summarised) == 7  # every read after the first came from the summary
    monkeypatch.setattr(summaries, "COMPACT_ROWS", 1)  # fold the delta in after the next read
    same(workspace, admin, BODIES)
    assert same(workspace, admin, BODIES) == emptied
    with workspace.db.connect() as conn:
        (name,) = {n for n in kept(workspace) if not n.endswith("_d")}
        assert conn.execute(sa.text(f'SELECT count(*) FROM "{name}_d"')).scalar_one() == 0


def test_a_statement_slow_once_gets_no_summary(
    workspace: Workspace, gadgets: dict[str, Actor], summarised: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A date range a viewer tries once is not worth holding the table's writes back for."""
    monkeypatch.setattr(summaries, "SLOW_TIMES", 2)
    same(workspace, gadgets["admin"], BODIES)
    assert kept(workspace) == {}
    same(workspace, gadgets["admin"], BODIES)  # slow again: now it is built
    assert len(kept(workspace)) == 2 and summarised == []
    same(workspace, gadgets["admin"], BODIES)
    assert len(summarised) == 1


def test_a_table_without_summaries_costs_a_catalog_query_a_minute(
    workspace: Workspace, gadgets: dict[str, Actor]
) -> None:
    """Fast dashboards (most of them) must not pay for summaries at every computation."""
    if workspace.db.dialect.name != "postgresql":
        pytest.skip("summaries are PostgreSQL's: SQLite reads the table")
    asked: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "pg_trigger" in statement or "tessera_sum" in statement:
            asked.append(statement)

    sa.event.listen(workspace.db, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            same(workspace, gadgets["admin"], BODIES)
    finally:
        sa.event.remove(workspace.db, "before_cursor_execute", seen)
    assert len(asked) == 1 and kept(workspace) == {}


def test_a_reader_with_a_scope_reads_the_table(
    workspace: Workspace, gadgets: dict[str, Actor], summarised: list[str]
) -> None:
    """A rep sees their own records: the scope is not a key of the summary."""
    same(workspace, gadgets["admin"], BODIES)
    same(workspace, gadgets["rep"], BODIES)
    same(workspace, gadgets["rep"], BODIES)
    assert summarised == [] and len(kept(workspace)) == 2  # the admin's only


@pytest.mark.parametrize(
    "body",
    [
        {"group_by": ["status"], "metrics": {"n": "count()"}, "filter": "released_on <= today()"},  # changes daily
        {"group_by": ["status"], "metrics": {"top": "max(price)"}},  # a maximum cannot be subtracted
        {"group_by": ["status"], "metrics": {"n": "count()"}, "filter": "makers.name == 'Acme'"},  # another table
        {"group_by": ["status"], "metrics": {"n": "count()"}, "filter": 'name != "$tessera$; DROP TABLE gadget;"'},
    ],
    ids=["today", "max", "another table", "the triggers' quote"],
)
def test_what_a_summary_could_not_keep_exactly_is_read_from_the_table(
    workspace: Workspace, gadgets: dict[str, Actor], summarised: list[str], body: Any
) -> None:
    same(workspace, gadgets["admin"], [BODIES[0], body])
    same(workspace, gadgets["admin"], [BODIES[0], body])
    assert summarised == [] and kept(workspace) == {}


def test_a_summary_that_lost_its_triggers_is_not_read_and_is_built_again(
    workspace: Workspace, gadgets: dict[str, Actor], summarised: list[str]
) -> None:
    admin = gadgets["admin"]
    same(workspace, admin, BODIES)
    with write_transaction(workspace.db) as conn:
        summaries.drop_for_table(conn, "gadget")  # as a schema change of the table does
    assert kept(workspace) == {}
    workspace.records.create(admin, "gadget", {"name": "G", "status": "live", "price": "1"})
    same(workspace, admin, BODIES)  # from the table, and built again
    assert summarised == [] and len(kept(workspace)) == 2
    with write_transaction(workspace.db) as conn:  # triggers gone, tables left: stale
        conn.exec_driver_sql(
            "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tgname FROM pg_trigger "
            "WHERE tgrelid = 'gadget'::regclass AND tgname LIKE 'tessera_sum_%%' "
            "LOOP EXECUTE format('DROP TRIGGER %%I ON gadget', t); END LOOP; END $$"
        )
    workspace.records.create(admin, "gadget", {"name": "H", "status": "live", "price": "2"})
    same(workspace, admin, BODIES)
    assert summarised == []  # not read from the stale one; built again meanwhile
    same(workspace, admin, BODIES)
    assert len(summarised) == 1


def test_a_table_keeps_its_newest_summaries_only(
    workspace: Workspace, gadgets: dict[str, Actor], summarised: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each summary costs the table's writes a little: a dashboard changed (or one whose
    period moves on) must not leave its old ones behind for ever."""
    monkeypatch.setattr(summaries, "MAX_PER_TABLE", 2)
    for n in range(3):
        same(workspace, gadgets["admin"], [*BODIES, {"metrics": {"n": "count()"}, "filter": f"count > {n}"}])
    assert len(kept(workspace)) == 4  # the two newest, each with its delta
    same(workspace, gadgets["admin"], [*BODIES, {"metrics": {"n": "count()"}, "filter": "count > 2"}])
    assert len(summarised) == 1  # the newest is read


def test_a_schema_change_drops_the_summaries_of_its_table_and_writes_go_on(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A summary's triggers name the table's columns: a column dropped under them would fail
    every later write. The migration drops them first; the summary is no orphan table."""
    if not database_url.startswith("postgresql"):
        pytest.skip("summaries are PostgreSQL's: SQLite reads the table")
    monkeypatch.setattr(summaries, "SLOW_SECONDS", 0.0)
    monkeypatch.setattr(summaries, "SLOW_TIMES", 1)
    packs = tmp_path / "packs"
    write_widget(packs, "name: {type: string}\nsize: {type: int}\nstatus: {type: string}")
    ws = workspace_for(database_url, tmp_path)
    ws.install()
    for i in range(3):
        ws.records.create(SYSTEM, "widget", {"name": f"w{i}", "size": i, "status": "a" if i else "b"})
    bodies = [
        {"metrics": {"n": "count()", "total": "sum(size)"}},
        {"group_by": ["status"], "metrics": {"n": "count()"}},
    ]
    ws.records.aggregate_many(SYSTEM, "widget", bodies)
    summaries.wait_behind()
    assert len(kept(ws)) == 2 and not ws.install(dry_run=True).steps
    write_widget(packs, "name: {type: string}\nstatus: {type: string}")  # size goes
    ws2 = workspace_for(database_url, tmp_path)
    ws2.install(destructive="apply")
    assert kept(ws2) == {}
    ws2.records.create(SYSTEM, "widget", {"name": "after", "status": "a"})
    [by_status] = ws2.records.aggregate_many(SYSTEM, "widget", [bodies[1]])
    assert by_status.data == [{"status": "a", "n": 3}, {"status": "b", "n": 1}]
    ws.close()
    ws2.close()
