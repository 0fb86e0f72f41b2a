"""Due SLA timers to escalations applied: ``python bench/automation.py timers``.

A fresh database with the ``bticket`` entity (bench/packs/benchauto) and its SLA
(bench/packs/benchauto_sla: response and resolution clocks, a 75 % warning, and at the
resolution breach a second level that raises the priority one step). ``--tickets`` open
tickets are loaded straight into the tables (COPY on PostgreSQL), each with the clocks and
the timer the engine would have written by now: the response met, the resolution clock
running. ``--timers`` of them were warned earlier and their breach is due now; the others'
next instant (the warning) lies ahead. The rows are computed with the engine's own SLA
objects (``Clock.at``, ``next_step``) and a sample is re-checked by the engine before the run.

Then ``fire_due(ws, now)`` (what the job runner and ``tessera tick`` call) is timed until
every due timer has fired, and the result is verified: exactly the due tickets are at
escalation level 2, breached, with their priority raised, an audit entry each, and no timer
is left due or failed. Target (issue 5): under 5 s for 10,000 due timers over 1,000,000
open tickets on PostgreSQL.
"""

from __future__ import annotations

import cProfile
import datetime as dt
import io
import multiprocessing
import os
import pstats
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from api_overhead import database
from automation import SEED, bench_config, ticket, workspace

from engine.automation import sla as sla_module
from engine.automation.events import Event
from engine.automation.sla import Clock, Sla, load_clocks, next_step
from engine.automation.timers import TIMER_ACTOR, fire_due
from engine.settling import settle
from engine.storage import system_tables as st
from engine.storage.ids import new_id
from engine.workspace import Workspace

SLA_NAME = "bench_support"
TIMER = f"sla:{SLA_NAME}:resolution"
RAISED = {"P4": "P3", "P3": "P2", "P2": "P1", "P1": "P1"}
OPEN = ["new", "assigned", "in_progress"]
#: clocks of tickets whose timer is not due started within the last hour (their 75 % lies ahead)
RECENT_MINUTES = 60
#: the due ones breached within this many minutes before now
DUE_SPREAD_MINUTES = 60


PACKS = ("benchauto", "benchauto_sla")
APPLICATION = f"tessera_bench_timers_{os.getpid()}"


def bench_timers(
    tickets: int,
    timers: int,
    backend: str = "postgresql",
    batch: int | None = None,
    profile: str | None = None,
    workers: int = 1,
    savepoints: bool = False,
) -> int:
    """Load, fire, verify, print; exit status 0 when the run met the 5 s target."""
    if timers > tickets:
        raise SystemExit("--timers cannot exceed --tickets")
    if workers > 1 and (backend != "postgresql" or profile):
        raise SystemExit("--workers needs PostgreSQL and no --profile")
    options: dict[str, Any] = ({"savepoints": True} if savepoints else {}) | ({} if batch is None else {"batch": batch})
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        if backend == "postgresql":  # names this run's server processes, to read their CPU time
            url += f"&application_name={APPLICATION}"
        ws = workspace(url, PACKS, Path(tmp))
        try:
            return _run(ws, backend, tickets, timers, options, profile, workers)
        finally:
            ws.close()


def _run(
    ws: Workspace,
    backend: str,
    tickets: int,
    timers: int,
    options: dict[str, Any],
    profile: str | None,
    workers: int,
) -> int:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with ws.db.connect() as conn:
        owner = str(conn.execute(sa.text("SELECT id FROM \"user\" WHERE email = 'admin@bench.dev'")).scalar())
    sla = ws.snapshot().automation.parts["sla"].by_name[SLA_NAME]
    start = time.perf_counter()
    plan = Plan(sla, now, owner, tickets, timers)
    loaded = load(ws, backend, plan)
    print(
        f"loaded {tickets:,} open tickets, {loaded['sla_clock']:,} clocks, {loaded['timer']:,} timers "
        f"({timers:,} due at {now:%H:%M:%S} UTC) in {time.perf_counter() - start:.1f} s",
        flush=True,
    )
    recheck(ws, sla, now, plan.sample())
    if workers > 1:
        fired, elapsed, cpu, statements, server = fire_in_processes(ws, now, options, workers)
    else:
        fired, elapsed, cpu, statements, server = fire_here(ws, now, options, profile)
    problems = verify(ws, plan, now)
    per = 1000 / max(fired, 1)
    print(
        f"{backend}: fired {fired:,} timers in {elapsed:.2f} s "
        f"({elapsed * per:.2f} ms per timer, {fired / elapsed:,.0f} timers/s"
        + (f", {workers} worker processes" if workers > 1 else "")
        + f"); per timer: {statements * per / 1000:.2f} SQL statements, CPU {cpu * per:.2f} ms Python"
        + (f" + {server * per:.2f} ms PostgreSQL" if backend == "postgresql" else "")
        + f"; load average {_load()}; "
        f"target under 5 s for 10,000: {'met' if elapsed * 10_000 / max(timers, 1) < 5 else 'NOT met'}"
        + (f" (scaled to 10,000: {elapsed * 10_000 / max(timers, 1):.1f} s)" if timers != 10_000 else "")
    )
    for problem in problems:
        print("VERIFY FAILED:", problem)
    if not problems:
        print(f"verified: exactly the {timers:,} due tickets escalated (level 2, breached, priority raised, audited)")
    return 0 if not problems and elapsed * 10_000 / max(timers, 1) < 5 else 1


# --- firing ----------------------------------------------------------------------------------
Fired = tuple[int, float, float, int, float]


def fire_here(ws: Workspace, now: dt.datetime, options: dict[str, Any], profile: str | None) -> Fired:
    """``fire_due`` in this process: (fired, seconds, CPU seconds, SQL statements, server CPU seconds)."""
    statements = _count_statements(ws)
    profiler = cProfile.Profile() if profile else None
    settle([ws])  # as 'tessera worker' does once started
    server = server_cpu(ws)
    cpu, start = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    fired = fire_due(ws, now, **options)
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    server = server_cpu(ws) - server
    if profiler and profile:
        profiler.dump_stats(profile)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
        print(out.getvalue())
    return fired, elapsed, cpu, statements[0], server


def fire_in_processes(ws: Workspace, now: dt.datetime, options: dict[str, Any], workers: int) -> Fired:
    """``fire_due`` in several processes at once, each with its own workspace (as several
    ``tessera worker`` processes would): timed from the moment all are ready until the last
    is done."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(workers + 1), context.Event()
    results = context.Queue()
    url = ws.config.database_url
    instance = str(ws.config.instance_path)
    processes = [  # each its own application_name: server_cpu reads its own backends
        context.Process(target=_worker, args=(f"{url}_w{i}", instance, now, options, ready, go, results))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    ready.wait()
    start = time.perf_counter()
    go.set()
    totals = [results.get() for _ in processes]
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join()
    fired, cpu, statements, server = (sum(t[i] for t in totals) for i in range(4))
    return int(fired), elapsed, cpu, int(statements), server


def _worker(
    url: str, instance: str, now: dt.datetime, options: dict[str, Any], ready: Any, go: Any, results: Any
) -> None:
    ws = Workspace(bench_config(url, PACKS, Path(instance).parent), meta_check_interval=60)
    statements = _count_statements(ws)
    settle([ws])  # as 'tessera worker' does once started
    server = server_cpu(ws)
    ready.wait()
    go.wait()
    cpu = time.process_time()
    fired = fire_due(ws, now, **options)
    cpu = time.process_time() - cpu
    results.put((fired, cpu, statements[0], server_cpu(ws) - server))
    ws.close()


def _count_statements(ws: Workspace) -> list[int]:
    """A counter of the SQL statements ``ws`` sends from now on."""
    count = [0]

    def counted(*_: Any) -> None:
        count[0] += 1

    sa.event.listen(ws.db, "before_cursor_execute", counted)
    return count


def server_cpu(ws: Workspace) -> float:
    """CPU seconds used so far by the PostgreSQL processes serving this run (this machine's
    server: /proc), or 0.0 when they cannot be read."""
    name = ws.db.url.query.get("application_name")
    if ws.db.dialect.name != "postgresql" or not name:
        return 0.0
    with ws.db.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": name}
        ).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


# --- the rows the engine would have written --------------------------------------------------
class Plan:
    """Every ticket's record, clock and timer rows, computed with the engine's SLA objects."""

    def __init__(self, sla: Sla, now: dt.datetime, owner: str, tickets: int, timers: int):
        self.sla, self.now, self.owner = sla, now, owner
        self.tickets, self.timers = tickets, timers
        rng = random.Random(SEED)
        self.due = set(rng.sample(range(tickets), timers))
        self.due_ids: dict[str, str] = {}  # id -> priority before the escalation
        self.ids: list[str] = []
        self._cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._latest: dict[tuple[str, str], dt.datetime] = {}

    def rows(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]]:
        """(record, clocks, timer) per ticket, in id order."""
        rng = random.Random(SEED + 1)
        for i in range(self.tickets):
            yield self._ticket(rng, i, i in self.due)

    def sample(self) -> list[str]:
        """Some due and some waiting tickets for the engine to re-check."""
        due = list(self.due_ids)[:100]
        waiting = [i for i in self.ids[:400] if i not in self.due_ids][:100]
        return due + waiting

    def _ticket(
        self, rng: random.Random, i: int, due: bool
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        values = ticket(rng, i)
        policy = self.sla.policies[0] if values["tier"] == "gold" else self.sla.policies[1]
        priority = values["priority"]
        minutes = rng.randrange(DUE_SPREAD_MINUTES if due else RECENT_MINUTES)
        response, resolution, timer_due, started = self._times(policy.name, priority, due, minutes)
        record_id = new_id()
        self.ids.append(record_id)
        answered = min(started + dt.timedelta(minutes=5), self.now)
        created = started + dt.timedelta(microseconds=rng.randrange(1_000_000))
        record = {
            "id": record_id,
            "version": 3 if due else 2,  # created, SLA fields written (and the warning)
            "created_at": created,
            "created_by": self.owner,
            "updated_at": created,
            "updated_by": self.owner,
            "owner": self.owner,
            **values,
            "status": rng.choice(OPEN),
            "first_response_at": answered,
            "response_due": response.due_at,
            "resolution_due": resolution.due_at,
            "sla_policy": policy.name,
            "sla_state": "at_risk" if due else "on_track",
            "escalation_level": 1 if due else None,
            "note": "Resolution at risk" if due else None,
        }
        if due:
            self.due_ids[record_id] = priority
        response.met_at = answered.replace(microsecond=0)
        clocks = [{"entity": "bticket", "record_id": record_id, **c.values()} for c in (response, resolution)]
        timer = {
            "id": new_id(),
            "entity": "bticket",
            "record_id": record_id,
            "name": TIMER,
            "due_at": timer_due,
            "state": "pending",
            "payload": None,
            "created_at": created,
            "fired_at": None,
        }
        return record, clocks, timer

    def _times(
        self, policy: str, priority: str, due: bool, minutes: int
    ) -> tuple[Clock, Clock, dt.datetime, dt.datetime]:
        """Fresh response and resolution clocks, the timer's due time and the start."""
        key = (policy, priority, due, minutes)
        if key not in self._cache:
            self._cache[key] = self._compute(policy, priority, due, minutes)
        response, resolution, timer_due, started = self._cache[key]
        return Clock(**response), Clock(**resolution), timer_due, started

    def _compute(self, policy_name: str, priority: str, due: bool, minutes: int) -> tuple[Any, ...]:
        policy = next(p for p in self.sla.policies if p.name == policy_name)
        target = policy.target(priority, "resolution")
        assert target is not None
        if due:  # breached ``minutes`` of working time before now
            started = self._latest_start(policy_name, priority) - dt.timedelta(minutes=minutes)
        else:
            started = self.now - dt.timedelta(minutes=minutes)
        clocks = []
        for milestone in ("response", "resolution"):
            goal = policy.target(priority, milestone)
            assert goal is not None
            clock = Clock(milestone, policy.name, started, int(goal.total_seconds()))
            clock.due_at = clock.at(policy.calendar, clock.target)
            clocks.append(clock)
        resolution = clocks[1]
        resolution.level = 1 if due else 0
        step = next_step(self.sla, resolution)
        assert step is not None
        timer_due, level = step
        # due: the breach (and the 100 % level at the same instant) is due; else the 75 % warning lies ahead
        assert (timer_due <= self.now and level is None) if due else (timer_due > self.now and level is not None)
        assert target == resolution.target
        return (*({k: v for k, v in c.values().items()} for c in clocks), timer_due, started)

    def _latest_start(self, policy_name: str, priority: str) -> dt.datetime:
        """The latest whole-minute start whose resolution breach is at or before now (bisection:
        the business-time due instant grows with the start)."""
        key = (policy_name, priority)
        if key not in self._latest:
            policy = next(p for p in self.sla.policies if p.name == policy_name)
            target = policy.target(priority, "resolution")
            assert target is not None
            lo, hi = 0, 60 * 24 * 60  # minutes before now
            while lo < hi:
                mid = (lo + hi) // 2
                if policy.calendar.add(self.now - dt.timedelta(minutes=mid), target) <= self.now:
                    hi = mid
                else:
                    lo = mid + 1
            self._latest[key] = self.now - dt.timedelta(minutes=lo)
        return self._latest[key]


# --- loading ---------------------------------------------------------------------------------
def load(ws: Workspace, backend: str, plan: Plan) -> dict[str, int]:
    """Every row of the plan into bticket, tessera_sla_clock and tessera_timer; ANALYZE."""
    table = ws.snapshot().tables.main("bticket")
    targets = {"bticket": table, "sla_clock": st.sla_clock, "timer": st.timer}
    counts = dict.fromkeys(targets, 0)
    chunk: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    writer = _copy_writer if backend == "postgresql" else _insert_writer
    with ws.db.begin() as conn:
        for record, clocks, timer in plan.rows():
            chunk["bticket"].append(record)
            chunk["sla_clock"].extend(clocks)
            chunk["timer"].append(timer)
            if len(chunk["bticket"]) >= 50_000:
                _flush(conn, writer, targets, chunk, counts)
        _flush(conn, writer, targets, chunk, counts)
    with ws.db.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("VACUUM ANALYZE" if backend == "postgresql" else "ANALYZE")
    return counts


def _flush(
    conn: Any, writer: Any, targets: dict[str, sa.Table], chunk: dict[str, list[dict[str, Any]]], counts: dict[str, int]
) -> None:
    for name, rows in chunk.items():
        if rows:
            writer(conn, targets[name], rows)
            counts[name] += len(rows)
            rows.clear()


def _copy_writer(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """COPY FROM STDIN through the psycopg connection under SQLAlchemy (naive UTC datetimes,
    as the engine's UTCDateTime stores them)."""
    columns = list(rows[0])
    raw = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_naive(row[c]) for c in columns])


def _insert_writer(conn: Any, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    conn.execute(table.insert(), rows)


def _naive(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


# --- checks ----------------------------------------------------------------------------------
def recheck(ws: Workspace, sla: Sla, now: dt.datetime, ids: list[str]) -> None:
    """Let the engine bring a sample of the loaded tickets' clocks in line with their records
    (as after a write of the priority) in a transaction that is rolled back: it must find
    nothing to change, or the loaded rows are not what the engine writes."""
    snap = ws.snapshot()
    entity = snap.catalog.entities["bticket"]
    with ws.db.connect() as conn, conn.begin() as tx:
        run = ws.records._run(conn, snap, TIMER_ACTOR, now)
        for record_id in ids:
            record = run.fetch(entity, record_id)
            assert record is not None
            before = (record, load_clocks(conn, "bticket", record_id), _timer(conn, record_id))
            event = Event("update", entity, record_id, record, record, TIMER_ACTOR, frozenset({"priority"}))
            sla_module.COMPONENT.sync(run, sla, event, rearm=True)
            after = (run.fetch(entity, record_id), load_clocks(conn, "bticket", record_id), _timer(conn, record_id))
            if after != before:
                raise SystemExit(f"loaded rows of {record_id} differ from what the engine writes:\n{before}\n{after}")
        tx.rollback()
    print(f"re-checked {len(ids)} loaded tickets with the engine: clocks, timers and SLA fields agree", flush=True)


def _timer(conn: Any, record_id: str) -> tuple[Any, ...]:
    t = st.timer
    row = conn.execute(sa.select(t.c.name, t.c.due_at, t.c.state).where(t.c.record_id == record_id)).one()
    return tuple(row)


def verify(ws: Workspace, plan: Plan, now: dt.datetime) -> list[str]:
    """Exactly the due tickets escalated, each as the SLA says; nothing left due or failed."""
    table = ws.snapshot().tables.main("bticket")
    problems = []
    with ws.db.connect() as conn:
        escalated = dict(
            conn.execute(sa.select(table.c.id, table.c.priority).where(table.c.escalation_level == 2)).all()
        )
        breached = conn.execute(sa.select(sa.func.count()).where(table.c.sla_state == "breached")).scalar()
        audited = conn.execute(
            sa.select(sa.func.count(sa.distinct(st.audit.c.record_id))).where(
                st.audit.c.entity == "bticket", st.audit.c.source == f"sla:{SLA_NAME}", st.audit.c.at == now
            )
        ).scalar()
        timers: dict[str, int] = dict(
            conn.execute(
                sa.select(st.timer.c.state, sa.func.count()).where(st.timer.c.due_at <= now).group_by(st.timer.c.state)
            ).all()
        )
    if set(escalated) != set(plan.due_ids):
        problems.append(
            f"{len(escalated):,} tickets at level 2, {len(set(escalated) & set(plan.due_ids)):,} of them due "
            f"(expected exactly the {len(plan.due_ids):,} due)"
        )
    wrong = [i for i, p in escalated.items() if i in plan.due_ids and p != RAISED[plan.due_ids[i]]]
    if wrong:
        problems.append(f"{len(wrong):,} escalated tickets without the raised priority")
    if breached != len(plan.due_ids):
        problems.append(f"{breached:,} tickets breached, expected {len(plan.due_ids):,}")
    if audited != len(plan.due_ids):
        problems.append(f"{audited:,} tickets with an SLA audit entry, expected {len(plan.due_ids):,}")
    if timers.get("pending") or timers.get("failed"):
        problems.append(f"timers due by now left over: {timers}")
    return problems
