"""Connectors on a cron ``schedule``, and the ``connector_sync`` job that runs one.

The job runner's tick (``tessera tick``, the in-process runner, the RQ scheduler) calls
:func:`queue_due` after the scheduled rules (it registers with
``engine.automation.schedules.register``). For each active connector whose cron (UTC) has a
fire time since its last period, the period is marked in ``tessera_schedule_run``
(``sync:NAME``) in the same transaction that queues a ``connector_sync`` job in the outbox:
a second tick or a second worker queues nothing twice, and after downtime a connector
syncs once, not once per missed period. The job runs the sync; a peer that is down (5xx,
no answer) fails the attempt, so the outbox retries it with backoff.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from croniter import croniter

from engine.actor import SYSTEM
from engine.automation.jobs import register_job
from engine.automation.notify import outbox_key
from engine.automation.schedules import _KEY_FORMAT, CRON_FIRST_LOOKBACK, RULE_MARK, _mark, register
from engine.connectors.store import active_configs
from engine.connectors.sync import run_sync
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction

log = logging.getLogger("tessera.connectors")

JOB = "connector_sync"


def _period(cron: str, last: str | None, now: dt.datetime) -> str | None:
    fire: dt.datetime = croniter(cron, now + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    key = fire.astimezone(dt.UTC).strftime(_KEY_FORMAT)
    if (last is not None and key <= last) or (last is None and fire < now - CRON_FIRST_LOOKBACK):
        return None
    return key


def queue_due(ws: Any, now: dt.datetime) -> int:
    """Queue a sync job for every connector whose schedule is due at ``now``; returns how many."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    queued = 0
    sr = st.schedule_run
    for values in active_configs(ws):
        cron = values.get("schedule")
        if not cron or values.get("direction") == "push" or not croniter.is_valid(str(cron)):
            continue
        rule = f"sync:{values['name']}"
        with read_transaction(ws.db) as conn:
            last = conn.execute(
                sa.select(sa.func.max(sr.c.period)).where(sr.c.rule == rule, sr.c.record_id == RULE_MARK)
            ).scalar()
        period = _period(str(cron), last, now.astimezone(dt.UTC))
        if period is None:
            continue
        with write_transaction(ws.db) as conn:
            if not _mark(conn, rule, RULE_MARK, period, now):
                continue  # another worker queued this period
            run = ws.records._run(conn, ws.snapshot(), SYSTEM, now)
            args = {"name": values["name"], "trigger": "schedule"}
            run.outbox("job", {"job": JOB, "args": args}, key=outbox_key(JOB, values["name"], period))
            if last is not None:
                conn.execute(sr.delete().where(sr.c.rule == rule, sr.c.period < last))
        queued += 1
    return queued


def sync_job(ws: Any, args: dict[str, Any]) -> None:
    """The ``connector_sync`` job: ``{"name": NAME, "trigger": "schedule", "full": false}``."""
    summary = run_sync(ws, str(args["name"]), str(args.get("trigger") or "schedule"), bool(args.get("full")))
    if summary["status"] == "failed" and summary["retry"]:
        # the peer is away: fail this attempt so the outbox tries again later
        raise RuntimeError(f"sync {summary['name']} failed: {summary['error']}")


register(queue_due)
register_job(JOB, sync_job)
