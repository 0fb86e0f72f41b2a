"""Live updates: the engine's change feed (engine.change_feed) and the server-sent events of
``/app/events`` (ui.live). On SQLite and PostgreSQL; through Redis when
``TESSERA_TEST_REDIS_URL`` is set.

Changes are published synchronously when their transaction commits, so a test that wrote
something reads what the feed holds right away; the stream tests read events until the one
they wait for arrives and check what came before it."""

from __future__ import annotations

import json
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis import Redis

from engine.app import create_app
from engine.change_feed import MISSED, Change, feed_for
from engine.security.users import create_user, ensure_roles
from engine.storage import system_tables as st
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, sign_in
from ui import boards, live  # noqa: F401 - the routes register on import (as in ui/__init__)

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")


def created(api: Any, values: dict[str, Any]) -> dict[str, Any]:
    reply = api.post("gadget", values)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


# --- the engine's change feed -------------------------------------------------------------------
def test_committed_writes_are_published_once_each_after_the_commit(workspace, admin):
    with feed_for(workspace).subscribe(["gadget"]) as changes:
        gadget = created(admin, {"name": "Lamp"})
        assert changes.drain(10) == [Change("gadget", gadget["id"], 1, "create")]
        assert admin.patch(f"gadget/{gadget['id']}", {"count": 3}).status_code == 200
        assert admin.post("maker", {"name": "Other entity"}).status_code == 201  # not subscribed
        assert admin.delete(f"gadget/{gadget['id']}").status_code == 204
        assert changes.drain(10) == [
            Change("gadget", gadget["id"], 2, "update"),
            Change("gadget", gadget["id"], 3, "delete"),
        ]
        assert admin.post(f"gadget/{gadget['id']}/restore").status_code == 200
        assert changes.drain(10) == [Change("gadget", gadget["id"], 4, "restore")]


def test_a_rolled_back_write_publishes_nothing(workspace, admin):
    with feed_for(workspace).subscribe() as changes:
        # the first row is written, the second breaks a unique value: the whole batch rolls back
        batch = [{"name": "One", "email": "same@example.com"}, {"name": "Two", "email": "same@example.com"}]
        reply = admin.post("gadget/bulk", batch)
        assert reply.status_code in (409, 422), reply.get_json()
        assert admin.get("gadget").get_json()["data"] == []
        assert changes.drain(10) == []
        # a batch that commits is one change per record
        reply = admin.post("gadget/bulk", [{"name": "Three"}, {"name": "Four"}])
        assert reply.status_code in (200, 201), reply.get_json()
        assert sorted(c.kind for c in changes.drain(10)) == ["create", "create"]


def test_a_large_transaction_keeps_a_bounded_list_and_says_many_changed(workspace, admin, monkeypatch):
    with feed_for(workspace).subscribe(["gadget"]) as changes, feed_for(workspace).subscribe(["person"]) as others:
        monkeypatch.setattr("engine.change_feed.QUEUE_SIZE", 3)  # a transaction lists 3 (the queues hold more)
        reply = admin.post("gadget/bulk", [{"name": f"Gadget {n}"} for n in range(5)])
        assert reply.status_code in (200, 201), reply.get_json()
        assert [c.kind for c in changes.drain(10)] == ["create"] * 3  # the first three, one by one
        assert changes.get(timeout=0.1) is MISSED  # then: more changed than listed, reload
        assert others.get(timeout=0.1) is None  # subscribers of other entities hear nothing
    assert len(admin.get("gadget?limit=10").get_json()["data"]) == 5


def test_a_workflow_transition_is_published_as_one_transition(sales_workspace, api_client):
    ws = sales_workspace("tickets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    agent = admin.get("/api/v1/user?email=support_agent@test.dev").get_json()["data"][0]["id"]
    ticket = lead.post("/api/v1/ticket", json={"subject": "Printer on fire", "assignee": agent}).get_json()
    with feed_for(ws).subscribe(["ticket"]) as changes:
        reply = lead.post(f"/api/v1/ticket/{ticket['id']}/actions/start", json={})
        assert reply.status_code == 200, reply.get_json()
        assert changes.drain(10) == [Change("ticket", ticket["id"], reply.get_json()["version"], "transition")]


@pytest.fixture
def two_processes(database_url: str, tmp_path: Path) -> Iterator[tuple[Any, Workspace, Workspace]]:
    """The configuration and two workspaces serving it through Redis, as two processes would:
    an admin signs in to the first."""
    if not REDIS_URL:
        pytest.skip("the Redis change feed needs TESSERA_TEST_REDIS_URL")
    config = make_config(database_url, tmp_path, redis_url=REDIS_URL)
    here = Workspace(config, meta_check_interval=0)
    here.install()
    ensure_roles(here)
    create_user(here, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    there = Workspace(config, meta_check_interval=0)
    try:
        yield config, here, there
    finally:
        feed_for(there).close()
        feed_for(here).close()
        there.close()
        here.close()


def test_changes_reach_another_process_through_redis(two_processes):
    config, here, there = two_processes
    with feed_for(there).subscribe(["gadget"]) as changes:
        api = sign_in(create_app(config, here).test_client(), "admin@test.dev")
        gadget = created(api, {"name": "Across processes"})
        assert changes.get(timeout=10) == Change("gadget", gadget["id"], 1, "create")


def test_with_redis_a_process_hears_its_own_changes_at_once_and_once(two_processes):
    config, here, there = two_processes
    with feed_for(here).subscribe(["gadget"]) as mine, feed_for(there).subscribe(["gadget"]) as theirs:
        api = sign_in(create_app(config, here).test_client(), "admin@test.dev")
        gadget = created(api, {"name": "Saved here"})
        change = Change("gadget", gadget["id"], 1, "create")
        assert mine.drain(10) == [change]  # no wait for Redis: delivered by the commit
        assert theirs.get(timeout=10) == change  # the message went round through Redis ...
        assert mine.get(timeout=0.5) is None  # ... and this process left its own copy out
        # a message of an older process (a bare list, no origin) is still understood
        redis = Redis.from_url(str(REDIS_URL))
        try:
            redis.publish(feed_for(here).channel, json.dumps([change.as_dict()]))
        finally:
            redis.close()
        assert mine.get(timeout=10) == change and theirs.get(timeout=10) == change


# --- the event stream ---------------------------------------------------------------------------
class Stream:
    """An open ``/app/events`` response, read event by event.

    A server answers each request in a thread of its own; so does this: the stream's request
    (and its Flask context, kept while it streams) stays out of the test's own requests."""

    def __init__(self, app: Any, headers: dict[str, str], query: str = "entity=gadget"):
        self.chunks: queue.Queue[Any] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(app, headers, query), daemon=True)
        self.thread.start()
        status, mimetype = self._next()
        assert (status, mimetype) == (200, "text/event-stream")
        assert ": connected" in self._next()  # the subscription is open from here on

    def _run(self, app: Any, headers: dict[str, str], query: str) -> None:
        response = app.test_client().get(f"/app/events?{query}", headers=headers, buffered=False)
        self.chunks.put((response.status_code, response.mimetype))
        try:
            for chunk in response.response:
                self.chunks.put(chunk.decode() if isinstance(chunk, bytes) else chunk)
                if self.stop.is_set():
                    break
        finally:
            response.close()
            self.chunks.put(None)

    def _next(self) -> Any:
        return self.chunks.get(timeout=60)  # a guard against a hung test, not a measurement

    def events(self, until: Any, limit: int = 500) -> list[tuple[str, Any]]:
        """Events read until ``until(name, data)`` holds (that one included)."""
        out: list[tuple[str, Any]] = []
        for _ in range(limit):
            chunk = self._next()
            if chunk is None:
                return out  # the stream ended
            if chunk.startswith(":"):
                continue  # a heartbeat
            lines = dict(line.split(": ", 1) for line in chunk.strip().splitlines())
            event = (lines["event"], json.loads(lines["data"]))
            out.append(event)
            if until(*event):
                return out
        raise AssertionError(f"no such event in {out}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture
def live_app(app: Any) -> Any:
    app.config.update(TESSERA_LIVE_HEARTBEAT=0.2, TESSERA_LIVE_MAX_SECONDS=60)
    return app


def open_stream(app: Any, api: Any, query: str = "entity=gadget") -> Stream:
    return Stream(app, api.headers, query)


def test_the_stream_sends_changes_of_other_users_the_user_may_read(live_app, client, rep, admin):
    mine = created(rep, {"name": "Rep's lamp"})
    stream = open_stream(live_app, rep)
    try:
        hidden = created(admin, {"name": "Admin's secret gadget"})  # the rep may not read it
        assert admin.patch(f"gadget/{hidden['id']}", {"count": 1}).status_code == 200
        assert admin.patch(f"gadget/{mine['id']}", {"count": 2}).status_code == 200
        seen = stream.events(lambda name, data: data.get("id") == mine["id"])
        assert seen == [("change", {"entity": "gadget", "id": mine["id"], "version": 2, "kind": "update"})]
        # the event says what changed, never a value of the record
        assert set(seen[0][1]) == {"entity", "id", "version", "kind"}
        # a deletion is told to those who could read the record (now in the trash)
        assert admin.delete(f"gadget/{hidden['id']}").status_code == 204
        assert admin.delete(f"gadget/{mine['id']}").status_code == 204
        seen = stream.events(lambda name, data: data.get("kind") == "delete")
        assert seen == [("change", {"entity": "gadget", "id": mine["id"], "version": 3, "kind": "delete"})]
    finally:
        stream.close()


def test_checking_readability_is_not_a_read_in_the_read_audit(live_app, workspace, rep, admin):
    stream = open_stream(live_app, rep, "entity=maker")  # makers record who read them
    try:
        maker = admin.post("maker", {"name": "Audited Tools"}).get_json()
        seen = stream.events(lambda name, data: data.get("id") == maker["id"])
        assert seen == [("change", {"entity": "maker", "id": maker["id"], "version": 1, "kind": "create"})]
    finally:
        stream.close()
    with workspace.db.connect() as conn:
        reads = conn.execute(
            sa.select(st.audit.c.id).where(st.audit.c.action == "read", st.audit.c.record_id == maker["id"])
        ).all()
    assert reads == []


def test_a_rolled_back_change_never_reaches_the_stream(live_app, client, admin):
    stream = open_stream(live_app, admin)
    try:
        batch = [{"name": "One", "email": "x@example.com"}, {"name": "Two", "email": "x@example.com"}]
        assert admin.post("gadget/bulk", batch).status_code in (409, 422)
        kept = created(admin, {"name": "Kept"})
        seen = stream.events(lambda name, data: data.get("id") == kept["id"])
        assert seen == [("change", {"entity": "gadget", "id": kept["id"], "version": 1, "kind": "create"})]
    finally:
        stream.close()


def test_streams_are_bounded_and_refuse_what_is_not_readable(live_app, client, rep, anonymous):
    assert client.get("/app/events?entity=gadget").status_code == 401  # signed out
    assert client.get("/app/events?entity=no_such_thing", headers=rep.headers).status_code == 404
    # a stream ends after its longest duration, telling the browser to reconnect
    live_app.config["TESSERA_LIVE_MAX_SECONDS"] = 0.2
    stream = open_stream(live_app, rep)
    assert stream.events(lambda name, data: name == "reconnect")[-1][0] == "reconnect"
    stream.close()
    # at most so many open streams per process: the next one is told to come back later
    live_app.config.update(TESSERA_LIVE_MAX_SECONDS=60, TESSERA_LIVE_MAX_STREAMS=1)
    first = open_stream(live_app, rep)
    try:
        busy = client.get("/app/events?entity=gadget", headers=rep.headers)
        assert busy.status_code == 503 and busy.headers["Retry-After"]
    finally:
        first.close()
    open_stream(live_app, rep).close()  # the slot is free again
