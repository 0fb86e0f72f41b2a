"""Record ids: UUIDv7, unique, and in the order they were made (also within one millisecond)."""

from __future__ import annotations

import os
import uuid

import pytest

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


def test_ids_carry_fresh_random_bits_even_past_a_refill(monkeypatch):
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_790_000_000_000 * 1_000_000)
    tails = [ids.new_id()[20:] for _ in range(3 * ids._RANDOM_BATCH)]  # variant + random part
    assert len(set(tails)) == len(tails)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_process_does_not_reuse_the_random_bits_of_its_parent():
    ids.new_id()  # the parent holds unused random bits
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write the random part of its next id and leave
        os.write(write, ids.new_id()[19:].encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read), os.close(write)
    assert child != ids.new_id()[19:]
