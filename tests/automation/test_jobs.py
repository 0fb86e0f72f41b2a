"""Plugin jobs: the ``enqueue`` action, the ``job`` channel, the runners and their commands."""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.app import create_app
from engine.automation.jobs import JOBS, InProcessRunner
from engine.automation.outbox import RetryPolicy
from engine.checking import check_packs
from engine.cli import main
from engine.config import Config
from engine.errors import BadRequest, PermissionDenied, TesseraError
from tests.conftest import PASSWORD, TEST_PACKS, Api, sign_in

REDIS_URL = os.environ.get("TESSERA_TEST_REDIS_URL")
T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def ws(auto_workspace: Any) -> Any:
    ws = auto_workspace("auto_jobs")
    ws.records.clock = lambda: T0
    return ws


@pytest.fixture
def admin(ws: Any) -> Api:
    return sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")


def jobs(admin: Api, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return admin.get(f"admin/jobs?{query}").get_json()["data"]


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_a_rule_enqueues_a_job_with_values_from_the_record_and_it_runs(
    ws: Any, admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    client = admin.post("client", {"name": "Acme", "tier": "gold"}).get_json()
    [queued] = jobs(admin, channel="job")
    assert queued["payload"] == {
        "job": "log",
        "args": {"client": client["id"], "name": "Acme", "tier": "gold", "source": "rules"},
    }
    assert (queued["state"], queued["entity"], queued["record_id"]) == ("pending", "client", client["id"])
    with caplog.at_level(logging.INFO, logger="tessera.jobs"):
        result = InProcessRunner(ws).tick(T0)
    assert result.outbox["sent"] == 1
    assert any("job log:" in r.message and '"name": "Acme"' in r.message for r in caplog.records)
    assert jobs(admin, channel="job")[0]["state"] == "sent"


def test_a_timer_enqueues_a_keyed_job_once(ws: Any, admin: Api) -> None:
    client = admin.post("client", {"name": "Acme"}).get_json()
    runner = InProcessRunner(ws)
    early = runner.tick(T0 + dt.timedelta(hours=23))
    assert (early.timers, early.outbox["sent"]) == (0, 1)  # the new client's announcement
    due = runner.tick(T0 + dt.timedelta(days=1))
    assert (due.timers, due.outbox["sent"]) == (1, 1)  # the check-in, queued and sent in one pass
    check_ins = [j for j in jobs(admin, channel="job") if j["payload"]["args"].get("note") == "check in"]
    assert [(j["record_id"], j["state"]) for j in check_ins] == [(client["id"], "sent")]
    with ws.db.begin() as conn:  # the timer fires again (a retried firing): the key queues nothing new
        conn.execute(sa.text("UPDATE tessera_timer SET state = 'pending'"))
    assert runner.tick(T0 + dt.timedelta(days=2)).timers == 1
    assert len([j for j in jobs(admin, channel="job") if j["payload"]["args"].get("note") == "check in"]) == 1


def test_a_failing_job_is_retried_and_an_unknown_job_fails_at_once(
    ws: Any, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def flaky(ws: Any, args: dict[str, Any]) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("CRM mirror unreachable")

    monkeypatch.setitem(JOBS, "log", flaky)
    admin.post("client", {"name": "Acme"})
    runner = InProcessRunner(ws, policy=RetryPolicy(base=dt.timedelta(minutes=1)))
    runner.tick(T0)
    [row] = jobs(admin, channel="job")
    assert (row["state"], row["last_error"]) == ("pending", "ConnectionError: CRM mirror unreachable")
    runner.tick(T0 + dt.timedelta(minutes=1))
    assert jobs(admin, channel="job")[0]["state"] == "sent"
    assert len(calls) == 2 and calls[0] == calls[1]

    monkeypatch.delitem(JOBS, "log")  # e.g. the plugin that registered it was uninstalled
    admin.post("client", {"name": "Beta"})
    runner.tick(T0 + dt.timedelta(minutes=2))
    newest = jobs(admin, channel="job")[0]
    assert (newest["state"], newest["attempts"]) == ("failed", 1)
    assert newest["last_error"].startswith("unknown job 'log'")


class _Unavailable(TesseraError):
    status = 503


def test_a_job_refusing_its_arguments_fails_at_once_and_an_outage_is_retried(
    ws: Any, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised: list[Exception] = []

    def strict(ws: Any, args: dict[str, Any]) -> None:
        raise raised[-1]

    monkeypatch.setitem(JOBS, "log", strict)
    runner = InProcessRunner(ws, policy=RetryPolicy(base=dt.timedelta(minutes=1)))
    outcomes = []
    for minute, error in enumerate(
        [BadRequest("log: the argument tier: Must be text"), PermissionDenied("You may not import client records")]
        + [_Unavailable("the mirror is down for maintenance"), RuntimeError("a bug")]
    ):
        raised.append(error)
        admin.post("client", {"name": f"Client {minute}"})
        runner.tick(T0 + dt.timedelta(minutes=minute))
        newest = jobs(admin, channel="job")[0]
        outcomes.append((newest["state"], newest["attempts"], newest["last_error"].split(":")[0]))
    assert outcomes == [
        ("failed", 1, "BadRequest"),  # a retry would be refused the same way
        ("failed", 1, "PermissionDenied"),
        ("pending", 1, "_Unavailable"),  # 5xx: the other side's trouble
        ("pending", 1, "RuntimeError"),  # not an error said to a user: could be anything
    ]


def _pack(tmp_path: Path, rules: str) -> Path:
    root = tmp_path / "bad_jobs"
    (root / "rules").mkdir(parents=True)
    (root / "pack.yaml").write_text("name: bad_jobs\nversion: 1.0.0\ndepends: [autokit]\n")
    (root / "rules" / "jobs.yaml").write_text(rules)
    return root


def test_an_unknown_job_or_a_malformed_enqueue_is_reported_at_its_place(tmp_path: Path) -> None:
    root = _pack(
        tmp_path,
        "rules:\n"
        "  - name: mirror\n"
        "    entity: client\n"
        "    on: create\n"
        "    do:\n"
        "      - enqueue: {job: mirror_to_erp, args: {id: '=id'}}\n"
        "      - enqueue: {job: log, args: [1, 2]}\n"
        "      - enqueue: {job: log, args: {total: '=nonsense + 1'}}\n",
    )
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS,))
    problems, _ = check_packs(config, [root])
    messages = [str(p) for p in problems.items]
    unknown = [m for m in messages if "jobs.yaml:6:" in m and "unknown job 'mirror_to_erp'; registered jobs: " in m]
    assert unknown and "log" in unknown[0].split("registered jobs: ")[1].split(", ")
    assert any("jobs.yaml:7:" in m and "enqueue args take a mapping" in m for m in messages)
    assert any("jobs.yaml:8:" in m and "nonsense" in m for m in messages)


@pytest.fixture
def cli_packs() -> str:
    return "autokit,auto_jobs"


@pytest.fixture
def cli_env(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The shared ``tessera`` environment without Redis, initialised with an administrator."""
    monkeypatch.delenv("TESSERA_REDIS_URL", raising=False)
    result = CliRunner().invoke(main, ["init", "--admin-email", "boss@test.dev", "--admin-password", PASSWORD])
    assert result.exit_code == 0, result.output
    return cli_env


def _add_client(name: str) -> None:
    from engine.config import load_config
    from engine.workspace import Workspace

    ws = Workspace(load_config())
    try:
        api = sign_in(create_app(ws.config, ws).test_client(), "boss@test.dev")
        assert api.post("client", {"name": name}).status_code == 201
    finally:
        ws.close()


def test_tick_runs_timers_and_deliveries_once_as_of_now(cli_env: dict[str, str]) -> None:
    _add_client("Acme")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    first = CliRunner().invoke(main, ["tick", "--now", later])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "timers fired: 1; scheduled rules run: 0; outbox: 2 sent, 0 to retry, 0 failed"
    again = CliRunner().invoke(main, ["tick", "--now", later])
    assert again.output.strip() == "timers fired: 0; scheduled rules run: 0; outbox: 0 sent, 0 to retry, 0 failed"
    bad = CliRunner().invoke(main, ["tick", "--now", "next tuesday"])
    assert bad.exit_code == 1
    assert bad.output.strip() == "error: --now must be an ISO datetime like 2026-03-01T09:00:00Z, not 'next tuesday'"


def test_worker_burst_runs_due_work_in_process_without_redis(cli_env: dict[str, str]) -> None:
    _add_client("Acme")
    result = CliRunner().invoke(main, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert "in-process loop" in result.output
    assert "outbox: 1 sent" in result.output
    again = CliRunner().invoke(main, ["tick"])
    assert "outbox: 0 sent" in again.output  # the worker delivered the new client's job


def test_worker_burst_runs_due_work_through_rq(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    if not REDIS_URL:
        pytest.skip("RQ tests need TESSERA_TEST_REDIS_URL (a Redis server)")
    from redis import Redis
    from rq import Queue

    _add_client("Acme")
    monkeypatch.setenv("TESSERA_REDIS_URL", REDIS_URL)
    queue = f"tessera-test-{uuid.uuid4().hex[:12]}"
    try:
        result = CliRunner().invoke(main, ["worker", "--burst", "--queues", queue])
        assert result.exit_code == 0, result.output
        assert f"RQ worker on queue {queue!r}" in result.output
        assert "outbox: 0 sent, 0 to retry, 0 failed, 1 queued" in result.output
    finally:
        with Redis.from_url(REDIS_URL) as redis:
            Queue(queue, connection=redis).delete(delete_jobs=True)
    monkeypatch.delenv("TESSERA_REDIS_URL")
    again = CliRunner().invoke(main, ["tick"])
    assert "outbox: 0 sent" in again.output


def test_worker_says_so_when_redis_is_unreachable(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_REDIS_URL", "redis://:hunter2@127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["worker", "--burst"])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot reach Redis at redis://:***@127.0.0.1:1/0")
    assert "hunter2" not in result.output and len(result.output.strip().splitlines()) == 1


def test_the_in_process_runner_fires_a_timer_and_delivers_when_woken(ws: Any, admin: Api) -> None:
    # it never wakes by itself within the test: only the commit's wake-up makes it look
    runner = InProcessRunner(ws, clock=lambda: T0 + dt.timedelta(days=2), max_sleep=3600)
    runner.start()
    try:
        assert wait_for(lambda: runner.passes >= 1)  # the first pass found nothing to do
        client = admin.post("client", {"name": "Acme"}).get_json()

        def delivered() -> bool:
            rows = jobs(admin, channel="job")
            return len(rows) == 2 and all(r["state"] == "sent" for r in rows)

        assert wait_for(delivered), jobs(admin, channel="job")
        assert {j["record_id"] for j in jobs(admin, channel="job")} == {client["id"]}
    finally:
        runner.stop()
    assert ws.jobs_runner is None
    assert not any(t.name.startswith("tessera-jobs-") and t.is_alive() for t in threading.enumerate())


def test_serve_starts_the_in_process_runner_only_without_redis(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.server import _Server

    app = _Server({"bind": "127.0.0.1:0"}).load()
    ws = app.extensions["tessera"].default
    try:
        assert isinstance(ws.jobs_runner, InProcessRunner)
        ws.jobs_runner.stop()
    finally:
        ws.close()
    monkeypatch.setenv("TESSERA_REDIS_URL", "redis://127.0.0.1:6379/0")
    app = _Server({"bind": "127.0.0.1:0"}).load()
    ws = app.extensions["tessera"].default
    assert ws.jobs_runner is None
    ws.close()
