"""Dashboard figures are kept a short while per viewer (``engine.dashboard_cache``): a change
through the data-access layer shows on the next view, a change this process cannot see
shows after ``refresh=true`` or once the figures expire, and no viewer gets another's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actor import Actor
from engine.app import create_app
from engine.dashboard_cache import DashboardCache
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in


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
