"""A row one transaction wrote is not read again before its next write, and is read again
whenever what the transaction knows of it may be wrong: after a rolled-back savepoint or
transaction, after a delete."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.errors import NotFound
from engine.storage.database import write_transaction


def _update(ws, conn, record_id, values, if_match=None):
    snap = ws.snapshot()
    entity = snap.catalog.entities["gadget"]
    ws.records._apply_update(conn, snap, SYSTEM, entity, record_id, values, if_match, ws.records.clock())


def _selects_of_gadget(conn, statements):
    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM gadget " in statement + " ":
            statements.append(statement)

    sa.event.listen(conn, "before_cursor_execute", count)


def test_the_second_write_of_a_row_in_one_transaction_does_not_read_it_again(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Twice", "count": 1})
    statements: list[str] = []
    with write_transaction(workspace.db) as conn:
        _selects_of_gadget(conn, statements)
        _update(workspace, conn, record["id"], {"count": 2})
        first = len(statements)
        assert first >= 1  # the first write read the row (the listener sees the reads)
        _update(workspace, conn, record["id"], {"name": "Twice changed"}, if_match=2)
        assert len(statements) == first  # the row as the first write left it, version included
    stored = workspace.records.get(SYSTEM, "gadget", record["id"])
    assert (stored["name"], stored["count"], stored["version"]) == ("Twice changed", 2, 3)


def test_after_a_rolled_back_savepoint_the_row_is_read_again(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Kept", "count": 1})
    with write_transaction(workspace.db) as conn:
        _update(workspace, conn, record["id"], {"count": 2})
        with pytest.raises(RuntimeError), conn.begin_nested():
            _update(workspace, conn, record["id"], {"count": 3, "notes": "rolled back"})
            raise RuntimeError("undo")
        # the row is at version 2 again: writing from the rolled-back version 3 would be refused
        _update(workspace, conn, record["id"], {"name": "Kept changed"}, if_match=2)
    stored = workspace.records.get(SYSTEM, "gadget", record["id"])
    assert (stored["name"], stored["count"], stored["notes"], stored["version"]) == ("Kept changed", 2, None, 3)


def test_after_a_rolled_back_transaction_the_row_is_read_again(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Undone", "count": 1})
    with workspace.db.connect() as conn:  # one connection, two transactions
        with pytest.raises(RuntimeError), conn.begin():
            _update(workspace, conn, record["id"], {"count": 5})
            raise RuntimeError("undo")
        with conn.begin():
            _update(workspace, conn, record["id"], {"notes": "after the rollback"}, if_match=1)
    stored = workspace.records.get(SYSTEM, "gadget", record["id"])
    assert (stored["count"], stored["notes"], stored["version"]) == (1, "after the rollback", 2)


def test_a_row_deleted_in_the_transaction_is_not_written_from_what_was_held(workspace):
    record = workspace.records.create(SYSTEM, "gadget", {"name": "Gone"})
    with write_transaction(workspace.db) as conn:
        _update(workspace, conn, record["id"], {"count": 7})
        run = workspace.records._run(conn, workspace.snapshot(), SYSTEM, workspace.records.clock())
        run.delete("gadget", record["id"], "test")
        assert run.fetch("gadget", record["id"]) is None
        with pytest.raises(NotFound):
            _update(workspace, conn, record["id"], {"count": 8})
    table = workspace.snapshot().tables.main("gadget")
    with workspace.db.connect() as conn:
        row = conn.execute(sa.select(table).where(table.c.id == record["id"])).one()
    assert row.count == 7 and row.deleted_at is not None
