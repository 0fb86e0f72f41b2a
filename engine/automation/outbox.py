"""The outbox dispatcher: delivering external effects after the transaction that caused them.

Rows of ``tessera_outbox`` are written in the transaction of the change that caused them
(:meth:`engine.automation.runtime.Run.outbox`), so an effect exists exactly when its change
committed. Delivering one is three steps:

1. **claim** due rows in a short transaction (``pending`` and ``available_at <= now``, or
   ``running`` with an expired lease): state ``running``, one more attempt, lease until
   ``now + lease``. ``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several dispatchers share
   the work; a conditional update makes each claim win once;
2. **call the channel** outside any transaction (a slow webhook holds no lock);
3. **record** the attempt (``tessera_delivery``) and the outcome in a second transaction:
   ``sent``; ``pending`` again after an exponential backoff; or ``failed`` (the dead-letter
   list admins see) after the last attempt or when retrying cannot help.

A crash between commit and dispatch leaves the row ``pending``; a crash during dispatch
leaves it ``running`` until its lease expires, when it is claimed again. Nothing is lost, and
a channel treats the row id as an idempotency key, so a repeated attempt never duplicates
the effect. The same functions serve the in-process runner and RQ workers
(:mod:`engine.automation.jobs`), so retries behave the same with both.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.automation.channels import CHANNELS, Delivery, retryable
from engine.errors import BadRequest, Conflict, NotFound, PermissionDenied, TesseraError
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.database import read_transaction, write_transaction
from engine.storage.ids import is_id, new_id

log = logging.getLogger("tessera.jobs")

STATES = ("pending", "running", "sent", "failed", "discarded")
#: outcomes of one attempt, as :func:`deliver` reports them
SENT, RETRY, FAILED, SKIPPED = "sent", "retry", "failed", "skipped"
_INTERRUPTED = "the attempt did not finish within its lease (its dispatcher stopped)"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how fast a failing delivery is tried again."""

    max_attempts: int = 8
    #: wait after the first failed attempt; doubled after each further one
    base: dt.timedelta = dt.timedelta(seconds=30)
    cap: dt.timedelta = dt.timedelta(hours=6)
    #: a row ``running`` for longer belongs to a dispatcher that stopped: claim it again
    lease: dt.timedelta = dt.timedelta(minutes=5)

    def backoff(self, attempts: int) -> dt.timedelta:
        """Wait before the next attempt, after ``attempts`` failed ones: base, 2 base, 4 base ..."""
        return min(self.cap, self.base * 2 ** max(attempts - 1, 0))


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Claim:
    """A row this dispatcher may deliver: its id and the attempt number it claimed."""

    outbox_id: str
    attempt: int


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def _due(now: dt.datetime) -> Any:
    o = st.outbox
    return sa.or_(
        sa.and_(o.c.state == "pending", sa.or_(o.c.available_at.is_(None), o.c.available_at <= now)),
        sa.and_(o.c.state == "running", o.c.available_at <= now),
    )


def claim_due(
    ws: Any, now: dt.datetime | None = None, limit: int = 100, policy: RetryPolicy = DEFAULT_POLICY
) -> list[Claim]:
    """Claim up to ``limit`` due rows (oldest first) for this dispatcher."""
    now = _now(now)
    o = st.outbox
    claims: list[Claim] = []
    with write_transaction(ws.db) as conn:
        rows = conn.execute(
            sa.select(o.c.id, o.c.state, o.c.attempts)
            .where(_due(now))
            .order_by(sa.func.coalesce(o.c.available_at, o.c.created_at), o.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if row.state == "running":  # its dispatcher stopped during that attempt
                _log_attempt(conn, row.id, now, Delivery(False, error=_INTERRUPTED))
                if row.attempts >= policy.max_attempts:
                    conn.execute(
                        o.update()
                        .where(o.c.id == row.id, o.c.state == "running")
                        .values(
                            state="failed",
                            available_at=None,
                            last_error=f"delivery was interrupted after {row.attempts} attempts",
                        )
                    )
                    continue
            claimed = conn.execute(
                o.update()
                .where(o.c.id == row.id, _due(now))
                .values(state="running", attempts=o.c.attempts + 1, available_at=now + policy.lease)
            )
            if claimed.rowcount == 1:
                claims.append(Claim(row.id, row.attempts + 1))
    return claims


def deliver(ws: Any, claim: Claim, now: dt.datetime | None = None, policy: RetryPolicy = DEFAULT_POLICY) -> str:
    """Make the claimed attempt: call the row's channel, then record the outcome.

    Returns ``sent``, ``retry``, ``failed``, or ``skipped`` when the claim is stale (the row
    was claimed again after its lease expired, or an admin discarded it meanwhile)."""
    o = st.outbox
    with read_transaction(ws.db) as conn:
        row = conn.execute(sa.select(o).where(o.c.id == claim.outbox_id)).first()
    if row is None or row.state != "running" or row.attempts != claim.attempt:
        return SKIPPED
    started = time.monotonic()
    channel = CHANNELS.get(row.channel)
    if channel is None:
        known = ", ".join(sorted(CHANNELS)) or "none"
        result = Delivery(False, error=f"unknown channel {row.channel!r}; known channels: {known}", retry=False)
    else:
        try:
            result = channel(ws, dict(row._mapping))
        except TesseraError as exc:  # said to the user: a 4xx one (bad arguments, no right) is final
            log.warning("outbox %s: channel %s failed: %s", row.id, row.channel, exc)
            result = Delivery(False, error=f"{type(exc).__name__}: {exc}", retry=retryable(exc.status))
        except Exception as exc:  # a channel's bug or outage: logged, retried like any failure
            log.exception("outbox %s: channel %s raised", row.id, row.channel)
            result = Delivery(False, error=f"{type(exc).__name__}: {exc}")
    duration_ms = int((time.monotonic() - started) * 1000)
    return record_outcome(ws, claim, result, _now(now), duration_ms, policy)


def record_outcome(
    ws: Any, claim: Claim, result: Delivery, now: dt.datetime, duration_ms: int, policy: RetryPolicy
) -> str:
    """Log the attempt and move the row on: sent, pending after a backoff, or failed."""
    o = st.outbox
    if result.ok:
        outcome, values = SENT, {"state": "sent", "sent_at": now, "available_at": None, "last_error": None}
    elif not result.retry or claim.attempt >= policy.max_attempts:
        outcome, values = FAILED, {"state": "failed", "available_at": None, "last_error": _error(result)}
    else:
        available = now + policy.backoff(claim.attempt)
        outcome, values = RETRY, {"state": "pending", "available_at": available, "last_error": _error(result)}
    with write_transaction(ws.db) as conn:
        _log_attempt(conn, claim.outbox_id, now, result, duration_ms)
        moved = conn.execute(
            o.update()
            .where(o.c.id == claim.outbox_id, o.c.state == "running", o.c.attempts == claim.attempt)
            .values(**values)
        )
    if moved.rowcount != 1:
        return SKIPPED
    if outcome == FAILED:
        log.warning("outbox %s failed for good after %s attempt(s): %s", claim.outbox_id, claim.attempt, result.error)
    return outcome


def _error(result: Delivery) -> str:
    text = result.error or (f"status {result.status_code}" if result.status_code else "delivery failed")
    return text[:2000]


def _log_attempt(conn: Any, outbox_id: str, now: dt.datetime, result: Delivery, duration_ms: int | None = None) -> None:
    conn.execute(
        st.delivery.insert(),
        {
            "id": new_id(),
            "outbox_id": outbox_id,
            "at": now,
            "ok": result.ok,
            "status_code": result.status_code,
            # a successful attempt keeps its note (if any) where a failed one keeps its error
            "error": result.note if result.ok else _error(result),
            "duration_ms": duration_ms,
        },
    )


def dispatch(
    ws: Any, now: dt.datetime | None = None, limit: int = 100, policy: RetryPolicy = DEFAULT_POLICY
) -> Counter[str]:
    """Deliver up to ``limit`` due rows in this process; counts per outcome."""
    outcomes: Counter[str] = Counter()
    # small claims: a slow channel does not keep a long list of rows running past its lease
    batch = min(limit, 10)
    while sum(outcomes.values()) < limit:
        claims = claim_due(ws, now, min(batch, limit - sum(outcomes.values())), policy)
        for claim in claims:
            outcomes[deliver(ws, claim, now, policy)] += 1
        if not claims:
            break
    return outcomes


def dispatch_due(
    ws: Any, now: dt.datetime | None = None, limit: int = 100, policy: RetryPolicy = DEFAULT_POLICY
) -> int:
    """Deliver up to ``limit`` due rows in this process; returns how many were attempted."""
    return sum(dispatch(ws, now, limit, policy).values())


def next_available(ws: Any) -> dt.datetime | None:
    """When the next row falls due (a pending row's next attempt, a running row's lease end)."""
    o = st.outbox
    with read_transaction(ws.db) as conn:
        return conn.execute(
            sa.select(sa.func.min(sa.func.coalesce(o.c.available_at, o.c.created_at))).where(
                o.c.state.in_(("pending", "running"))
            )
        ).scalar()


# --- administration (GET/POST /api/v1/admin/jobs...) ----------------------------------

FILTERS = ("state", "channel", "entity", "record_id", "limit", "offset")
#: the largest ``offset``, as for record lists (a huge one would overflow the database integer)
MAX_OFFSET = 10_000_000
#: payload keys whose values stay out of the admin API (sign-in links, tokens, signatures)
_SECRET_KEY = re.compile(r"token|secret|password|link|authorization|signature|api_?key|credential", re.IGNORECASE)
HIDDEN = "[hidden]"


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may see and manage jobs")


def public_payload(value: Any) -> Any:
    """The payload with secret values (links, tokens, signatures) hidden."""
    if isinstance(value, dict):
        return {k: HIDDEN if _SECRET_KEY.search(str(k)) else public_payload(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public_payload(v) for v in value]
    return value


def _job(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": row.channel,
        "state": row.state,
        "attempts": row.attempts,
        "created_at": to_json(row.created_at),
        "available_at": to_json(row.available_at),
        "sent_at": to_json(row.sent_at),
        "last_error": row.last_error,
        "entity": row.entity,
        "record_id": row.record_id,
        "payload": public_payload(row.payload),
    }


def list_jobs(ws: Any, actor: Actor, params: Mapping[str, str]) -> dict[str, Any]:
    """Outbox rows, newest first, filtered by state, channel, entity, record_id."""
    _require_admin(actor)
    unknown = set(params) - set(FILTERS)
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}; use {', '.join(FILTERS)}")
    o = st.outbox
    conditions = []
    if params.get("state"):
        if params["state"] not in STATES:
            raise BadRequest(f"state must be one of {', '.join(STATES)}")
        conditions.append(o.c.state == params["state"])
    for name in ("channel", "entity"):
        if params.get(name):
            conditions.append(o.c[name] == params[name])
    if params.get("record_id"):
        if not is_id(params["record_id"]):
            raise BadRequest("record_id must be a record id")
        conditions.append(o.c.record_id == params["record_id"])
    try:
        limit = int(params.get("limit", 100))
        offset = int(params.get("offset", 0))
        if not 1 <= limit <= 1000 or not 0 <= offset <= MAX_OFFSET:
            raise ValueError
    except ValueError:
        raise BadRequest(f"limit must be 1 to 1000 and offset 0 to {MAX_OFFSET}") from None
    with read_transaction(ws.db) as conn:
        rows = conn.execute(
            sa.select(o).where(*conditions).order_by(o.c.created_at.desc(), o.c.id.desc()).limit(limit).offset(offset)
        ).all()
    return {"data": [_job(r) for r in rows]}


def job_metrics(ws: Any, actor: Actor) -> dict[str, int]:
    """Rows per state: ``queued`` (pending), ``running``, ``sent``, ``failed``, ``discarded``."""
    _require_admin(actor)
    o = st.outbox
    with read_transaction(ws.db) as conn:
        counts: dict[str, int] = dict(conn.execute(sa.select(o.c.state, sa.func.count()).group_by(o.c.state)).all())
    return {
        "queued": counts.get("pending", 0),
        "running": counts.get("running", 0),
        "sent": counts.get("sent", 0),
        "failed": counts.get("failed", 0),
        "discarded": counts.get("discarded", 0),
    }


def _get(conn: Any, outbox_id: str) -> Any:
    o = st.outbox
    row = conn.execute(sa.select(o).where(o.c.id == outbox_id)).first() if is_id(outbox_id) else None
    if row is None:
        raise NotFound(f"There is no job {outbox_id!r}")
    return row


def _move(ws: Any, actor: Actor, outbox_id: str, allowed: tuple[str, ...], values: dict[str, Any], verb: str) -> Any:
    _require_admin(actor)
    o = st.outbox
    with write_transaction(ws.db) as conn:
        row = _get(conn, outbox_id)
        if row.state not in allowed:
            raise Conflict(f"Job {outbox_id} is {row.state}; only {' or '.join(allowed)} jobs can be {verb}")
        conn.execute(o.update().where(o.c.id == outbox_id).values(**values))
        return _get(conn, outbox_id)


def retry_job(ws: Any, actor: Actor, outbox_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """A failed row becomes pending, due now; its attempts are kept (one more try after the last)."""
    row = _move(ws, actor, outbox_id, ("failed",), {"state": "pending", "available_at": _now(now)}, "retried")
    ws.wake_jobs()
    return _job(row)


def discard_job(ws: Any, actor: Actor, outbox_id: str) -> dict[str, Any]:
    """A pending or failed row is dropped for good (kept, as ``discarded``, for the record)."""
    return _job(_move(ws, actor, outbox_id, ("pending", "failed"), {"state": "discarded"}, "discarded"))


def job_deliveries(ws: Any, actor: Actor, outbox_id: str) -> dict[str, Any]:
    """Every attempt of one row, oldest first: a failed one with its ``error``, a successful one
    with its channel's ``note`` (e-mail written to the log when no server is configured)."""
    _require_admin(actor)
    d = st.delivery
    with read_transaction(ws.db) as conn:
        _get(conn, outbox_id)
        rows = conn.execute(sa.select(d).where(d.c.outbox_id == outbox_id).order_by(d.c.at, d.c.id)).all()
    return {
        "data": [
            {
                "id": r.id,
                "at": to_json(r.at),
                "ok": bool(r.ok),
                "status_code": r.status_code,
                "error": None if r.ok else r.error,
                "note": r.error if r.ok else None,
                "duration_ms": r.duration_ms,
            }
            for r in rows
        ]
    }
