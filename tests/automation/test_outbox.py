"""The outbox: a committed effect is delivered once, whatever crashes; failures are retried
with backoff, then listed for admins to retry or discard.

The dispatcher tests run with both runners: in process, and claimed by the scheduler then
made by an RQ worker (needs ``TESSERA_TEST_REDIS_URL``).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.automation.channels import CHANNELS, Delivery
from engine.automation.jobs import InProcessRunner, JobRunner, RqRunner
from engine.automation.outbox import RetryPolicy, claim_due
from engine.storage.database import write_transaction
from tests.conftest import Api, sign_in

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")
T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(max_attempts=3, base=dt.timedelta(minutes=1), lease=dt.timedelta(minutes=5))


class Crash(BaseException):
    """The dispatching process dies (not an error a channel reports)."""


@dataclass
class FakeChannel:
    """A receiver that deduplicates by the row id, as real channels must."""

    mode: str = "ok"  # ok, retry, fatal, raise, crash_after_effect
    attempts: Counter[str] = field(default_factory=Counter)
    effects: Counter[str] = field(default_factory=Counter)

    def __call__(self, ws: Any, row: dict[str, Any]) -> Delivery:
        self.attempts[row["id"]] += 1
        if self.mode == "retry":
            return Delivery(False, 503, "receiver busy")
        if self.mode == "fatal":
            return Delivery(False, 410, "receiver gone", retry=False)
        if self.mode == "raise":
            raise RuntimeError("boom")
        if row["id"] not in self.effects:  # idempotent: the effect happens once per row id
            self.effects[row["id"]] += 1
        if self.mode == "crash_after_effect":
            self.mode = "ok"
            raise Crash
        return Delivery(True, 200)


@pytest.fixture
def channel(monkeypatch: pytest.MonkeyPatch) -> FakeChannel:
    fake = FakeChannel()
    monkeypatch.setitem(CHANNELS, "fake", fake)
    return fake


@pytest.fixture
def ws(auto_workspace: Any) -> Any:
    return auto_workspace()


@pytest.fixture
def admin(ws: Any) -> Api:
    return sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")


class Dispatcher:
    """A fresh dispatcher process: a pass of the runner, then (RQ) a worker's burst."""

    def __init__(self, ws: Any, kind: str, queue: str):
        self.ws, self.kind, self.queue = ws, kind, queue

    def run(self, now: dt.datetime) -> None:
        runner: JobRunner
        if self.kind == "rq":
            assert REDIS_URL is not None
            runner = RqRunner(self.ws, REDIS_URL, self.queue, policy=POLICY)
        else:
            runner = InProcessRunner(self.ws, policy=POLICY)
        try:
            runner.tick(now)
            if isinstance(runner, RqRunner):
                runner.worker().work(burst=True)
        except Crash:
            pass  # the process died; whatever it claimed is left as it was
        finally:
            if isinstance(runner, RqRunner):
                runner.close()

    def claim_and_stop(self, now: dt.datetime) -> None:
        """A dispatcher claims the due rows, then stops before delivering (with RQ: the
        scheduler queued the jobs, no worker ran them yet)."""
        if self.kind == "rq":
            assert REDIS_URL is not None
            runner = RqRunner(self.ws, REDIS_URL, self.queue, policy=POLICY)
            runner.tick(now)
            runner.close()
        else:
            claim_due(self.ws, now, policy=POLICY)


@pytest.fixture(params=["inprocess", "rq"])
def dispatcher(request: pytest.FixtureRequest, ws: Any) -> Iterator[Dispatcher]:
    if request.param == "rq" and not REDIS_URL:
        pytest.skip("RQ tests need TESSERA_TEST_REDIS_URL (a Redis server)")
    queue = f"tessera-test-{uuid.uuid4().hex[:12]}"
    yield Dispatcher(ws, request.param, queue)
    if request.param == "rq":
        from redis import Redis
        from rq import Queue

        with Redis.from_url(REDIS_URL or "") as redis:
            Queue(queue, connection=redis).delete(delete_jobs=True)


def queue_effect(ws: Any, channel: str = "fake", payload: dict[str, Any] | None = None, **options: Any) -> str:
    """Queue an outbox row the way automation does, in a committed transaction."""
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, ws.snapshot(), SYSTEM, T0)
        outbox_id = run.outbox(channel, payload or {"message": "hello"}, **options)
    assert outbox_id is not None
    return outbox_id


def job(admin: Api, outbox_id: str) -> dict[str, Any]:
    [found] = [j for j in admin.get("admin/jobs").get_json()["data"] if j["id"] == outbox_id]
    return found


def deliveries(admin: Api, outbox_id: str) -> list[dict[str, Any]]:
    response = admin.get(f"admin/jobs/{outbox_id}/deliveries")
    assert response.status_code == 200
    return response.get_json()["data"]


def test_an_effect_committed_before_a_crash_is_delivered_once_later(
    ws: Any, admin: Api, channel: FakeChannel, dispatcher: Dispatcher
) -> None:
    outbox_id = queue_effect(ws)  # committed; the process dies before any dispatcher ran
    assert job(admin, outbox_id)["state"] == "pending"
    dispatcher.run(T0)
    assert job(admin, outbox_id)["state"] == "sent"
    dispatcher.run(T0 + dt.timedelta(hours=1))
    assert channel.attempts == {outbox_id: 1}
    assert channel.effects == {outbox_id: 1}
    assert [d["ok"] for d in deliveries(admin, outbox_id)] == [True]


def test_a_crash_during_delivery_is_retried_after_the_lease_and_the_effect_happens_once(
    ws: Any, admin: Api, channel: FakeChannel, dispatcher: Dispatcher
) -> None:
    channel.mode = "crash_after_effect"
    outbox_id = queue_effect(ws)
    dispatcher.run(T0)  # the receiver got it, then the dispatcher died before recording that
    assert job(admin, outbox_id)["state"] == "running"
    dispatcher.run(T0 + dt.timedelta(minutes=1))  # still within the lease: nobody takes it
    assert channel.attempts == {outbox_id: 1}
    dispatcher.run(T0 + dt.timedelta(minutes=6))
    assert job(admin, outbox_id)["state"] == "sent"
    assert channel.attempts == {outbox_id: 2}  # the same row id both times
    assert channel.effects == {outbox_id: 1}
    attempts = deliveries(admin, outbox_id)
    assert [d["ok"] for d in attempts] == [False, True]
    assert "did not finish within its lease" in attempts[0]["error"]


def test_a_claim_abandoned_before_delivery_is_taken_again_and_delivered_once(
    ws: Any, admin: Api, channel: FakeChannel, dispatcher: Dispatcher
) -> None:
    outbox_id = queue_effect(ws)
    dispatcher.claim_and_stop(T0)
    assert (job(admin, outbox_id)["state"], channel.attempts[outbox_id]) == ("running", 0)
    # after the lease: claimed again; with RQ the first, late job is skipped when it finally runs
    dispatcher.run(T0 + dt.timedelta(minutes=6))
    assert (job(admin, outbox_id)["state"], job(admin, outbox_id)["attempts"]) == ("sent", 2)
    assert channel.attempts == {outbox_id: 1}


def test_failures_are_retried_with_backoff_then_listed_as_failed(
    ws: Any, admin: Api, channel: FakeChannel, dispatcher: Dispatcher
) -> None:
    channel.mode = "retry"
    outbox_id = queue_effect(ws)
    dispatcher.run(T0)
    first = job(admin, outbox_id)
    assert (first["state"], first["attempts"], first["last_error"]) == ("pending", 1, "receiver busy")
    assert first["available_at"] == (T0 + dt.timedelta(minutes=1)).isoformat()
    dispatcher.run(T0 + dt.timedelta(seconds=59))  # not yet due
    assert channel.attempts[outbox_id] == 1
    dispatcher.run(T0 + dt.timedelta(minutes=1))
    assert job(admin, outbox_id)["available_at"] == (T0 + dt.timedelta(minutes=3)).isoformat()  # doubled
    dispatcher.run(T0 + dt.timedelta(minutes=3))
    failed = job(admin, outbox_id)
    assert (failed["state"], failed["attempts"]) == ("failed", 3)
    dispatcher.run(T0 + dt.timedelta(days=1))
    assert channel.attempts[outbox_id] == 3  # the dead-letter list is not retried by itself
    assert [(d["ok"], d["status_code"]) for d in deliveries(admin, outbox_id)] == [(False, 503)] * 3
    assert [j["id"] for j in admin.get("admin/jobs?state=failed").get_json()["data"]] == [outbox_id]


def test_a_permanent_failure_a_raising_channel_and_an_unknown_channel(
    ws: Any, admin: Api, channel: FakeChannel, dispatcher: Dispatcher
) -> None:
    channel.mode = "fatal"
    gone = queue_effect(ws)
    nowhere = queue_effect(ws, channel="nowhere")
    dispatcher.run(T0)
    assert (job(admin, gone)["state"], job(admin, gone)["attempts"]) == ("failed", 1)
    assert job(admin, gone)["last_error"] == "receiver gone"
    assert job(admin, nowhere)["state"] == "failed"
    assert job(admin, nowhere)["last_error"].startswith("unknown channel 'nowhere'; known channels: ")
    channel.mode = "raise"
    raising = queue_effect(ws)
    dispatcher.run(T0)
    assert (job(admin, raising)["state"], job(admin, raising)["last_error"]) == ("pending", "RuntimeError: boom")


def test_a_repeated_key_queues_one_effect(ws: Any, admin: Api, channel: FakeChannel) -> None:
    first = queue_effect(ws, key="welcome:client-1")
    with write_transaction(ws.db) as conn:
        assert ws.records._run(conn, ws.snapshot(), SYSTEM, T0).outbox("fake", {}, key="welcome:client-1") is None
    assert [j["id"] for j in admin.get("admin/jobs").get_json()["data"]] == [first]


def test_admins_see_metrics_retry_and_discard_jobs(ws: Any, admin: Api, channel: FakeChannel) -> None:
    channel.mode = "fatal"
    failed = queue_effect(ws, payload={"to": "ann@test.dev", "link": "https://x.test/reset/SECRET", "token": "t"})
    InProcessRunner(ws, policy=POLICY).tick(T0)
    waiting = queue_effect(ws)
    assert admin.get("admin/jobs/metrics").get_json() == {
        "queued": 1,
        "running": 0,
        "sent": 0,
        "failed": 1,
        "discarded": 0,
    }
    listed = admin.get("admin/jobs?state=failed").get_json()["data"]
    assert [j["id"] for j in listed] == [failed]
    assert listed[0]["payload"] == {"to": "ann@test.dev", "link": "[hidden]", "token": "[hidden]"}
    assert listed[0]["channel"] == "fake"

    retried = admin.post(f"admin/jobs/{failed}/retry")
    assert retried.status_code == 200
    assert (retried.get_json()["state"], retried.get_json()["attempts"]) == ("pending", 1)
    channel.mode = "ok"
    InProcessRunner(ws, policy=POLICY).tick(T0 + dt.timedelta(minutes=1))
    assert job(admin, failed)["state"] == "sent"
    assert job(admin, failed)["attempts"] == 2
    assert admin.post(f"admin/jobs/{failed}/retry").status_code == 409  # sent: nothing to retry
    assert admin.post(f"admin/jobs/{failed}/discard").status_code == 409

    assert job(admin, waiting)["state"] == "sent"  # it was due too
    queued = queue_effect(ws, available_at=T0 + dt.timedelta(days=1))
    discarded = admin.post(f"admin/jobs/{queued}/discard")
    assert (discarded.status_code, discarded.get_json()["state"]) == (200, "discarded")
    InProcessRunner(ws, policy=POLICY).tick(T0 + dt.timedelta(days=2))
    assert channel.attempts[queued] == 0
    assert admin.get("admin/jobs/metrics").get_json() == {
        "queued": 0,
        "running": 0,
        "sent": 2,
        "failed": 0,
        "discarded": 1,
    }


def test_the_jobs_api_is_for_admins_and_refuses_bad_input(ws: Any, admin: Api, channel: FakeChannel) -> None:
    outbox_id = queue_effect(ws)
    rep = sign_in(admin.client, "rep@test.dev")
    for method, path in [
        ("get", "admin/jobs"),
        ("get", "admin/jobs/metrics"),
        ("post", f"admin/jobs/{outbox_id}/retry"),
        ("post", f"admin/jobs/{outbox_id}/discard"),
        ("get", f"admin/jobs/{outbox_id}/deliveries"),
    ]:
        assert getattr(rep, method)(path).status_code == 403, path
    bad_state = admin.get("admin/jobs?state=lost")
    assert bad_state.status_code == 400 and "state must be one of" in bad_state.get_json()["detail"]
    assert admin.get("admin/jobs?colour=red").status_code == 400
    assert admin.get("admin/jobs?limit=0").status_code == 400
    assert admin.post("admin/jobs/not-an-id/retry").status_code == 404
    missing = admin.get(f"admin/jobs/{uuid.uuid4()}/deliveries")
    assert missing.status_code == 404 and "There is no job" in missing.get_json()["detail"]
    assert job(admin, outbox_id)["state"] == "pending"  # nothing changed


def test_a_password_reset_email_is_dispatched_through_the_email_channel(
    ws: Any, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[dict[str, Any]] = []
    monkeypatch.setitem(CHANNELS, "email", lambda ws, row: sent.append(row["payload"]) or Delivery(True))
    assert admin.post("auth/password-reset", {"email": "rep@test.dev"}).status_code == 202
    [row] = admin.get("admin/jobs?channel=email").get_json()["data"]
    assert row["payload"]["link"] == "[hidden]"
    InProcessRunner(ws).tick(dt.datetime.now(dt.UTC))
    assert [p["to"] for p in sent] == ["rep@test.dev"]
    assert "/reset-password/" in sent[0]["link"]
    assert job(admin, row["id"])["state"] == "sent"


def test_an_rq_worker_stops_without_waiting_out_its_command_listener(ws: Any) -> None:
    """A worker's end (a burst's, a shutdown's) stops the thread listening for rq's
    commands. It must not wait out a long listen: with rq's own minute, each burst worker
    of these tests, and each ``tessera worker`` stop, could hang a minute or more."""
    if not REDIS_URL:
        pytest.skip("RQ tests need TESSERA_TEST_REDIS_URL (a Redis server)")
    runner = RqRunner(ws, REDIS_URL, f"tessera-test-{uuid.uuid4().hex[:12]}", policy=POLICY)
    worker = runner.worker()
    worker.subscribe()
    try:
        time.sleep(0.5)  # the listener is waiting for a command now
        stopping = threading.Thread(target=worker.pubsub_thread.stop, daemon=True)
        stopping.start()
        stopping.join(timeout=20)
        assert not stopping.is_alive(), "the listener kept the worker from stopping for 20 s"
    finally:
        worker.pubsub.close()
        runner.close()
