"""Audit entries kept by a batch are written together at its end, and only those of the
writes that stand: a rolled-back savepoint drops its entries, a failed batch writes none."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.storage import system_tables as st
from engine.storage.database import hold_row, write_transaction
from engine.storage.write_batch import batched_writes, flush_writes


@pytest.fixture(autouse=True)
def _subscriptions_stay_cached(monkeypatch):
    """A slow machine must not see the webhook cache's refresh (a read) send kept updates early."""
    monkeypatch.setattr("engine.automation.webhooks.REFRESH_SECONDS", 3600.0)


def _update(ws, conn, record_id, values):
    snap = ws.snapshot()
    entity = snap.catalog.entities["gadget"]
    ws.records._apply_update(conn, snap, SYSTEM, entity, record_id, values, None, ws.records.clock())


def _entries(conn, record_id):
    a = st.audit
    query = sa.select(a.c.changes).where(a.c.record_id == record_id, a.c.action == "update").order_by(a.c.at)
    return [sorted(changes) for changes in conn.execute(query).scalars()]


def _audited(ws, record_id):
    with ws.db.connect() as conn:
        return _entries(conn, record_id)


def test_the_entries_of_a_batch_are_written_at_its_end(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Batched"})
    with write_transaction(workspace.db) as conn:
        with batched_writes(conn):
            _update(workspace, conn, record["id"], {"count": 1})
            _update(workspace, conn, record["id"], {"notes": "two"})
            assert _entries(conn, record["id"]) == []  # kept, not yet written
        assert _entries(conn, record["id"]) == [["count"], ["notes"]]
    assert _audited(workspace, record["id"]) == [["count"], ["notes"]]


def test_a_rolled_back_savepoint_drops_its_entries_and_a_released_one_keeps_them(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Savepoints"})
    with write_transaction(workspace.db) as conn, batched_writes(conn):
        _update(workspace, conn, record["id"], {"count": 1})
        with conn.begin_nested():
            _update(workspace, conn, record["id"], {"notes": "kept"})
        with pytest.raises(RuntimeError), conn.begin_nested():
            _update(workspace, conn, record["id"], {"weight": "1.5"})
            with conn.begin_nested():
                _update(workspace, conn, record["id"], {"stars": 2})
            raise RuntimeError("undo")
        _update(workspace, conn, record["id"], {"phone": "+41 44 000 00 00"})
    assert _audited(workspace, record["id"]) == [["count"], ["notes"], ["phone"]]


def test_a_failed_batch_writes_no_entry_and_flushing_makes_them_readable_inside(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Failed"})
    with pytest.raises(RuntimeError), write_transaction(workspace.db) as conn, batched_writes(conn):
        _update(workspace, conn, record["id"], {"count": 1})
        raise RuntimeError("undo")
    assert _audited(workspace, record["id"]) == []
    with write_transaction(workspace.db) as conn, batched_writes(conn):
        _update(workspace, conn, record["id"], {"count": 2})
        flush_writes(conn)
        assert _entries(conn, record["id"]) == [["count"]]
        with pytest.raises(RuntimeError), conn.begin_nested():  # opened after the flush
            _update(workspace, conn, record["id"], {"notes": "undone"})
            raise RuntimeError("undo")
        _update(workspace, conn, record["id"], {"stars": 4})
    assert _audited(workspace, record["id"]) == [["count"], ["stars"]]


def test_a_connection_cut_inside_a_batch_fails_with_the_connection_error(workspace, database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no server whose connections can be cut")
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Cut"})
    with pytest.raises(sa.exc.OperationalError), write_transaction(workspace.db) as conn, batched_writes(conn):
        _update(workspace, conn, record["id"], {"count": 1})
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with workspace.db.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        _update(workspace, conn, record["id"], {"count": 2})  # not PendingRollbackError
    workspace.records.update(SYSTEM, "gadget", record["id"], {"count": 3})  # the pool recovers
    assert workspace.records.get(SYSTEM, "gadget", record["id"])["count"] == 3
    assert _audited(workspace, record["id"]) == [["count"]]


def _lock(ws, conn, ids):
    """Lock and hold the rows, as a batch of timers does first."""
    table = ws.snapshot().tables.main("gadget")
    query = sa.select(table).where(table.c.id.in_(ids))
    for row in conn.execute(query.with_for_update() if conn.dialect.name == "postgresql" else query):
        hold_row(conn, "gadget", row.id, dict(row._mapping))


def _updates_sent(conn) -> tuple[list[int], list[str]]:
    """Collects, per UPDATE of a gadget sent from now on, how many rows it carried; and the
    first line of every statement sent, to tell what made a kept update go early."""
    sent: list[int] = []
    statements: list[str] = []

    def count(_conn, _cursor, statement, parameters, _context, executemany):
        statements.append(statement.strip().splitlines()[0][:120])
        if statement.lstrip().upper().startswith("UPDATE") and "gadget" in statement.split("SET")[0]:
            sent.append(len(parameters) if executemany else 1)

    sa.event.listen(conn, "before_cursor_execute", count)
    return sent, statements


def test_the_updates_of_a_batch_are_merged_per_record_and_sent_together(workspace):
    first, second, third = (workspace.records.create(SYSTEM, "gadget", {"name": n}) for n in ("1", "2", "3"))
    with write_transaction(workspace.db) as conn:
        _lock(workspace, conn, [first["id"], second["id"], third["id"]])
        sent, statements = _updates_sent(conn)
        with batched_writes(conn):
            _update(workspace, conn, first["id"], {"count": 1})
            _update(workspace, conn, first["id"], {"notes": "two"})
            _update(workspace, conn, second["id"], {"count": 7})
            _update(workspace, conn, third["id"], {"count": 8})
            assert sent == [], statements  # kept (else: the statements sent, the first one made them go)
        assert sent == [1, 2], statements  # the first record's two updates as one; the others' together
    stored = workspace.records.get(SYSTEM, "gadget", first["id"])
    assert (stored["count"], stored["notes"], stored["version"]) == (1, "two", 3)
    assert workspace.records.get(SYSTEM, "gadget", second["id"])["count"] == 7
    assert workspace.records.get(SYSTEM, "gadget", third["id"])["count"] == 8
    assert _audited(workspace, first["id"]) == [["count"], ["notes"]]


def test_a_kept_update_is_sent_before_any_other_statement(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Read back"})
    table = workspace.snapshot().tables.main("gadget")
    with write_transaction(workspace.db) as conn, batched_writes(conn):
        _update(workspace, conn, record["id"], {"count": 5})
        assert conn.execute(sa.select(table.c.count).where(table.c.id == record["id"])).scalar() == 5


def test_a_released_savepoint_keeps_its_kept_updates(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Released"})
    with write_transaction(workspace.db) as conn, batched_writes(conn):
        with conn.begin_nested():
            _update(workspace, conn, record["id"], {"count": 4})
        _update(workspace, conn, record["id"], {"notes": "after"})
    stored = workspace.records.get(SYSTEM, "gadget", record["id"])
    assert (stored["count"], stored["notes"], stored["version"]) == (4, "after", 3)


def test_a_rolled_back_savepoint_drops_its_kept_updates(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Undone"})
    with write_transaction(workspace.db) as conn, batched_writes(conn):
        _update(workspace, conn, record["id"], {"count": 1})
        with pytest.raises(RuntimeError), conn.begin_nested():
            _update(workspace, conn, record["id"], {"notes": "undone"})
            raise RuntimeError("undo")
        _update(workspace, conn, record["id"], {"stars": 3})
    stored = workspace.records.get(SYSTEM, "gadget", record["id"])
    assert (stored["count"], stored["notes"], stored["stars"], stored["version"]) == (1, None, 3, 3)
    assert _audited(workspace, record["id"]) == [["count"], ["stars"]]
