"""Dashboard aggregates are shared between viewers who would send the same SQL
(``engine.dashboard_cache.shared_for``): a second admin's first view reuses what the first
admin's view computed, a rep never gets another rep's figures, and a slow dashboard's
shared figures are kept warm so nobody waits for them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine import dashboard_cache
from engine.actor import Actor
from engine.app import create_app
from engine.change_feed import Change, feed_for
from engine.dashboard_cache import SLOW, STALE_LIMIT, WARM_WINDOW, DashboardCache, shared_for
from engine.dashboard_rows import _plain
from engine.security.users import create_user, ensure_roles
from engine.storage.shared_scan import fingerprint
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, sign_in


def deals(api: Any) -> int:
    board = api.get("/api/v1/dashboards/pipeline")
    assert board.status_code == 200, board.get_json()
    return int(next(w for w in board.get_json()["widgets"] if w["name"] == "deals")["value"])


@pytest.fixture
def setup(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    config = make_config(database_url, tmp_path, ("dash_kit",))
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    roles = {"admin": ["admin"], "admin2": ["admin"], "rep": ["sales_rep"], "rep2": ["sales_rep"]}
    users = {who: create_user(ws, f"{who}@test.dev", who.title(), PASSWORD, r) for who, r in roles.items()}
    client = create_app(ws.config, ws).test_client()
    computed: list[str | None] = []  # the reader of every aggregate computation, in order
    aggregate_many = ws.records.aggregate_many

    def counting(actor: Actor, entity: str, bodies: list[Any]) -> list[Any]:
        computed.append(actor.user_id)
        return aggregate_many(actor, entity, bodies)

    listed: list[str | None] = []  # the reader of every read of the table widget's deals
    list_records = ws.records.list

    def listing(actor: Actor, entity: str, params: Any) -> Any:
        if entity == "deal":
            listed.append(actor.user_id)
        return list_records(actor, entity, params)

    monkeypatch.setattr(ws.records, "aggregate_many", counting)
    monkeypatch.setattr(ws.records, "list", listing)
    yield {
        "ws": ws,
        "computed": computed,
        "listed": listed,
        "ids": {who: u["id"] for who, u in users.items()},
        **{who: sign_in(client, f"{who}@test.dev") for who in roles},
    }
    ws.close()


def add_deal(setup: dict[str, Any], owner: str = "rep") -> None:
    assert setup[owner].post("deal", {"name": "D", "stage": "lead", "amount": "10"}).status_code == 201


def test_a_second_admin_reuses_the_first_admins_figures(setup):
    add_deal(setup)
    assert deals(setup["admin"]) == 1
    assert setup["computed"] == [setup["ids"]["admin"]]
    assert deals(setup["admin2"]) == 1  # another viewer, the same SQL: nothing computed
    assert setup["computed"] == [setup["ids"]["admin"]]
    add_deal(setup)  # a change: the next view computes again, once for both admins
    assert deals(setup["admin2"]) == 2 and deals(setup["admin"]) == 2
    assert setup["computed"] == [setup["ids"]["admin"], setup["ids"]["admin2"]]
    assert setup["listed"] == setup["computed"]  # the table of the biggest deals: shared too


def test_readers_with_their_own_scope_never_share(setup):
    add_deal(setup, "rep")
    assert deals(setup["rep"]) == 1
    assert deals(setup["rep2"]) == 0  # a rep's predicate names the rep: not the same SQL
    assert deals(setup["admin"]) == 1
    assert setup["computed"] == [setup["ids"][who] for who in ("rep", "rep2", "admin")]
    assert setup["listed"] == setup["computed"]
    rows = setup["rep2"].get("/api/v1/dashboards/pipeline").get_json()["widgets"]
    assert next(w for w in rows if w["name"] == "biggest")["rows"] == []


def test_a_new_viewer_of_a_slow_dashboard_gets_the_shared_figures_at_once(setup, monkeypatch):
    monkeypatch.setattr(dashboard_cache, "SLOW", 0.0)  # every dashboard counts as slow to compute
    held: list[Any] = []
    assert deals(setup["admin"]) == 0
    shared_for(setup["ws"]).later = held.append  # background refreshes wait for the test
    add_deal(setup)
    board = setup["admin2"].get("/api/v1/dashboards/pipeline").get_json()
    assert board["stale"] is True and deals(setup["admin2"]) == 0  # the first view does not wait
    assert len(held) == 2 and len(setup["computed"]) == 1  # the aggregates and the table's rows
    while held:
        held.pop()()
    assert deals(setup["admin2"]) == 1 and deals(setup["admin"]) == 1
    assert "stale" not in setup["admin"].get("/api/v1/dashboards/pipeline").get_json()
    assert len(setup["computed"]) == 2


def test_refresh_computes_the_shared_figures_again(setup):
    assert deals(setup["admin"]) == 0
    other = Workspace(setup["ws"].config, meta_check_interval=0)  # another process: its changes reach no feed here
    rep = Actor(setup["ids"]["rep"], frozenset({"sales_rep"}))
    other.records.create(rep, "deal", {"name": "B", "stage": "lead", "amount": "5"})
    other.close()
    assert deals(setup["admin2"]) == 0  # shared, and this process was not told
    board = setup["admin2"].get("/api/v1/dashboards/pipeline?refresh=true").get_json()
    assert next(w for w in board["widgets"] if w["name"] == "deals")["value"] == 1
    assert deals(setup["admin"]) == 1  # the refreshed figures are the shared ones


class Clocked:
    """A shared cache on a fake clock whose background refreshes wait for the test."""

    def __init__(self, workspace: Workspace, cost: float = SLOW * 4) -> None:
        self.now, self.queued, self.computed, self.cost = [0.0], [], 0, cost
        self.cache = DashboardCache(workspace, 60, monotonic=lambda: self.now[0], later=self.queued.append, slow=SLOW)

    def compute(self) -> dict[str, Any]:
        self.now[0] += self.cost
        self.computed += 1
        return {"n": self.computed}

    def view(self, key: str = "k") -> dict[str, Any]:
        return self.cache.figures(key, frozenset({"deal"}), self.compute)

    def run_queued(self) -> None:
        queued, self.queued[:] = list(self.queued), []
        for job in queued:
            job()


def test_figures_viewed_lately_are_computed_again_before_they_grow_too_old(workspace):
    board = Clocked(workspace)
    board.view()
    board.now[0] += STALE_LIMIT * 2 / 3 + 5
    assert board.cache.warm() == 1 and board.cache.warm() == 0  # one refresh at a time
    board.run_queued()
    assert board.computed == 2
    board.now[0] += STALE_LIMIT / 2  # young enough: nothing to warm
    assert board.cache.warm() == 0
    board.now[0] = WARM_WINDOW + 5  # old again, but warming is no view: not viewed lately
    assert board.cache.warm() == 0
    board.now[0] = WARM_WINDOW - 10
    board.view()  # a view (which computes: too old to show) makes them wanted again
    board.now[0] = WARM_WINDOW + STALE_LIMIT
    assert board.cache.warm() == 1
    board.cache.close()


def test_fast_figures_are_not_warmed_but_computed_at_their_next_view(workspace):
    board = Clocked(workspace, cost=0.0)
    board.view()
    board.now[0] += STALE_LIMIT
    assert board.cache.warm() == 0
    assert board.view()["n"] == 2
    board.cache.close()


def test_figures_an_entity_change_made_stale_are_warmed(workspace):
    board = Clocked(workspace)
    board.view()
    feed_for(workspace).publish([Change("deal", "d1", 2, "update")])
    board.cache._forget_changed()
    assert board.cache.warm() == 1
    board.run_queued()
    assert board.view()["n"] == 2 and board.computed == 2  # fresh again: the view computes nothing
    board.cache.close()


def test_a_table_showing_a_computed_or_secret_column_is_read_for_each_viewer(workspace):
    snap = workspace.snapshot()
    voucher, gadget = snap.catalog.entities["voucher"], snap.catalog.entities["gadget"]
    computed = next(n for n, fd in voucher.fields.items() if fd.is_computed and not fd.has_column)
    plain = next(n for n, fd in voucher.fields.items() if fd.has_column and fd.type == "string")
    assert _plain(voucher, [plain, "owner", "created_at"])
    assert not _plain(voucher, [plain, computed])
    assert not _plain(gadget, ["api_key"])


class Hiding:
    """Access that reads every record but hides ``hidden``: the same SQL as an admin's."""

    def __init__(self, hidden: set[str], catalog: Any) -> None:
        self._hidden, self._catalog = hidden, catalog

    def predicate(self, *args: Any) -> None:
        return None

    def visible_catalog(self) -> Any:
        return self._catalog

    def hidden(self, entity: Any) -> set[str]:
        return self._hidden

    def check_expression(self, expr: Any) -> None:
        return None


def test_the_fingerprint_tells_readers_apart_by_scope_and_hidden_fields(workspace):
    records, snap = workspace.records, workspace.snapshot()
    gadget = snap.catalog.entities["gadget"]
    admins = [Actor(f"admin-{n}", frozenset({"admin"})) for n in (1, 2)]
    bodies = [{"filter": 'status == "active"', "group_by": ["status"]}]

    def key(actor: Actor, access: Any = "theirs") -> Any:
        rc = records._rc(actor, snap)
        if access != "theirs":
            rc = replace(rc, access=access)
        return fingerprint(snap, gadget, bodies, rc, workspace.db.dialect)

    assert key(admins[0]) == key(admins[1])
    assert key(admins[0], Hiding(set(), snap.catalog)) == key(admins[0])
    assert key(admins[0], Hiding({"price"}, snap.catalog)) != key(admins[0])  # its sort or filter may not be shared
    rep = Actor("rep-1", frozenset({"sales_rep"}))
    assert key(rep) != key(Actor("rep-2", frozenset({"sales_rep"})))  # "own": the predicate names the rep


def test_closing_the_workspace_stops_its_dashboard_threads(database_url, tmp_path):
    ws = Workspace(make_config(database_url, tmp_path, ("dash_kit",)), meta_check_interval=0)
    ws.install()
    cache, held, computed = shared_for(ws), [], []
    cache.later, cache.slow = held.append, 0.0  # every answer slow; refreshes wait for the test

    def compute() -> dict[str, Any]:
        computed.append(1)
        return {"n": len(computed)}

    cache.figures("k", frozenset({"deal"}), compute)
    feed_for(ws).publish([Change("deal", "d1", 2, "update")])
    assert cache.figures("k", frozenset({"deal"}), compute)["stale"] is True and len(held) == 1
    ws.close()
    held.pop()()
    assert computed == [1]  # a refresh queued before the close computes nothing after it
    assert ws not in dashboard_cache._caches
