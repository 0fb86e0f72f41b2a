"""Dashboard answers shared between processes through Redis (``engine.dashboard_store``):
a process takes what another computed instead of computing it again, as fresh only when it
has seen no change since, and a Redis that fails only costs the sharing.

Two ``Workspace`` objects on one database, each with its own app, stand for two web
processes: each has its own caches and its own subscription to the change feed, which goes
through Redis as in a deployment."""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from engine import dashboard_cache
from engine.actor import SYSTEM, Actor
from engine.app import create_app
from engine.dashboard_cache import cache_for, shared_for
from engine.dashboard_store import Unstorable, decode, encode
from engine.errors import BadRequest, FieldError, NotFound, RateLimited
from engine.security.users import create_user, ensure_roles
from engine.storage.reading import Page
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, sign_in

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")


# --- the codec ------------------------------------------------------------------------------
def test_answers_come_back_from_json_as_they_were():
    answers = [
        Page(
            [{"stage": "lead", "n": 3, "sum": Decimal("10.50"), "day": dt.date(2026, 12, 3), "ok": True}],
            "cursor",
            7,
            True,
        ),
        Page([{"at": dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC), "avg": 1.5, "none": None}]),
        BadRequest("A value could not be computed: out of range"),
        NotFound("no such field", [FieldError("group_by", "unknown field 'x'", 2)]),
        {("a", 1): "tuple keys", "$": "a key that looks like the tag"},
        (dt.time(8, 15), float("inf")),
    ]
    back = decode(encode({"answers": answers, "as_of": "2026-12-03T09:30:00+00:00"}))
    assert back["as_of"] == "2026-12-03T09:30:00+00:00"
    assert back["answers"][:2] == answers[:2] and back["answers"][4:] == answers[4:]
    for sent, got in zip(answers[2:4], back["answers"][2:4], strict=True):
        assert type(got) is type(sent) and got.detail == sent.detail and got.errors == sent.errors


@pytest.mark.parametrize("value", [object(), {1, 2}, RateLimited("slow down", retry_after=5)])
def test_a_value_the_codec_cannot_carry_is_refused(value):
    with pytest.raises(Unstorable):
        encode({"answers": [value]})


# --- two processes --------------------------------------------------------------------------
def deals(api: Any, refresh: bool = False) -> tuple[int, dict[str, Any]]:
    board = api.get("/api/v1/dashboards/pipeline" + ("?refresh=true" if refresh else ""))
    assert board.status_code == 200, board.get_json()
    body = board.get_json()
    return int(next(w for w in body["widgets"] if w["name"] == "deals")["value"]), body


class Process:
    """One web process: a workspace with its own app and caches, counting its computations."""

    def __init__(self, config: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ws = Workspace(config, meta_check_interval=0)
        self.computed = 0
        aggregate_many = self.ws.records.aggregate_many

        def counting(actor: Actor, entity: str, bodies: list[Any]) -> list[Any]:
            self.computed += 1
            return aggregate_many(actor, entity, bodies)

        monkeypatch.setattr(self.ws.records, "aggregate_many", counting)
        self.admin = sign_in(create_app(config, self.ws).test_client(), "admin@test.dev")


@pytest.fixture
def processes(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Process]]:
    if not REDIS_URL:
        pytest.skip("sharing between processes needs Redis: set TESSERA_TEST_REDIS_URL")
    monkeypatch.setattr(dashboard_cache, "CLOCK_SKEW", 0.0)  # the processes share one machine's clock
    config = make_config(database_url, tmp_path, ("dash_kit",), redis_url=REDIS_URL)
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Admin", PASSWORD, ["admin"])
    ws.close()
    made = [Process(config, monkeypatch), Process(config, monkeypatch)]
    yield made
    store = shared_for(made[0].ws).store
    assert store is not None
    redis = Redis.from_url(REDIS_URL)
    for key in redis.scan_iter(store.prefix + "*"):
        redis.delete(key)
    redis.close()
    for process in made:
        process.ws.close()


def add_deal(process: Process) -> None:
    assert process.admin.post("deal", {"name": "D", "stage": "lead", "amount": "10"}).status_code == 201


def heard(process: Process, entity: str) -> None:
    """Wait until the change feed (through Redis) brought a change of ``entity`` to ``process``:
    it waits in the queue the process's next view reads (a view before it arrives would
    rightly show the figures kept before the change)."""
    changes = shared_for(process.ws)._changes
    assert changes is not None
    deadline = time.monotonic() + 5
    while True:
        with changes._queue.mutex:
            if any(change.entity == entity for change in changes._queue.queue):
                return
        assert time.monotonic() < deadline, f"no change of {entity} reached the process"
        time.sleep(0.01)


def test_a_process_takes_the_answers_another_computed(processes):
    first, second = processes
    deals(second.admin)  # the second process is up and following changes
    add_deal(first)
    heard(second, "deal")
    count, board = deals(first.admin)
    assert count == 1 and first.computed == 1
    again, taken = deals(second.admin)
    assert again == 1 and second.computed == 1  # nothing computed: the first process's answers
    assert "stale" not in taken and taken["as_of"] == board["as_of"]


def test_a_change_seen_since_makes_a_process_compute_its_own(processes):
    first, second = processes
    deals(second.admin)
    deals(first.admin)
    add_deal(second)  # the first process hears of it through the feed
    heard(first, "deal")
    assert deals(first.admin)[0] == 1 and first.computed == 2
    add_deal(first)
    assert deals(second.admin)[0] == 2 and second.computed == 2  # computed after its own change: not shared


def test_a_process_that_just_started_shows_stored_slow_answers_as_stale_and_refreshes(processes, monkeypatch):
    first, second = processes
    monkeypatch.setattr(dashboard_cache, "SLOW", 0.0)  # every dashboard counts as slow to compute
    add_deal(first)
    assert deals(first.admin)[0] == 1
    held: list[Any] = []
    shared_for(second.ws).later = held.append  # background refreshes wait for the test
    count, board = deals(second.admin)  # its first view: it cannot know what changed before it started
    assert count == 1 and board["stale"] is True and second.computed == 0
    assert held
    while held:
        held.pop()()
    assert second.computed == 1
    count, board = deals(second.admin)
    assert count == 1 and "stale" not in board


def test_a_fast_dashboard_is_computed_when_freshness_is_unknown(processes):
    first, second = processes
    deals(first.admin)
    assert deals(second.admin)[0] == 0 and second.computed == 1  # fast: no stale answer shown


def test_refresh_computes_and_stores_for_the_others(processes):
    first, second = processes
    deals(second.admin)
    deals(first.admin)
    silent = Workspace(replace(first.ws.config, redis_url=None), meta_check_interval=0)  # tells no feed
    silent.records.create(SYSTEM, "deal", {"name": "Unheard", "stage": "lead", "amount": "5"})
    silent.close()
    assert deals(first.admin, refresh=True)[0] == 1 and first.computed == 2
    for cache in (shared_for(second.ws), cache_for(second.ws)):
        cache.clear()  # as if its kept answers had gone
    assert deals(second.admin)[0] == 1 and second.computed == 1  # the stored refresh, not its own


def test_a_redis_that_fails_only_costs_the_sharing(database_url, tmp_path, caplog):
    config = make_config(database_url, tmp_path, ("dash_kit",), redis_url="redis://127.0.0.1:1/0")
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Admin", PASSWORD, ["admin"])
    admin = sign_in(create_app(config, ws).test_client(), "admin@test.dev")
    try:
        assert admin.post("deal", {"name": "D", "stage": "lead", "amount": "10"}).status_code == 201
        assert deals(admin)[0] == 1
        assert deals(admin)[0] == 1
        assert "not shared between processes" in caplog.text
    finally:
        ws.close()


def test_workspaces_on_other_databases_store_under_other_names(tmp_path):
    one = make_config(f"sqlite:///{tmp_path / 'one.db'}", tmp_path, redis_url="redis://127.0.0.1:6379/0")
    two = make_config(f"sqlite:///{tmp_path / 'two.db'}", tmp_path, redis_url="redis://127.0.0.1:6379/0")
    prefixes = []
    for config in (one, two):
        ws = Workspace(config, meta_check_interval=0)
        store = dashboard_cache._store(ws)
        ws.close()
        assert store is not None
        prefixes.append(store.prefix)
    assert prefixes[0] != prefixes[1]


def test_stored_answers_too_old_to_show_are_computed_again(processes, monkeypatch):
    first, second = processes
    monkeypatch.setattr(dashboard_cache, "SLOW", 0.0)
    deals(first.admin)
    shared_for(second.ws).wall = lambda: time.time() + dashboard_cache.STALE_LIMIT + 1  # a quarter hour on
    count, board = deals(second.admin)
    assert count == 0 and "stale" not in board and second.computed == 1


def test_a_forced_refresh_of_a_slow_dashboard_computes_behind_even_with_answers_stored(processes, monkeypatch):
    first, _ = processes
    monkeypatch.setattr(dashboard_cache, "SLOW", 0.0)  # every dashboard counts as slow to compute
    assert deals(first.admin)[0] == 0 and first.computed == 1  # computed and stored in Redis
    silent = Workspace(replace(first.ws.config, redis_url=None), meta_check_interval=0)  # tells no feed
    silent.records.create(SYSTEM, "deal", {"name": "Unheard", "stage": "lead", "amount": "5"})
    silent.close()
    held: list[Any] = []
    shared_for(first.ws).later = held.append  # background refreshes wait for the test
    count, board = deals(first.admin, refresh=True)
    assert count == 0 and board["stale"] is True and held  # the kept figures at once
    while held:
        held.pop()()
    assert first.computed == 2  # computed, not taken back from the store (which looks fresh)
    count, board = deals(first.admin)
    assert count == 1 and "stale" not in board


def test_a_forced_refresh_during_a_running_refresh_is_computed_after_it(processes, monkeypatch):
    first, second = processes
    monkeypatch.setattr(dashboard_cache, "SLOW", 0.0)  # every dashboard counts as slow to compute
    deals(second.admin)  # the second process is up and following changes
    shared_for(second.ws).slow = math.inf  # the second computes while its viewer waits
    assert deals(first.admin)[0] == 0 and first.computed == 1
    add_deal(first)  # heard by both: the first's figures go stale
    heard(second, "deal")
    assert deals(second.admin)[0] == 1  # computed by the second and stored: they look fresh
    silent = Workspace(replace(first.ws.config, redis_url=None), meta_check_interval=0)  # tells no feed
    silent.records.create(SYSTEM, "deal", {"name": "Unheard", "stage": "lead", "amount": "5"})
    silent.close()
    held: list[Any] = []
    shared_for(first.ws).later = held.append  # background refreshes wait for the test
    assert deals(first.admin)[1]["stale"] is True and held  # refreshes that may take the store's answers
    assert deals(first.admin, refresh=True)[1]["stale"] is True  # asked while that one is pending
    while held:
        held.pop()()
    count, board = deals(first.admin)
    assert count == 2 and "stale" not in board  # the unheard deal counted: computed, not taken
