"""A batch of creates is written with COPY on PostgreSQL and stores exactly what creating the
records one at a time stores; a row the database refuses fails the batch as an INSERT would."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.storage import system_tables as st
from engine.storage import write_batch
from engine.storage.bulk_copy import MIN_ROWS, copies_behind
from engine.storage.create_batch import CreateBatch
from engine.storage.database import write_transaction
from engine.storage.ids import new_id
from engine.storage.validation import load_input
from engine.storage.write_batch import execute_grouped

COUNT = MIN_ROWS + 6
SYSTEM_FIELDS = {"id", "number", "name", "email", "created_at", "updated_at", "_title", "_links"}


def _document(i: int, prefix: str) -> dict:
    return {
        "name": f"{prefix} {i}",
        "email": f"{prefix.lower()}{i}@example.test",
        "notes": "tab\there, back\\slash,\nsecond line" if i % 2 else None,
        "count": i,
        "weight": "1.125",
        "price": "10.50",
        "discount": 12.5,
        "active": i % 3 == 0,
        "released_on": f"2026-01-{1 + i % 28:02d}",
        "seen_at": "2026-02-03T04:05:06+01:00",
        "warranty": 3600 * i,
        "status": "live" if i % 2 else "draft",
        "tags": ["red", "blue"],
        "specs": {"a": [1, None], "b": "x"} if i % 3 else None,
        "api_key": "s3cret",
        "stars": i % 6,
    }


def _create_batch(ws, conn, documents: list[dict]) -> list[str]:
    snap = ws.snapshot()
    entity = snap.catalog.entities["gadget"]
    batch = CreateBatch(ws.records, conn, snap, SYSTEM, entity, ws.records.clock())
    ids = [batch.add(load_input(snap.input_schema("gadget"), entity, d)) for d in documents]
    batch.flush()
    return ids


def _comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in SYSTEM_FIELDS}


@pytest.fixture
def copies(workspace, monkeypatch):
    """How many batches were written with COPY."""
    written = []
    copy_rows = write_batch.copy_rows

    def spy(conn, statement, rows):
        done = copy_rows(conn, statement, rows)
        written.append(done)
        return done

    monkeypatch.setattr(write_batch, "copy_rows", spy)
    return written


def test_a_batch_stores_what_single_creates_store(workspace, copies, backend):
    one_by_one = [workspace.records.create(SYSTEM, "gadget", _document(i, "Single")) for i in range(COUNT)]
    with write_transaction(workspace.db) as conn:
        ids = _create_batch(workspace, conn, [_document(i, "Batched") for i in range(COUNT)])
    batched = [workspace.records.get(SYSTEM, "gadget", record_id) for record_id in ids]
    assert [_comparable(r) for r in batched] == [_comparable(r) for r in one_by_one]
    assert batched[1]["notes"] == "tab\there, back\\slash,\nsecond line"
    assert batched[0]["specs"] is None and batched[1]["specs"] == {"a": [1, None], "b": "x"}
    history = workspace.records.history(SYSTEM, "gadget", ids[1], {}).data
    assert history[0]["changes"]["api_key"] == [None, "********"]
    assert history[0]["changes"]["notes"] == [None, "tab\there, back\\slash,\nsecond line"]
    assert any(copies) is (backend == "postgresql")  # SQLite: executemany


def test_a_refused_row_fails_the_whole_batch_and_the_transaction_goes_on(workspace, copies):
    workspace.records.create(SYSTEM, "gadget", {"name": "First", "email": "taken@example.test"})
    documents = [_document(i, "Batched") for i in range(COUNT)]
    documents[-1]["email"] = "taken@example.test"  # the unique index refuses it
    with write_transaction(workspace.db) as conn:
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
            _create_batch(workspace, conn, documents)
        _create_batch(workspace, conn, documents[:-1])
    names = {r["name"] for r in workspace.records.list(SYSTEM, "gadget", {"limit": "500"}).data}
    assert names == {"First"} | {d["name"] for d in documents[:-1]}


def _audit_both_ways(workspace, entries) -> dict[str, list]:
    """``entries(record_id)`` written as one batch (COPY on PostgreSQL) and again ten rows at
    a time (too few to COPY: executemany); each way's stored ``changes``: whether SQL NULL,
    and the document as text."""
    audit = st.audit
    with write_transaction(workspace.db) as conn:
        execute_grouped(conn, audit.insert(), entries("copied"))
        one_by_one = entries("one-by-one")
        for start in range(0, COUNT, 10):
            execute_grouped(conn, audit.insert(), one_by_one[start : start + 10])
        columns = (audit.c.changes.is_(None), sa.cast(audit.c.changes, sa.String))
        return {
            record_id: sorted(conn.execute(sa.select(*columns).where(audit.c.record_id == record_id)).all())
            for record_id in ("copied", "one-by-one")
        }


def test_rows_that_leave_out_a_column_store_what_executemany_stores(workspace, copies, backend):
    """A left-out column is SQL NULL, a None given for a JSON column is a JSON null."""
    now = workspace.records.clock()

    def entries(record_id: str) -> list[dict]:
        rows = [{"id": new_id(), "at": now, "action": "note", "entity": "gadget", "record_id": record_id}]
        return [{**rows[0], "id": new_id(), **({"changes": None} if i % 2 else {})} for i in range(COUNT)]

    stored = _audit_both_ways(workspace, entries)
    assert stored["copied"] == stored["one-by-one"]
    assert {row[0] for row in stored["copied"]} == {True, False}
    assert copies[0] is (backend == "postgresql") and not any(copies[1:])


def test_json_values_copied_are_those_executemany_stores(workspace, copies, backend):
    """orjson writes a COPY's JSON; what it refuses (keys that are not text, integers past 64
    bits) is written by json; either way the stored document is the INSERT's."""
    now = workspace.records.clock()
    values = [
        {"name": [None, 'Zoë 東京 \\ "q"\n'], "n": [1.5, 2**53], "ok": [True, None], "deep": {"a": [{"b": []}]}},
        {1: "a key that is a number"},
        {"big": 2**70},
        [],
    ]

    def entries(record_id: str) -> list[dict]:
        base = {"at": now, "action": "note", "entity": "gadget", "record_id": record_id}
        return [{**base, "id": new_id(), "changes": values[i % len(values)]} for i in range(COUNT)]

    stored = _audit_both_ways(workspace, entries)
    assert stored["copied"] == stored["one-by-one"] and len(set(stored["copied"])) == len(values)
    assert copies[0] is (backend == "postgresql")


def _audit_rows(count: int, record_id: str, now) -> list[dict]:
    return [
        {"id": new_id(), "at": now, "action": "note", "entity": "gadget", "record_id": record_id} for _ in range(count)
    ]


def test_a_copy_ending_behind_is_stored_before_the_next_statement_reads(workspace, copies):
    """Inside copies_behind the rows are there for whatever runs next on the connection."""
    now = workspace.records.clock()
    with write_transaction(workspace.db) as conn, copies_behind(conn):
        execute_grouped(conn, st.audit.insert(), _audit_rows(COUNT, "behind", now))
        execute_grouped(conn, st.audit.insert(), _audit_rows(COUNT, "behind", now))  # the next COPY waits
        stored = conn.execute(sa.select(sa.func.count()).where(st.audit.c.record_id == "behind")).scalar()
    assert stored == 2 * COUNT


@pytest.mark.parametrize("then", ["a statement", "the block's end", "another copy"])
def test_a_copy_refused_behind_fails_where_the_caller_can_still_undo_it(workspace, copies, backend, then):
    """A refused COPY ending behind raises its IntegrityError at the next statement, the next
    COPY or the block's end, inside the caller's savepoint: nothing of it is left, and the
    transaction goes on."""
    now = workspace.records.clock()
    rows = _audit_rows(COUNT, "refused", now)
    rows[-1]["id"] = rows[0]["id"]  # the primary key refuses the last row
    got_past = []
    with write_transaction(workspace.db) as conn:
        with pytest.raises(sa.exc.IntegrityError), conn.begin_nested(), copies_behind(conn):
            execute_grouped(conn, st.audit.insert(), rows)
            if then == "a statement":
                conn.execute(sa.select(sa.func.count()).select_from(st.audit))
            elif then == "another copy":
                execute_grouped(conn, st.audit.insert(), _audit_rows(COUNT, "refused", now))
            got_past.append(then)
        behind = backend == "postgresql" and then == "the block's end"  # SQLite refuses at once
        assert got_past == ([then] if behind else [])
        execute_grouped(conn, st.audit.insert(), _audit_rows(COUNT, "after", now))
    with workspace.db.connect() as conn:
        counts = dict(
            conn.execute(sa.select(st.audit.c.record_id, sa.func.count()).group_by(st.audit.c.record_id)).all()
        )
    assert "refused" not in counts and counts["after"] == COUNT


def test_a_block_failing_while_a_copy_ends_behind_raises_its_own_error(workspace, copies):
    now = workspace.records.clock()
    with write_transaction(workspace.db) as conn:
        with pytest.raises(ZeroDivisionError), conn.begin_nested(), copies_behind(conn):
            execute_grouped(conn, st.audit.insert(), _audit_rows(COUNT, "failed", now))
            1 / 0  # noqa: B018 - the caller's own failure, while the COPY ends
        stored = conn.execute(sa.select(sa.func.count()).where(st.audit.c.record_id == "failed")).scalar()
    assert stored == 0
