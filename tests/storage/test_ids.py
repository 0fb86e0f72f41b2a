"""Record ids: UUIDv7, unique, and in the order they were made (also within one millisecond)."""

from __future__ import annotations

import uuid

from engine.storage import ids


def test_ids_made_in_one_millisecond_keep_their_order(monkeypatch):
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_790_000_000_000 * 1_000_000)
    made = [ids.new_id() for _ in range(5000)]  # more than the 4096 a millisecond's counter holds
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(ids.is_id(i) and uuid.UUID(i).version == 7 for i in made)


def test_a_clock_going_back_does_not_reorder_ids(monkeypatch):
    now = [1_790_000_000_500]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0] * 1_000_000)
    first = ids.new_id()
    now[0] -= 400
    assert ids.new_id() > first
