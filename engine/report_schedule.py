"""Scheduled reports: a report with ``schedule: {cron, recipients, format}`` e-mailed as a file.

The job runner's tick runs :func:`run_due` after the scheduled rules (it registers with
``engine.automation.schedules.register``), so ``tessera tick``, the in-process runner and the
RQ scheduler send reports exactly as they run cron rules, with the same rules for time:

- a period is a fire time of the cron in its ``timezone`` (default UTC); only the latest fire
  time since the report's last period is sent (after downtime a weekly report goes out once),
  and a report's first tick looks back ``CRON_FIRST_LOOKBACK``;
- the period is marked in ``tessera_schedule_run`` (``report:NAME``) in the same transaction that
  queues the e-mails in the outbox, so they exist exactly when the mark does: a second tick,
  or a second worker, sends nothing twice (each e-mail's outbox key names the report, the
  period and the recipient as well).

Each recipient (users having one of the ``roles``, and the users with the listed addresses)
gets the report **computed as them**: their permission scopes and hidden fields apply, so
nobody receives a row they could not open in the app. A recipient who may not open the
report (their role is not among its ``roles``, or they cannot read its entity) gets nothing,
and an address that is no active user of the workspace is skipped: without a user there are
no permissions to compute the rows with. Both are logged.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from croniter import croniter

from engine.actor import Actor
from engine.automation.notify import outbox_key, resolve_recipients
from engine.automation.schedules import _KEY_FORMAT, CRON_FIRST_LOOKBACK, RULE_MARK, SCHEDULE_ACTOR, _mark
from engine.errors import TesseraError
from engine.report_definitions import Report, reports
from engine.reports import file_bytes, file_name, may_open, media_type, run
from engine.security.identity import load_actor
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.storage.derivation import label_text

log = logging.getLogger("tessera.automation")

#: ``rule`` of a report's marks in ``tessera_schedule_run`` (rule names have no colon)
MARK_PREFIX = "report:"


def run_due(ws: Any, now: dt.datetime | None = None) -> int:
    """Send every scheduled report due at ``now``; returns the e-mails queued."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    snap = ws.snapshot()
    queued = 0
    for report in sorted(reports(snap).values(), key=lambda r: r.name):
        if report.schedule is None:
            continue
        try:
            queued += _send(ws, snap, report, now)
        except sa.exc.OperationalError:  # the database is away: the next tick tries again
            raise
        except sa.exc.SQLAlchemyError:  # this report's query failed: the other reports still go out
            log.exception("scheduled report %s could not run", report.name)
    return queued


def due_period(report: Report, last: str | None, now: dt.datetime) -> str | None:
    """The period (latest fire time, UTC text) to send at ``now``, or None when it went out already."""
    assert report.schedule is not None
    local = now.astimezone(report.schedule.timezone) + dt.timedelta(microseconds=1)  # now itself counts
    fire: dt.datetime = croniter(report.schedule.cron, local).get_prev(dt.datetime)
    key = fire.astimezone(dt.UTC).strftime(_KEY_FORMAT)
    if (last is not None and key <= last) or (last is None and fire < now - CRON_FIRST_LOOKBACK):
        return None
    return key


def _send(ws: Any, snap: Any, report: Report, now: dt.datetime) -> int:
    sr = st.schedule_run
    rule = MARK_PREFIX + report.name
    with read_transaction(ws.db) as conn:
        last = conn.execute(
            sa.select(sa.func.max(sr.c.period)).where(sr.c.rule == rule, sr.c.record_id == RULE_MARK)
        ).scalar()
        period = due_period(report, last, now)
        if period is None:
            return 0
        people = _recipients(conn, snap, report)
    messages = []
    for email, who in people:
        payload = _message(ws, report, who, email, period, now)
        if payload is not None:
            messages.append((who, payload))
    with write_transaction(ws.db) as conn:
        if not _mark(conn, rule, RULE_MARK, period, now):
            return 0  # another worker sent this period
        queue = ws.records._run(conn, snap, SCHEDULE_ACTOR, now)
        for who, payload in messages:
            queue.outbox("email", payload, key=outbox_key("report", report.name, period, who.user_id))
        if last is not None:  # keep this period's mark and the one before
            conn.execute(sr.delete().where(sr.c.rule == rule, sr.c.period < last))
    log.info("scheduled report %s (%s): %d e-mail(s) queued", report.name, period, len(messages))
    return len(messages)


def _recipients(conn: Any, snap: Any, report: Report) -> list[tuple[str, Actor]]:
    """(address, actor) of the report's recipients who are active users with an address."""
    assert report.schedule is not None
    found = resolve_recipients(SimpleNamespace(snap=snap, conn=conn), report.schedule.users, report.schedule.roles)
    people = []
    for recipient in found:
        if recipient.user_id is None:
            log.warning("scheduled report %s: %s is no user of this workspace; not sent", report.name, recipient.key)
            continue
        who = load_actor(conn, snap, recipient.user_id, source=f"report:{report.name}")
        if who is None or not recipient.email:
            continue
        people.append((recipient.email, who))
    return people


def _message(ws: Any, report: Report, who: Actor, email: str, period: str, now: dt.datetime) -> dict[str, Any] | None:
    """The outbox payload of one recipient's e-mail, with the report computed as them attached."""
    assert report.schedule is not None
    if not may_open(report, who):
        log.warning("scheduled report %s: %s may not open it; not sent", report.name, email)
        return None
    try:
        result = run(ws, who, report, who.locale)
    except TesseraError as exc:  # e.g. the entity or a filtered field is hidden from them
        log.warning("scheduled report %s: not sent to %s: %s", report.name, email, exc.detail)
        return None
    except sa.exc.OperationalError:  # the database is away: the whole period is tried again
        raise
    except sa.exc.SQLAlchemyError:  # their query failed (their scope, a division by zero): the others get theirs
        log.exception("scheduled report %s could not be computed for %s", report.name, email)
        return None
    fmt = report.schedule.format
    day = now.astimezone(report.schedule.timezone).date()
    title = label_text(report.label, who.locale)
    link = f"{ws.config.public_url.rstrip('/')}{result['url']}" if ws.config.public_url else result["url"]
    rows = len(result["rows"])
    body = [
        f"{title}, {day.isoformat()}: {rows} row{'' if rows == 1 else 's'}, attached as {fmt.upper()}.",
        *([report.description] if report.description else []),
        *(["Only the first rows are attached; open the report for all of them."] if result["truncated"] else []),
        f"Open it in Tessera: {link}",
    ]
    return {
        "to": email,
        "subject": f"{title} ({day.isoformat()})",
        "body": "\n\n".join(body),
        "report": report.name,
        "period": period,
        "rows": rows,
        "attachments": [
            {
                "filename": file_name(result, fmt, day),
                "content_type": media_type(fmt),
                "data": base64.b64encode(file_bytes(result, fmt)).decode("ascii"),
            }
        ],
    }
