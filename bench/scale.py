"""Data at scale: response times of the real app on the database ``bench/seed_large.py`` filled.

    python bench/scale.py [--schema bench_large] [--database-url URL] [--repeat 20] [--warmup 2]
                          [--budget 20] [--only REGEX] [--roles sales_rep,sales_manager,admin]
                          [--explain 6] [--target-ms 300] [--packs P1,P2] [--json FILE]

Builds ``engine.app.create_app`` on the seeded schema and drives it with Flask's test
client (no network), signed in through ``POST /api/v1/auth/token`` (API) and the login
form (web pages) as the seeded sales rep, sales manager and admin (``--roles``). Each
operation runs ``--warmup`` times unmeasured, then ``--repeat`` times (fewer, at least
three, once it has taken ``--budget`` seconds); it prints p50/p95/max per operation, this
process's CPU time and the SQL time per request, the statements per request and the slowest
statement seen, marks what misses the target (p95, default 300 ms) and runs
``EXPLAIN (ANALYZE, BUFFERS)`` on the slowest distinct statements (``--explain``). Statements
are captured with SQLAlchemy's ``before/after_cursor_execute`` events on the workspace's engine.

Operations, per entity (account, contact, opportunity, ticket, activity) and role:
API list in the default sort, with a filter, sorted on another column, its page 2 (the
``next_cursor`` of page 1), and the web list page ``/app/ENTITY`` (which also counts the
rows). An account's record page ``/app/account/ID`` (related lists with counts, timeline,
history) and the API calls behind it (the record, three related lists, the timeline), for
the account with the most activities and for random accounts; global search
``/app/search?q=``; every shipped dashboard (``GET /api/v1/dashboards/NAME``) as the admin
and the home dashboard of the rep and of the manager: as kept figures (a second view within
``TESSERA_DASHBOARD_CACHE_SECONDS``), computed afresh while the request waits (nothing
kept, ``?refresh=true``), refreshed (``?refresh=true`` with figures kept: a slow dashboard
answers them and computes behind), right after a record they count changed, and as the
first view of a new viewer with the same scope (the answers shared between viewers,
``engine.dashboard_cache.shared_for``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from seed_large import DEFAULT_PG, LOGINS, PASSWORD, config_for  # noqa: E402

from engine.app import create_app  # noqa: E402
from engine.change_feed import Change, feed_for  # noqa: E402
from engine.dashboard_cache import cache_for, shared_for  # noqa: E402
from engine.workspace import Workspace  # noqa: E402

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

#: per entity: (a filter, a sort on another column)
LISTS = {
    "account": ({"industry": "banking"}, "-annual_revenue"),
    "contact": ({"city": "Berlin"}, "first_name"),
    "opportunity": ({"stage": "negotiation"}, "-amount"),
    "ticket": ({"status": "new"}, "priority"),
    "activity": ({"kind": "call"}, "subject"),
}
SEARCHES = ("Nordwind", "Schmidt", "TCK-2025-00042")


@dataclass
class Capture:
    """The SQL statements of the request in progress, with their durations."""

    active: bool = False
    started: dict[int, float] = field(default_factory=dict)
    statements: list[tuple[float, str, Any]] = field(default_factory=list)

    def attach(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self.before)
        sa.event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if self.active:
            self.started[id(cursor)] = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        began = self.started.pop(id(cursor), None)
        if self.active and began is not None:
            self.statements.append(((time.perf_counter() - began) * 1000, statement, parameters))


@dataclass
class Result:
    name: str
    role: str
    times: list[float]
    cpu: list[float]  # this process's CPU time per request (the machine is shared)
    sql: list[float]  # time spent in the SQL statements per request
    statements: float
    slowest: tuple[float, str, Any]

    def pct(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.times if values is None else values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Client:
    """A signed-in test client: ``get(path)`` with the bearer token (API) or the session."""

    def __init__(self, app: Any, role: str) -> None:
        email = LOGINS.get(role, "admin@bench.test")
        self.api = app.test_client()
        reply = self.api.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert reply.status_code == 200, reply.get_data(as_text=True)
        self.headers = {"Authorization": f"Bearer {reply.get_json()['token']}"}
        self.ui = app.test_client()
        token = _CSRF.search(self.ui.get("/login").get_data(as_text=True))
        assert token is not None
        reply = self.ui.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
        assert reply.status_code == 302, reply.get_data(as_text=True)

    def get(self, path: str) -> Any:
        if path.startswith("/api/"):
            return self.api.get(path, headers=self.headers)
        return self.ui.get(path)


def samples(ws: Workspace, rep_email: str, count: int) -> dict[str, Any]:
    """Ids the operations use: the account with the most activities, random accounts."""
    with ws.db.connect() as conn:
        busiest = conn.execute(
            sa.text("SELECT account FROM activity GROUP BY account ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        total = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE oid = 'account'::regclass")).scalar_one()
        percent = min(100.0, 100.0 * count * 3 / max(total, 1))
        randoms = list(
            conn.execute(
                sa.text(f"SELECT id FROM account TABLESAMPLE BERNOULLI ({percent}) REPEATABLE (7) LIMIT :n"),
                {"n": count},
            ).scalars()
        )
        counts = {
            e: conn.execute(sa.text(f"SELECT count(*) FROM {e} WHERE account = :a"), {"a": busiest}).scalar_one()
            for e in ("contact", "opportunity", "ticket", "activity")
        }
    return {"busiest": busiest, "busiest_counts": counts, "random": randoms}


def operations(
    ws: Workspace, clients: dict[str, Client], ids: dict[str, Any], dashboards: dict[str, dict[str, list[str]]]
) -> list[tuple[str, str, Callable[[int], str]]]:
    """(operation, role, path of repetition N)."""
    ops: list[tuple[str, str, Callable[[int], str]]] = []
    for role in [r for r in clients if r != "admin"]:
        for entity, (flt, sort) in LISTS.items():
            base = f"/api/v1/{entity}"
            ops.append((f"{entity}: list, default sort", role, lambda n, b=base: b))
            ops.append((f"{entity}: list, {urlencode(flt)}", role, lambda n, b=base, f=flt: f"{b}?{urlencode(f)}"))
            ops.append((f"{entity}: list, sort={sort}", role, lambda n, b=base, s=sort: f"{b}?sort={s}"))
            first = clients[role].get(base).get_json()
            cursor = first.get("next_cursor")
            if cursor:
                ops.append((f"{entity}: list, page 2", role, lambda n, b=base, c=cursor: f"{b}?cursor={c}"))
            ops.append((f"{entity}: web list page", role, lambda n, e=entity: f"/app/{e}"))
        busy, rand = ids["busiest"], ids["random"]
        ops.append(("account: web record page, busiest", role, lambda n, a=busy: f"/app/account/{a}"))
        ops.append(("account: web record page, random", role, lambda n, r=rand: f"/app/account/{r[n % len(r)]}"))
        ops.append(("account: API record, random", role, lambda n, r=rand: f"/api/v1/account/{r[n % len(r)]}"))
        for link in ("contact.account", "opportunity.account", "ticket.account"):
            path = f"/api/v1/account/{{}}/related/{link}?count=true"
            ops.append((f"account: API related {link}, busiest", role, lambda n, p=path, a=busy: p.format(a)))
        ops.append(("account: API timeline, busiest", role, lambda n, a=busy: f"/api/v1/account/{a}/timeline"))
        ops.append(
            ("account: API timeline, random", role, lambda n, r=rand: f"/api/v1/account/{r[n % len(r)]}/timeline")
        )
        for q in SEARCHES:
            ops.append((f"global search {q!r}", role, lambda n, q=q: f"/app/search?q={q}"))
    for role, names in dashboards.items():
        for name, entities in names.items():
            # as a viewer opening it again within a minute (kept figures), computed afresh, refreshed,
            # and right after a record it counts changed (the change feed's notice; see engine.dashboard_cache)
            ops.append((f"dashboard {name}", role, lambda n, d=name: f"/api/v1/dashboards/{d}"))
            ops.append((f"dashboard {name}, computed", role, lambda n, d=name: computed(ws, d)))
            ops.append((f"dashboard {name}, refresh", role, lambda n, d=name: f"/api/v1/dashboards/{d}?refresh=true"))
            ops.append((f"dashboard {name}, new viewer", role, lambda n, d=name: new_viewer(ws, d)))
            if ws.config.redis_url:  # answers shared between processes (engine.dashboard_store)
                ops.append((f"dashboard {name}, new process", role, lambda n, d=name: new_process(ws, d)))
            ops.append((f"dashboard {name}, after a change", role, lambda n, d=name, e=entities: changed(ws, d, e)))
    return ops


def new_viewer(ws: Workspace, name: str) -> str:
    """The dashboard's URL, after forgetting every viewer's assembled figures: the first view of
    another viewer with the same scope (another admin), who gets the shared answers."""
    cache_for(ws).clear()
    return f"/api/v1/dashboards/{name}"


def new_process(ws: Workspace, name: str) -> str:
    """The dashboard's URL, after forgetting every answer this process kept: the first view
    in another web process, which takes the answers stored in Redis."""
    shared_for(ws).clear()
    cache_for(ws).clear()
    return f"/api/v1/dashboards/{name}"


def computed(ws: Workspace, name: str) -> str:
    """The dashboard's URL with ``refresh=true``, after forgetting every answer this process
    kept: every aggregate is computed while the request waits (the first viewer of a scope
    in the whole deployment; a refresh with figures kept answers them and computes behind)."""
    return new_process(ws, name) + "?refresh=true"


def changed(ws: Workspace, name: str, entities: list[str]) -> str:
    """The dashboard's URL, after telling the change feed that a record of each of its entities changed."""
    feed_for(ws).publish([Change(entity, "", 0, "update") for entity in entities])
    return f"/api/v1/dashboards/{name}"


def measure(
    client: Client, path: Callable[[int], str], capture: Capture, repeat: int, budget: float, warmup: int
) -> tuple[list[float], list[float], list[float], float, tuple[float, str, Any]]:
    for n in range(warmup):
        reply = client.get(path(n))
        assert reply.status_code == 200, (path(n), reply.status_code, reply.get_data(as_text=True)[:300])
    times: list[float] = []
    cpu: list[float] = []
    sql: list[float] = []
    statements, slowest = 0, (0.0, "", None)
    began = time.perf_counter()
    for n in range(repeat):
        capture.statements.clear()
        capture.active = True
        started, cpu_started = time.perf_counter(), time.process_time()
        reply = client.get(path(n))
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        capture.active = False
        sql.append(sum(s[0] for s in capture.statements))
        assert reply.status_code == 200, (path(n), reply.status_code)
        statements += len(capture.statements)
        top = max(capture.statements, default=(0.0, "", None), key=lambda s: s[0])
        if top[0] > slowest[0]:
            slowest = top
        if time.perf_counter() - began > budget and n >= 2:
            break
    return times, cpu, sql, statements / len(times), slowest


def explain(ws: Workspace, statement: str, parameters: Any) -> str:
    raw = ws.db.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TESSERA_BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--schema", default="bench_large")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per operation before it stops early")
    parser.add_argument("--only", default="", help="run the operations whose name matches this regular expression")
    parser.add_argument("--roles", default="sales_rep,sales_manager,admin", help="comma-separated roles to run as")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured requests per operation")
    parser.add_argument("--explain", type=int, default=6, help="EXPLAIN ANALYZE this many slowest statements")
    parser.add_argument("--target-ms", type=float, default=300.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TESSERA_BENCH_REDIS_URL", ""),
        help="serve with Redis (change feed, answers shared between processes: adds the 'new process' rows)",
    )
    parser.add_argument("--packs", default="", help="the packs seed_large.py installed, if not every shipped one")
    args = parser.parse_args(argv)
    pack_names = tuple(p.strip() for p in args.packs.split(",") if p.strip())
    with tempfile.TemporaryDirectory(prefix="tessera-scale-") as tmp:
        config = config_for(args.database_url, args.schema, Path(tmp), pack_names)
        if args.redis_url:
            config = replace(config, redis_url=args.redis_url)
        ws = Workspace(config)
        try:
            return run(ws, args)
        finally:
            ws.close()


def run(ws: Workspace, args: argparse.Namespace) -> int:
    app = create_app(ws.config, ws)
    roles = [r for r in args.roles.split(",") if r]
    clients = {role: Client(app, role) for role in roles}
    ids = samples(ws, LOGINS["sales_rep"], 20)
    print(f"busiest account {ids['busiest']}: {ids['busiest_counts']}")
    dashboards = {}  # every dashboard as the admin, the home dashboard as the others
    for role in roles:
        found = clients[role].get("/api/v1/dashboards").get_json()["data"]
        dashboards[role] = {
            d["name"]: sorted({w["entity"] for w in d["widgets"] if w["entity"]})
            for d in found
            if role == "admin" or d["home"]
        }
    capture = Capture()
    capture.attach(ws.db)
    results = []
    for name, role, path in operations(ws, clients, ids, dashboards):
        if args.only and not re.search(args.only, name):
            continue
        times, cpu, sql, statements, slowest = measure(
            clients[role], path, capture, args.repeat, args.budget, args.warmup
        )
        result = Result(name, role, times, cpu, sql, statements, slowest)
        results.append(result)
        miss = "MISS" if result.pct(0.95) > args.target_ms else ""
        print(
            f"{name:<44} {role:<13} n={len(times):<3} p50 {result.pct(0.5):7.1f} p95 {result.pct(0.95):7.1f} "
            f"max {max(times):7.1f} | cpu p50 {result.pct(0.5, cpu):6.1f} sql p50 {result.pct(0.5, sql):7.1f} ms | "
            f"{statements:4.1f} stmts, slowest {slowest[0]:7.1f} ms {miss}",
            flush=True,
        )
    misses = [r for r in results if r.pct(0.95) > args.target_ms]
    print(f"\n{len(misses)} of {len(results)} operations miss p95 <= {args.target_ms:.0f} ms")
    seen: set[str] = set()
    plans = []
    for result in sorted(results, key=lambda r: -r.slowest[0]):
        duration, statement, parameters = result.slowest
        if not statement or statement in seen or len(plans) >= args.explain:
            continue
        if not statement.lstrip().upper().startswith(("SELECT", "WITH")):  # a SAVEPOINT that waited
            continue
        seen.add(statement)
        plan = explain(ws, statement, parameters)
        plans.append({"operation": result.name, "role": result.role, "ms": duration, "sql": statement, "plan": plan})
        print(f"\n--- {result.name} ({result.role}), {duration:.1f} ms\n{statement}\n{parameters}\n{plan}")
    if args.json:
        table = [
            {
                "operation": r.name,
                "role": r.role,
                "n": len(r.times),
                "p50_ms": round(r.pct(0.5), 1),
                "p95_ms": round(r.pct(0.95), 1),
                "max_ms": round(max(r.times), 1),
                "cpu_p50_ms": round(r.pct(0.5, r.cpu), 1),
                "sql_p50_ms": round(r.pct(0.5, r.sql), 1),
                "statements": round(r.statements, 1),
                "slowest_statement_ms": round(r.slowest[0], 1),
            }
            for r in results
        ]
        args.json.write_text(json.dumps({"results": table, "plans": plans, "samples": ids}, indent=2, default=str))
    print("\n| operation | role | n | p50 ms | p95 ms | CPU p50 ms | SQL p50 ms | statements | p95 within target |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        ok = "yes" if r.pct(0.95) <= args.target_ms else "**no**"
        print(
            f"| {r.name} | {r.role} | {len(r.times)} | {r.pct(0.5):,.0f} | {r.pct(0.95):,.0f} | "
            f"{r.pct(0.5, r.cpu):,.0f} | {r.pct(0.5, r.sql):,.0f} | {r.statements:.0f} | {ok} |"
        )
    if results:
        print(f"\nmean of all p95: {statistics.mean(r.pct(0.95) for r in results):.1f} ms")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
