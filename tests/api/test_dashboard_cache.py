"""Dashboard figures are kept a short while per viewer (``engine.dashboard_cache``): a change
through the data-access layer shows on the next view, a change this process cannot see
shows after ``refresh=true`` or once the figures expire, and no viewer gets another's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest

from engine import dashboard_cache
from engine.actor import Actor
from engine.app import create_app
from engine.change_feed import Change, feed_for
from engine.dashboard_cache import SLOW, STALE_LIMIT, DashboardCache, shared_for
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in
from tests.ui.pages import csrf_of


def deals(api: Api, query: str = "") -> int:
    board = api.get(f"/api/v1/dashboards/pipeline{query}")
    assert board.status_code == 200, board.get_json()
    return int(next(w for w in board.get_json()["widgets"] if w["name"] == "deals")["value"])


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = make_config(database_url, tmp_path, ("dash_kit",))
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    users = {who: create_user(ws, f"{who}@test.dev", who.title(), PASSWORD, ["sales_rep"]) for who in ("rep", "rep2")}
    client = create_app(ws.config, ws).test_client()
    other = Workspace(config, meta_check_interval=0)  # another process: its changes reach no feed here
    yield {
        "ws": ws,
        "other": other,
        "as_rep": Actor(users["rep"]["id"], frozenset({"sales_rep"})),
        "rep": sign_in(client, "rep@test.dev"),
        "rep2": sign_in(client, "rep2@test.dev"),
    }
    other.close()
    ws.close()


def test_a_change_through_this_workspace_shows_on_the_next_view(setup):
    rep = setup["rep"]
    assert deals(rep) == 0
    assert rep.post("deal", {"name": "A", "stage": "lead", "amount": "10"}).status_code == 201
    assert deals(rep) == 1


def test_figures_not_seen_by_the_feed_are_kept_until_refreshed(setup):
    rep = setup["rep"]
    assert deals(rep) == 0
    first = rep.get("/api/v1/dashboards/pipeline").get_json()["as_of"]
    setup["other"].records.create(setup["as_rep"], "deal", {"name": "B", "stage": "lead", "amount": "5"})
    assert deals(rep) == 0  # kept: this process was not told
    assert rep.get("/api/v1/dashboards/pipeline").get_json()["as_of"] == first
    assert deals(rep, "?refresh=true") == 1
    assert rep.get("/api/v1/dashboards/pipeline?refresh=maybe").status_code == 400


def test_each_viewer_has_their_own_figures(setup):
    rep, rep2 = setup["rep"], setup["rep2"]
    assert rep.post("deal", {"name": "Mine", "stage": "lead", "amount": "10"}).status_code == 201
    assert deals(rep) == 1
    assert deals(rep2) == 0  # a sales rep reads only their own deals, cached or not


def test_without_a_cache_every_view_computes(database_url, tmp_path):
    config = make_config(database_url, tmp_path, ("dash_kit",), dashboard_cache_seconds=0)
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    user = create_user(ws, "rep@test.dev", "Rep", PASSWORD, ["sales_rep"])
    rep = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")
    other = Workspace(config, meta_check_interval=0)
    try:
        assert deals(rep) == 0
        as_rep = Actor(user["id"], frozenset({"sales_rep"}))
        other.records.create(as_rep, "deal", {"name": "C", "stage": "lead", "amount": "5"})
        assert deals(rep) == 1
    finally:
        other.close()
        ws.close()


def test_figures_expire_after_the_configured_seconds(workspace):
    now = [0.0]
    cache = DashboardCache(workspace, 60, monotonic=lambda: now[0])
    computed = []

    def compute() -> dict[str, Any]:
        computed.append(1)
        return {"n": len(computed)}

    assert cache.figures("k", frozenset({"deal"}), compute)["n"] == 1
    now[0] = 59.0
    assert cache.figures("k", frozenset({"deal"}), compute)["n"] == 1
    now[0] = 61.0
    assert cache.figures("k", frozenset({"deal"}), compute)["n"] == 2
    cache.close()


class SlowBoard:
    """A dashboard whose figures take ``cost`` seconds of a fake clock to compute, with its
    background refreshes held until the test runs them."""

    def __init__(self, workspace: Workspace, cost: float) -> None:
        self.now, self.cost, self.computed = [0.0], cost, 0
        self.queued: list[Any] = []
        self.feed = feed_for(workspace)
        self.cache = DashboardCache(workspace, 60, monotonic=lambda: self.now[0], later=self.queued.append, slow=SLOW)
        self.fail = False

    def compute(self) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("the database went away")
        self.now[0] += self.cost
        self.computed += 1
        return {"n": self.computed}

    def view(self, refresh: bool = False) -> dict[str, Any]:
        return self.cache.figures("k", frozenset({"deal"}), self.compute, refresh)

    def change(self, entity: str = "deal") -> None:
        self.view()  # subscribes to the feed before the change
        self.feed.publish([Change(entity, "d1", 2, "update")])

    def run_queued(self) -> None:
        queued, self.queued[:] = list(self.queued), []
        for job in queued:
            job()


def test_a_slow_dashboard_shows_its_stale_figures_at_once_and_refreshes_behind(workspace):
    board = SlowBoard(workspace, cost=SLOW * 4)
    assert board.view() == {"n": 1, "as_of": ANY}
    board.change("account")  # not counted by this dashboard: still fresh
    assert board.view()["n"] == 1 and not board.queued
    board.change()
    stale = board.view()
    assert stale["n"] == 1 and stale["stale"] is True  # no waiting for the slow compute
    assert board.view()["stale"] is True and len(board.queued) == 1  # one refresh at a time
    board.run_queued()
    fresh = board.view()
    assert fresh["n"] == 2 and "stale" not in fresh
    board.cache.close()


def test_refreshing_a_slow_dashboard_answers_the_kept_figures_and_computes_behind(workspace):
    board = SlowBoard(workspace, cost=SLOW * 4)
    assert board.view()["n"] == 1
    forced = board.view(refresh=True)  # nothing changed, but the viewer asked for fresh figures
    assert forced["n"] == 1 and forced["stale"] is True and len(board.queued) == 1
    assert board.view()["stale"] is True  # a later view does not take the old figures as fresh
    assert board.view(refresh=True)["stale"] is True and len(board.queued) == 1  # one at a time
    board.run_queued()
    assert board.view() == {"n": 2, "as_of": ANY}
    board.cache.close()


def test_refreshing_a_dashboard_with_nothing_to_show_or_a_fast_one_waits(workspace):
    slow = SlowBoard(workspace, cost=SLOW * 4)
    assert slow.view(refresh=True) == {"n": 1, "as_of": ANY}  # no kept figures: computed now
    slow.cache.close()
    fast = SlowBoard(workspace, cost=SLOW / 10)
    fast.view()
    assert fast.view(refresh=True) == {"n": 2, "as_of": ANY} and not fast.queued
    fast.cache.close()


def test_a_fast_dashboard_is_computed_again_while_the_viewer_waits(workspace):
    board = SlowBoard(workspace, cost=SLOW / 10)
    assert board.view()["n"] == 1
    board.change()
    assert board.view() == {"n": 2, "as_of": ANY}
    assert not board.queued
    board.cache.close()


def test_figures_too_old_are_never_shown_stale(workspace):
    board = SlowBoard(workspace, cost=SLOW * 4)
    board.view()
    board.now[0] += STALE_LIMIT + 1
    assert board.view() == {"n": 2, "as_of": ANY}  # expired long ago: computed while waiting
    board.cache.close()


def test_a_failed_background_refresh_keeps_the_stale_figures_and_is_tried_again(workspace, caplog):
    board = SlowBoard(workspace, cost=SLOW * 4)
    board.view()
    board.change()
    board.fail = True
    assert board.view()["stale"] is True
    board.run_queued()
    assert "computing dashboard figures in the background failed" in caplog.text
    board.fail = False
    assert board.view()["stale"] is True and len(board.queued) == 1  # a new attempt
    board.run_queued()
    assert board.view()["n"] == 2
    board.cache.close()


def test_through_the_api_a_slow_dashboard_answers_stale_then_fresh(setup, monkeypatch):
    monkeypatch.setattr(dashboard_cache, "SLOW", 0.0)  # every dashboard counts as slow to compute
    rep, held = setup["rep"], []
    assert deals(rep) == 0
    shared_for(setup["ws"]).later = held.append  # background refreshes wait for the test
    assert rep.post("deal", {"name": "A", "stage": "lead", "amount": "10"}).status_code == 201
    board = rep.get("/api/v1/dashboards/pipeline").get_json()
    assert board["stale"] is True and deals(rep) == 0
    web = rep.client
    token = csrf_of(web.get("/login").get_data(as_text=True))
    web.post("/login", data={"email": "rep@test.dev", "password": PASSWORD, "csrf_token": token})
    assert "data-stale" in web.get("/app/dashboards/pipeline").get_data(as_text=True)  # "updating"
    assert len(held) == 2  # one refresh per shared answer (aggregates, table rows), however many views
    while held:
        held.pop()()
    assert deals(rep) == 1
    shared_for(setup["ws"]).later = None  # now on the cache's own thread
    assert rep.post("deal", {"name": "C", "stage": "lead", "amount": "10"}).status_code == 201
    deadline = time.monotonic() + 30
    while "stale" in (board := rep.get("/api/v1/dashboards/pipeline").get_json()):
        assert time.monotonic() < deadline, "the background refresh never finished"
        time.sleep(0.05)
    assert next(w for w in board["widgets"] if w["name"] == "deals")["value"] == 2
