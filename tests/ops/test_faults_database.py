"""Fault: PostgreSQL goes away while requests run.

The machine's PostgreSQL cannot be restarted by a test, so the outage is simulated the way
a restart or a failover looks to the application: every server backend of the workspace's
connections is terminated (``pg_terminate_backend``) from a separate admin connection while
requests run in threads. Every answer must be a success or a ``503`` problem (never a 500),
nothing may be half written, and later requests succeed again without a restart (the pool
checks connections before use and replaces dead ones).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import create_app
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import Api, make_config, sign_in


def _wait_for(condition: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def tagged(backend: str, database_url: str, tmp_path: Path) -> Iterator[tuple[Workspace, Any, str]]:
    """A PostgreSQL workspace whose connections carry a unique ``application_name``, so the
    test cuts its own backends only (other tests share the database server)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server whose connections can be cut")
    tag = f"tessera-fault-{uuid.uuid4().hex[:12]}"
    config = make_config(f"{database_url}&application_name={tag}", tmp_path)
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", "Test-password-1", ["admin"])
    # the admin connection: same database and schema, another application name
    admin = sa.create_engine(database_url)
    yield ws, admin, tag
    admin.dispose()
    ws.close()


def _terminate(admin: Any, tag: str) -> int:
    with admin.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :tag AND pid <> pg_backend_pid()"
            ),
            {"tag": tag},
        ).scalar_one()
        conn.commit()
    return int(killed)


def _waiting_on_locks(admin: Any, tag: str) -> int:
    with admin.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = :tag AND wait_event_type = 'Lock'"
                ),
                {"tag": tag},
            ).scalar_one()
        )


class Answers:
    """(entity, name, status, content type, body) of every request, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[tuple[str, str, int, str, Any]] = []

    def create(self, api: Api, entity: str, name: str, body: dict[str, Any]) -> None:
        response = api.post(entity, body)
        with self.lock:
            self.rows.append((entity, name, response.status_code, response.content_type, response.get_json()))

    def names(self, entity: str, status: int) -> set[str]:
        return {n for e, n, s, _, _ in self.rows if e == entity and s == status}


def _stored(ws: Workspace, table: str, column: str, prefix: str) -> dict[str, str]:
    """name -> id of the stored records whose ``column`` starts with ``prefix``."""
    t = ws.snapshot().tables.main(table)
    with ws.db.connect() as conn:
        rows = conn.execute(sa.select(t.c[column], t.c.id).where(t.c[column].startswith(prefix))).all()
    return {name: record_id for name, record_id in rows}


def _audited(ws: Workspace, entity: str, ids: set[str]) -> set[str]:
    audit = sa.table("tessera_audit", sa.column("entity"), sa.column("record_id"), sa.column("action"))
    with ws.db.connect() as conn:
        rows = conn.execute(
            sa.select(audit.c.record_id).where(audit.c.entity == entity, audit.c.action == "create")
        ).scalars()
        return {r for r in rows if r in ids}


def test_fault_postgresql_connections_cut_under_load_answer_503_and_recover(
    tagged: tuple[Workspace, Any, str],
) -> None:
    ws, admin, tag = tagged
    app = create_app(ws.config, ws)
    token = sign_in(app.test_client(), "admin@test.dev").headers
    answers, stop = Answers(), threading.Event()

    def load(worker: int) -> None:  # creates people until told to stop
        api = Api(app.test_client(), None)
        api.headers = dict(token)
        n = 0
        while not stop.is_set():
            name = f"load-{worker}-{n}"
            answers.create(api, "person", name, {"last_name": name})
            n += 1

    def blocked(n: int) -> None:  # waits on the table lock below until its backend is cut
        api = Api(app.test_client(), None)
        api.headers = dict(token)
        answers.create(api, "maker", f"blocked-{n}", {"name": f"blocked-{n}"})

    loaders = [threading.Thread(target=load, args=(i,)) for i in range(2)]
    for t in loaders:
        t.start()
    assert _wait_for(lambda: len(answers.names("person", 201)) >= 4)
    holder = admin.connect()
    holder.execute(sa.text("LOCK TABLE maker IN ACCESS EXCLUSIVE MODE"))
    writers = [threading.Thread(target=blocked, args=(i,)) for i in range(3)]
    try:
        for t in writers:
            t.start()
        # the three writers are inside their transactions, waiting for the lock
        assert _wait_for(lambda: _waiting_on_locks(admin, tag) >= 3), "the writers never reached the lock"
        assert _terminate(admin, tag) >= 3
    finally:
        holder.rollback()
        holder.close()
    for t in writers:
        t.join(30)
    # the load goes on through the outage and after it
    seen = len(answers.rows)
    assert _wait_for(lambda: len(answers.rows) >= seen + 10)
    _terminate(admin, tag)  # a second cut, at whatever moment the load is in
    seen = len(answers.rows)
    assert _wait_for(lambda: len(answers.rows) >= seen + 10)
    stop.set()
    for t in loaders:
        t.join(30)

    statuses = {s for _, _, s, _, _ in answers.rows}
    assert statuses <= {201, 503}, [r for r in answers.rows if r[2] not in (201, 503)][:3]
    unavailable = [r for r in answers.rows if r[2] == 503]
    assert {n for e, n, *_ in unavailable if e == "maker"} == {"blocked-0", "blocked-1", "blocked-2"}
    for _, _, _, content_type, body in unavailable:
        assert content_type == "application/problem+json"
        assert body["status"] == 503 and body["title"] == "Service unavailable"
        assert "database" in body["detail"]

    # nothing half written: a refused maker is not stored; every stored person was answered
    # 201 (or 503, when the cut came after its commit), and each has its audit entry
    assert _stored(ws, "maker", "name", "blocked-") == {}
    people = _stored(ws, "person", "last_name", "load-")
    assert answers.names("person", 201) <= set(people)
    assert set(people) <= answers.names("person", 201) | answers.names("person", 503)
    assert _audited(ws, "person", set(people.values())) == set(people.values())

    # later requests succeed by themselves: the pool replaced the dead connections
    api = Api(app.test_client(), None)
    api.headers = dict(token)
    assert app.test_client().get("/healthz").status_code == 200
    for i in range(5):
        assert api.post("maker", {"name": f"after-{i}"}).status_code == 201
    assert len(api.get("maker?limit=100").get_json()["data"]) == 5


def test_fault_postgresql_idle_connections_cut_reconnect_by_themselves(tagged: tuple[Workspace, Any, str]) -> None:
    """Every connection cut while idle: the next requests reconnect by themselves."""
    ws, admin, tag = tagged
    app = create_app(ws.config, ws)
    api = sign_in(app.test_client(), "admin@test.dev")
    assert api.post("maker", {"name": "before"}).status_code == 201
    assert _terminate(admin, tag) >= 1  # the pooled, idle connections
    response = api.post("maker", {"name": "after"})
    assert response.status_code == 201, response.get_json()
    assert [m["name"] for m in api.get("maker").get_json()["data"]] == ["after", "before"]


def test_fault_database_errors_that_mean_unavailable_are_told_apart_from_bugs() -> None:
    """SQLite locked past its busy timeout is a 503 like a lost server; a missing table is a bug (500)."""
    import sqlite3

    from engine.api.problems import database_unavailable

    def operational(orig: Exception) -> sa.exc.OperationalError:
        return sa.exc.OperationalError("INSERT INTO maker ...", {}, orig)

    assert database_unavailable(operational(sqlite3.OperationalError("database is locked")))
    assert not database_unavailable(operational(sqlite3.OperationalError("no such table: maker")))
    assert not database_unavailable(sa.exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed")))
    assert database_unavailable(sa.exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"))
