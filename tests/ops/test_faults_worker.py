"""Fault: a worker is killed (SIGKILL) in the middle of a job.

The job is a webhook delivery (an outbox row): the worker (``tessera worker --burst``, in a
subprocess) posts to a local receiver that holds the first call open, and is killed while
the call is in flight. The row stays claimed (``running``) until its lease ends, so a worker
started at once does not post again; a worker pass after the lease (``tessera worker --burst
--now``, instead of waiting five minutes) claims it again and delivers it. The receiver sees both
posts under one idempotency key (``X-Tessera-Delivery``), so it applies the effect once, and
the row ends ``sent``. Both runners: in process (no Redis) and RQ (``TESSERA_TEST_REDIS_URL``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess  # nosec B404 - the test runs the tessera command it tests
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.app import create_app
from engine.automation.jobs import run_worker
from engine.automation.outbox import DEFAULT_POLICY
from engine.cli import main
from engine.storage import system_tables as st
from engine.storage.database import read_transaction
from engine.workspace import Workspace
from tests.automation.conftest import auto_workspace  # noqa: F401 - the fixture
from tests.automation.test_webhooks import _subscribe, _webhook_rows
from tests.conftest import TEST_PACKS, sign_in

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")
TESSERA = str(Path(sys.executable).with_name("tessera"))


class HoldingReceiver:
    """A webhook receiver that applies each delivery once per ``X-Tessera-Delivery`` and
    holds the first call open until :attr:`release` is set."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.effects: dict[str, int] = {}  # delivery id -> times its effect was applied
        self.first_arrived, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["X-Tessera-Delivery"]
                receiver.posts.append((key, body))
                if key not in receiver.effects:  # idempotent: a repeated key changes nothing
                    receiver.effects[key] = 1
                if not receiver.first_arrived.is_set():
                    receiver.first_arrived.set()
                    receiver.release.wait(60)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    r = HoldingReceiver()
    yield r
    r.release.set()
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(params=["in_process", "rq"])
def runner(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the in-process loop) or the name of a fresh RQ queue."""
    if request.param == "in_process":
        yield None
        return
    if not REDIS_URL:
        pytest.skip("RQ tests need TESSERA_TEST_REDIS_URL (a Redis server)")
    from redis import Redis
    from rq import Queue, Worker

    queue = f"tessera-fault-{uuid.uuid4().hex[:12]}"
    yield queue
    with Redis.from_url(REDIS_URL) as redis:
        Queue(queue, connection=redis).delete(delete_jobs=True)
        for worker in Worker.all(connection=redis, queue=Queue(queue, connection=redis)):
            worker.register_death()  # the killed worker left its registration behind


def _worker(ws: Any, tmp_path: Path, queue: str | None, *options: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": ws.config.database_url,
        "TESSERA_PACKS": ",".join(ws.config.packs),
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(tmp_path / "instance"),
        "TESSERA_SECRET_KEY": ws.config.secret_key,
    }
    env.pop("TESSERA_REDIS_URL", None)
    args = [TESSERA, "worker", "--burst", *options]
    if queue is not None:
        env["TESSERA_REDIS_URL"] = str(REDIS_URL)
        args += ["--queues", queue]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # nosec B603


def _attempts(ws: Any, outbox_id: str) -> list[bool]:
    d = st.delivery
    with read_transaction(ws.db) as conn:
        rows = conn.execute(sa.select(d.c.ok).where(d.c.outbox_id == outbox_id).order_by(d.c.at, d.c.ok)).scalars()
        return [bool(ok) for ok in rows]


def _restart(ws: Any, queue: str | None, now: dt.datetime | None = None) -> None:
    """A fresh ``tessera worker --burst`` pass (in this process: only the killed one needs its own)."""
    if queue is None:
        run_worker(ws, burst=True, now=now)
        return
    restarted = Workspace(replace(ws.config, redis_url=REDIS_URL), meta_check_interval=0)
    try:
        run_worker(restarted, queue, burst=True, now=now)
    finally:
        restarted.close()


def test_fault_worker_killed_mid_delivery_delivers_once_after_restart(
    auto_workspace: Any,  # noqa: F811 - the imported fixture
    receiver: HoldingReceiver,
    runner: str | None,
    tmp_path: Path,
) -> None:
    ws = auto_workspace("auto_notify")
    admin = sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")
    _subscribe(admin, receiver.url, entity="client", events=["create"])
    client = admin.post("client", {"name": "Acme"}).get_json()
    (row,) = _webhook_rows(ws)
    assert row.state == "pending"

    worker = _worker(ws, tmp_path, runner)
    try:
        assert receiver.first_arrived.wait(90), "the worker never posted"
        worker.kill()  # SIGKILL while the receiver holds the call open
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == -9
    receiver.release.set()  # from now on the receiver answers at once
    (row,) = _webhook_rows(ws)
    assert (row.state, row.attempts) == ("running", 1)  # claimed, its lease running

    # restarted at once: the lease keeps the row from a second, concurrent post
    _restart(ws, runner)
    assert len(receiver.posts) == 1
    assert _webhook_rows(ws)[0].state == "running"

    # restarted after the lease ended (--now instead of waiting): claimed again and delivered
    later = dt.datetime.now(dt.UTC) + DEFAULT_POLICY.lease + dt.timedelta(minutes=1)
    _restart(ws, runner, later)
    (row,) = _webhook_rows(ws)
    assert (row.state, row.attempts) == ("sent", 2)
    assert _attempts(ws, row.id) == [False, True]  # the interrupted attempt, then the delivery

    # the receiver got the same delivery twice under one key, and applied it once
    assert [key for key, _ in receiver.posts] == [row.id, row.id]
    assert receiver.posts[0][1] == receiver.posts[1][1]
    assert receiver.posts[1][1]["record_id"] == client["id"]
    assert receiver.effects == {row.id: 1}

    # nothing is left to deliver: one more pass posts nothing
    _restart(ws, runner, later + dt.timedelta(hours=1))
    assert len(receiver.posts) == 2


def test_fault_worker_now_option_needs_burst() -> None:
    result = CliRunner().invoke(main, ["worker", "--now", "2030-01-01T00:00:00Z"])
    assert result.exit_code == 2
    assert "--now applies to a --burst pass only" in result.output
