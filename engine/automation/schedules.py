"""Scheduled rules: ``schedule: {cron: ...}`` and relative dates ``{before|after: ..., field: ...}``.

A scheduled rule runs its actions once per (record, period) for the records of its entity
where ``when`` holds. ``tessera_schedule_run`` remembers each run (its primary key makes a
second tick, or a second worker ticking at the same time, a no-op): the mark is inserted
first in the record's savepoint, so the actions' effects and the mark commit together.

- **cron** (``{cron: "0 7 * * *", timezone: Europe/Berlin}``, default UTC): a period is a
  fire time. Only the latest fire time since the rule's last period runs: after downtime a
  daily rule runs once, not once per missed day. A rule's first tick looks back
  :data:`CRON_FIRST_LOOKBACK`. The records are those where ``when`` holds at the tick; a
  record that qualifies after its period ran waits for the next period.
- **before / after** (``{before: [90d, 30d], field: end_date}``): the period is the offset
  and the field's value (``90d@2027-01-31``), so a changed date re-arms the alerts. When
  several offsets of a record are due at once (it was created late, or ticks were missed)
  only the most recent fires: a contract ending in 5 days gets the 7d alert, not all four.
  ``before`` alerts stop when the date itself has passed; the last ``after`` alert fires at
  most :data:`AFTER_LATE_LIMIT` late (records long past it, e.g. imported history, stay quiet).
  A date field's day starts at midnight in the schedule's ``timezone``.

Candidates are selected in SQL (the ``when`` condition, the due window, ``NOT EXISTS`` a mark),
in batches of one write transaction each. A record whose actions fail is rolled back, marked
as run (it is not retried every tick), logged, and its history shows ``schedule_failed``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import CroniterError, croniter
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.automation.actions import Target, run_steps
from engine.automation.events import Event
from engine.dsl import Expression, compile_expression, sql_context
from engine.dsl.checker import system_field
from engine.errors import DslError, TesseraError
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.timezones import zone_named

log = logging.getLogger("tessera.automation")

#: how far back a cron rule's first tick looks for a fire time it missed
CRON_FIRST_LOOKBACK = dt.timedelta(days=1)
#: how late the last ``after`` alert may still fire (catch-up after downtime)
AFTER_LATE_LIMIT = dt.timedelta(days=7)
#: records per write transaction
BATCH = 100
SCHEDULE_ACTOR = Actor(None, frozenset({"admin"}), "schedule")
#: ``record_id`` of the row marking a cron rule's period as done
RULE_MARK = ""
_KEY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: more scheduled work each tick runs after the rules, ``(workspace, now) -> runs made``: the
#: e-mails of scheduled reports (engine.report_schedule registers itself with :func:`register`)
SENDERS: list[Callable[[Any, dt.datetime], int]] = []


def register(run: Callable[[Any, dt.datetime], int]) -> None:
    if run not in SENDERS:
        SENDERS.append(run)


# --- compile time ------------------------------------------------------------------------------
def check_schedule(c: Any, spec: dict[str, Any], entity: EntityDef) -> dict[str, Any]:
    """Check a rule's ``schedule:`` (problems at their place in the file) and compile it.

    Returns ``{"kind": "cron", "cron", "timezone", "where"}`` or ``{"kind": "before"|"after",
    "offsets": [(text, timedelta)], "field", "date", "timezone", "where"}`` where ``where`` is the
    rule's ``when`` compiled to SQL (or None); ``{"kind": None}`` when the spec is unusable."""
    timezone = _timezone(c, spec)
    if "cron" in spec:
        extra = sorted(set(spec) & {"before", "after", "field"})
        if extra:
            c.fail(f"a cron schedule takes no {extra[0]!r} (use before/after with field instead)", "schedule", extra[0])
            return {"kind": None}
        compiled = _check_cron(c, spec["cron"], timezone)
    else:
        compiled = _check_relative(c, spec, entity, timezone)
    if compiled is None or timezone is None:
        return {"kind": None}
    compiled["where"] = _sql_condition(c, entity)
    return compiled


def _timezone(c: Any, spec: dict[str, Any]) -> ZoneInfo | None:
    name = spec.get("timezone", "UTC")
    zone = zone_named(name)
    if zone is None:
        c.fail(f"unknown time zone {name!r}", "schedule", "timezone")
    return zone


def _check_cron(c: Any, expression: str, timezone: ZoneInfo | None) -> dict[str, Any] | None:
    fields = expression.split()
    if len(fields) != 5:
        c.fail(f"cron {expression!r} needs five fields: minute hour day-of-month month day-of-week", "schedule", "cron")
        return None
    try:
        croniter(expression, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except (CroniterError, ValueError) as exc:
        c.fail(f"cron {expression!r} is not valid: {exc}", "schedule", "cron")
        return None
    return {"kind": "cron", "cron": " ".join(fields), "timezone": timezone}


def _check_relative(
    c: Any, spec: dict[str, Any], entity: EntityDef, timezone: ZoneInfo | None
) -> dict[str, Any] | None:
    kinds = [k for k in ("before", "after") if k in spec]
    if len(kinds) != 1:
        message = "takes before or after, not both" if kinds else "takes cron, or before or after with field"
        c.fail(f"a schedule {message}", "schedule", *kinds[1:])
        return None
    kind = kinds[0]
    name = spec.get("field")
    if name is None:
        c.fail(f"{kind} needs field: the date or datetime field it counts from", "schedule")
        return None
    fd = entity.fields.get(name) or system_field(entity, name)
    if fd is None:
        c.fail(f"{entity.name} has no field {name!r}", "schedule", "field")
        return None
    if fd.type not in ("date", "datetime"):
        c.fail(f"{entity.name}.{name} is a {fd.type}; a schedule counts from a date or datetime", "schedule", "field")
        return None
    if fd.name in entity.fields and not fd.has_column:
        c.fail(f"{entity.name}.{name} is computed and not stored; a schedule needs a stored field", "schedule", "field")
        return None
    if fd.type == "datetime" and "timezone" in spec:
        c.fail(f"timezone applies to cron and date fields; {entity.name}.{name} is a datetime", "schedule", "timezone")
        return None
    offsets = _offsets(c, spec[kind], kind)
    if offsets is None:
        return None
    return {
        "kind": kind,
        "offsets": offsets,
        "field": name,
        "date": fd.type == "date",
        "timezone": timezone,
    }


def _offsets(c: Any, raw: Any, kind: str) -> list[tuple[str, dt.timedelta]] | None:
    items = raw if isinstance(raw, list) else [raw]
    offsets: list[tuple[str, dt.timedelta]] = []
    seen: dict[dt.timedelta, str] = {}
    ok = True
    for i, item in enumerate(items):
        path = ("schedule", kind, i) if isinstance(raw, list) else ("schedule", kind)
        before = len(c.problems.items)
        delta = c.duration(item, *path)
        if len(c.problems.items) != before:
            ok = False
            continue
        text = "".join(str(item).split())
        if len(text) > 30:
            c.fail(f"{kind}: {text} is too long; write it shorter (90d, 36h, 2w)", *path)
            ok = False
        elif kind == "before" and not delta:
            c.fail(f"before: {text} is the moment itself; use after: 0s", *path)
            ok = False
        elif delta in seen:
            c.fail(f"{kind}: {text} is the same offset as {seen[delta]}", *path)
            ok = False
        seen[delta] = text
        offsets.append((text, delta))
    return offsets if ok else None


def _sql_condition(c: Any, entity: EntityDef) -> Expression | None:
    """The rule's ``when`` as SQL (candidates are selected in the database)."""
    source = c.definition.data.get("when")
    if source is None:
        return None
    where = c.definition.where("when")
    try:
        return compile_expression(
            source, entity, c.catalog, functions=c.functions, where=where, sql=True, expect="bool"
        )
    except DslError as exc:
        try:  # a when that does not compile at all is reported by the rule itself
            compile_expression(source, entity, c.catalog, functions=c.functions, where=where, expect="bool")
        except DslError:
            return None
        c.fail("a scheduled rule's when must be computable in SQL: " + exc.detail.replace("\n", "\n    "), "when")
        return None


# --- run time ----------------------------------------------------------------------------------
def run_due(ws: Any, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Run every scheduled rule that is due at ``now``; returns the (rule, record, period) runs made."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    snap = ws.snapshot()
    ruleset = snap.automation.parts.get("rules")
    ran = 0
    for rule in sorted(getattr(ruleset, "scheduled", ()), key=lambda r: r.name):
        try:
            ran += _run_rule(ws, snap, rule, now, batch)
        except sa.exc.OperationalError:  # the database is away: the next tick tries again
            raise
        except Exception:  # e.g. its when divides by zero in SQL: the other rules still run
            log.exception("scheduled rule %s could not run", rule.name)
    for send in SENDERS:
        ran += send(ws, now)
    return ran


def _run_rule(ws: Any, snap: Any, rule: Any, now: dt.datetime, batch: int) -> int:
    kind = (rule.schedule or {}).get("kind")
    if kind == "cron":
        return _run_cron(ws, snap, rule, now, batch)
    if kind in ("before", "after"):
        return sum(
            _run_window(ws, snap, rule, now, offset, low, high, batch)
            for offset, low, high in _windows(rule.schedule, now)
        )
    return 0


def _run_cron(ws: Any, snap: Any, rule: Any, now: dt.datetime, batch: int) -> int:
    sr = st.schedule_run
    with read_transaction(ws.db) as conn:
        last = conn.execute(
            sa.select(sa.func.max(sr.c.period)).where(sr.c.rule == rule.name, sr.c.record_id == RULE_MARK)
        ).scalar()
    local = now.astimezone(rule.schedule["timezone"]) + dt.timedelta(microseconds=1)  # now itself counts
    fire: dt.datetime = croniter(rule.schedule["cron"], local).get_prev(dt.datetime)
    key = fire.astimezone(dt.UTC).strftime(_KEY_FORMAT)
    if (last is not None and key <= last) or (last is None and fire < now - CRON_FIRST_LOOKBACK):
        return 0
    ran = _run_records(ws, snap, rule, now, sa.literal(key, sa.String), [], batch)
    with write_transaction(ws.db) as conn:
        _mark(conn, rule.name, RULE_MARK, key, now)
        # keep the marks of this period and the one before (a slow worker may still be on it)
        if last is not None:
            conn.execute(sr.delete().where(sr.c.rule == rule.name, sr.c.period < last))
    return ran


def _windows(schedule: dict[str, Any], now: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(offset, low, high): records whose field lies in (low, high] are due for ``offset``, and it
    is their most recent due offset."""
    before = schedule["kind"] == "before"
    offsets = sorted(schedule["offsets"], key=lambda o: o[1], reverse=before)
    windows = []
    for i, (text, delta) in enumerate(offsets):
        if i + 1 < len(offsets):
            following = offsets[i + 1][1]
        else:  # before: until the date itself; after: until the last alert is too late
            following = dt.timedelta() if before else delta + AFTER_LATE_LIMIT
        if before:
            windows.append((text, now + following, now + delta))
        else:
            windows.append((text, now - following, now - delta))
    return windows


def _run_window(
    ws: Any, snap: Any, rule: Any, now: dt.datetime, offset: str, low: dt.datetime, high: dt.datetime, batch: int
) -> int:
    schedule = rule.schedule
    column = snap.tables.main(rule.entity.name).c[schedule["field"]]
    if schedule["date"]:  # a date's moment is its midnight in the schedule's time zone
        low_bound: Any = low.astimezone(schedule["timezone"]).date()
        high_bound: Any = high.astimezone(schedule["timezone"]).date()
    else:
        low_bound, high_bound = low, high
    period = sa.literal(offset + "@", sa.String) + _period_text(column, schedule["date"], ws.db.dialect.name)
    window = [column.is_not(None), column > low_bound, column <= high_bound]
    return _run_records(ws, snap, rule, now, period, window, batch)


def _period_text(column: Any, date: bool, dialect: str) -> Any:
    """The field's value as text, the same on every backend: ``2027-01-31`` or ``2027-01-31T07:00:00Z``."""
    if dialect == "postgresql":
        return sa.func.to_char(column, "YYYY-MM-DD" if date else 'YYYY-MM-DD"T"HH24:MI:SS"Z"', type_=sa.String)
    return sa.func.strftime("%Y-%m-%d" if date else _KEY_FORMAT, column, type_=sa.String)


def _run_records(ws: Any, snap: Any, rule: Any, now: dt.datetime, period: Any, window: list[Any], batch: int) -> int:
    """Run ``rule`` on every live record in ``window`` where ``when`` holds and ``period`` has not
    run yet: a batch is selected (keyset on id, so a failed record is passed over), then run in
    one write transaction (only when there is work: an idle tick takes no write lock)."""
    entity: EntityDef = rule.entity
    table = snap.tables.main(entity.name)
    sr = st.schedule_run
    done = sa.exists().where(sr.c.rule == rule.name, sr.c.record_id == table.c.id, sr.c.period == period)
    where = [table.c.deleted_at.is_(None), ~done, *window]
    ran, after = 0, None
    while True:
        with read_transaction(ws.db) as conn:
            conditions = list(where)
            if rule.schedule["where"] is not None:
                ctx = sql_context(conn.dialect.name, now, None, SCHEDULE_ACTOR.roles)
                conditions.append(rule.schedule["where"].to_sql(snap.tables, ctx))
            if after is not None:
                conditions.append(table.c.id > after)
            query = sa.select(table.c.id, period.label("period")).where(*conditions).order_by(table.c.id).limit(batch)
            rows = conn.execute(query).all()
        if rows:
            # another worker may run the same batch: the marks decide who runs each record
            with write_transaction(ws.db) as conn:
                run = ws.records._run(conn, snap, SCHEDULE_ACTOR, now)
                for record_id, key in rows:
                    ran += _run_one(conn, run, rule, record_id, key, now)
        if len(rows) < batch:
            return ran
        after = rows[-1][0]


class _Skip(Exception):
    """The record's period ran already (another worker) or no longer applies."""


def _run_one(conn: Connection, run: Any, rule: Any, record_id: str, period: str, now: dt.datetime) -> int:
    entity: EntityDef = rule.entity
    source = f"schedule:{rule.name}"
    try:
        with conn.begin_nested():
            if not _mark(conn, rule.name, record_id, period, now):
                raise _Skip
            record = run.fetch(entity, record_id)
            if record is None:
                raise _Skip
            if rule.when is not None and not rule.when.holds(run.env(entity, record)):
                raise _Skip  # an earlier record's actions changed it
            event = Event("timer", entity, record_id, record, None, run.actor, name=source, payload={"period": period})
            run_steps(run, rule.steps, Target(entity, record_id, event, source))
    except _Skip:
        return 0
    except (TesseraError, sa.exc.IntegrityError, sa.exc.DataError) as exc:
        reason = str(exc.orig).strip().splitlines()[0] if isinstance(exc, sa.exc.DBAPIError) else str(exc)
        log.warning("scheduled rule %s on %s %s (%s) failed: %s", rule.name, entity.name, record_id, period, reason)
        if _mark(conn, rule.name, record_id, period, now):
            run.audit(entity.name, record_id, "schedule_failed", {"rule": [None, source], "reason": [None, reason]})
        return 0
    return 1


def _mark(conn: Connection, rule: str, record_id: str, period: str, now: dt.datetime) -> bool:
    """Record that ``rule`` ran for (record, period); False if it had (the primary key says so)."""
    try:
        with conn.begin_nested():
            conn.execute(
                st.schedule_run.insert(), {"rule": rule, "record_id": record_id, "period": period, "ran_at": now}
            )
    except sa.exc.IntegrityError:
        return False
    return True
