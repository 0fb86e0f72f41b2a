"""Plugin jobs, the ``enqueue`` action, and the job runners that do due work.

**Jobs** are named functions ``fn(ws, args)`` that plugins register with
:func:`register_job`. A rule queues one with the ``enqueue`` action; the job becomes an
outbox row of channel ``job`` (written in the rule's transaction), so it runs exactly when
the change committed, with the outbox's retries and failed list. A job may run again after a
crash (at least once): make it idempotent.

**Runners** do the due work of one workspace: fire due timers, run due scheduled rules,
deliver due outbox rows. The database is the source of truth for all three; a runner only
decides where deliveries execute:

- :class:`InProcessRunner` (embedded default, no Redis): a daemon thread in each web process
  (``tessera serve``/``demo``) or the foreground loop of ``tessera worker``; it delivers itself.
- :class:`RqRunner` (``TESSERA_REDIS_URL`` set): the scheduler loop of ``tessera worker``
  claims due rows and enqueues one RQ job per claimed attempt; RQ workers make the attempt.
  Retries and backoff stay in the database logic (:mod:`engine.automation.outbox`), so both
  runners behave the same.

Either loop sleeps until the earliest next timer, outbox row or schedule check (at most
``max_sleep``), and :meth:`JobRunner.wake` (called after a commit that queued work, through
``Workspace.wake_jobs``) wakes it at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.automation.actions import Step, Target, register
from engine.automation.channels import Delivery, register_channel
from engine.automation.outbox import (
    DEFAULT_POLICY,
    FAILED,
    RETRY,
    SENT,
    Claim,
    RetryPolicy,
    claim_due,
    deliver,
    dispatch,
    next_available,
)
from engine.automation.timers import fire_due, next_due
from engine.automation.values import Compiler, Value
from engine.meta.model import EntityDef
from engine.storage.codec import to_json

log = logging.getLogger("tessera.jobs")

# --- the job registry and the ``job`` channel ----------------------------------------

#: (workspace, args) -> None; raise to fail the attempt (it is retried with backoff)
JobFunction = Callable[[Any, dict[str, Any]], None]

JOBS: dict[str, JobFunction] = {}


def register_job(name: str, fn: JobFunction) -> None:
    """Make ``fn`` runnable as job ``name`` (``enqueue: {job: name}``); plugins call this."""
    JOBS[name] = fn


def log_job(ws: Any, args: dict[str, Any]) -> None:
    """The built-in ``log`` job: writes its arguments to the ``tessera.jobs`` log."""
    log.info("job log: %s", json.dumps(args, sort_keys=True, default=str))


def run_job(ws: Any, row: dict[str, Any]) -> Delivery:
    """The ``job`` channel: payload ``{"job": NAME, "args": {...}}`` calls the registered job."""
    payload = row.get("payload") or {}
    name = str(payload.get("job"))
    fn = JOBS.get(name)
    if fn is None:
        known = ", ".join(sorted(JOBS))
        return Delivery(False, error=f"unknown job {name!r}; registered jobs: {known}", retry=False)
    fn(ws, dict(payload.get("args") or {}))
    return Delivery(True)


register_job("log", log_job)
register_channel("job", run_job)


# --- the ``enqueue`` action ------------------------------------------------------------


class EnqueueAction:
    """``enqueue: {job: NAME, args: {name: value or '=expr'}, key: value or '=expr'}``.

    Queues a registered job with arguments evaluated against the trigger record. With
    ``key`` the job is queued once per rule, record and key value (``key: '=end_date'``
    queues one reminder per end date however often the rule runs)."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if not isinstance(spec, dict) or set(spec) - {"job", "args", "key"} or not isinstance(spec.get("job"), str):
            c.fail("enqueue takes job (a registered job's name), args (a mapping) and an optional key", *path)
            return None
        name = spec["job"]
        if name not in JOBS:
            c.fail(f"unknown job {name!r}; registered jobs: {', '.join(sorted(JOBS))}", *path, "job")
            return None
        raw_args = spec.get("args") or {}
        if not isinstance(raw_args, dict):
            c.fail("enqueue args take a mapping of names to values or '=expressions'", *path, "args")
            return None
        args = {str(k): c.value(v, entity, *path, "args", k) for k, v in raw_args.items()}
        key: Value | None = c.value(spec["key"], entity, *path, "key") if "key" in spec else None

        def run_enqueue(run: Any, target: Target) -> None:
            env = target.env(run)
            outbox_key = None
            if key is not None:
                outbox_key = _outbox_key(f"{target.source}:{target.entity.name}:{target.record_id}:{key(env)}")
            run.outbox(
                "job",
                {"job": name, "args": {k: _json_value(v(env)) for k, v in args.items()}},
                key=outbox_key,
                entity=target.entity.name,
                record_id=target.record_id,
            )

        return run_enqueue


def _outbox_key(text: str) -> str:
    return text if len(text) <= 255 else "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _json_value(value: Any) -> Any:
    """A DSL value as JSON: durations in seconds, exact decimals as strings, times in ISO 8601."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_value(v) for v in value]
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return str(value)
    return to_json(value)


register("enqueue", EnqueueAction())


# --- runners ---------------------------------------------------------------------------


@dataclass
class TickResult:
    """What one pass did."""

    timers: int = 0
    scheduled: int = 0
    #: outcome -> rows: sent, retry, failed, skipped (in process) or queued (RQ)
    outbox: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        o = self.outbox
        parts = [f"{o[SENT]} sent", f"{o[RETRY]} to retry", f"{o[FAILED]} failed"]
        if o["queued"]:
            parts.append(f"{o['queued']} queued")
        return f"timers fired: {self.timers}; scheduled rules run: {self.scheduled}; outbox: {', '.join(parts)}"


def run_schedules(ws: Any, now: dt.datetime) -> int:
    """Run due scheduled rules (when :mod:`engine.automation.schedules` provides ``run_due``)."""
    from engine.automation import schedules

    run_due = getattr(schedules, "run_due", None)
    if run_due is None:
        return 0
    ran = run_due(ws, now)
    return ran if isinstance(ran, int) else 0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobRunner:
    """The due work of one workspace; subclasses decide where deliveries execute."""

    def __init__(
        self,
        ws: Any,
        policy: RetryPolicy = DEFAULT_POLICY,
        clock: Callable[[], dt.datetime] | None = None,
        max_sleep: float = 1.0,
        limit: int = 100,
    ):
        self.ws, self.policy, self.max_sleep, self.limit = ws, policy, max_sleep, limit
        #: a fixed clock (tests, demos) also fixes the time deliveries are recorded at
        self.clock = clock or _utc_now
        self.schedule_every = dt.timedelta(minutes=1)
        #: passes made by :meth:`run_forever` (a sign of life for health checks and tests)
        self.passes = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def dispatch(self, now: dt.datetime, pinned: bool) -> Counter[str]:
        """Deliver (or hand on) the due outbox rows; ``pinned``: ``now`` is not the real time."""
        raise NotImplementedError

    def tick(self, now: dt.datetime | None = None) -> TickResult:
        """One pass as of ``now`` (default: the runner's clock): due timers, due scheduled
        rules, due outbox rows."""
        pinned = now is not None or self.clock is not _utc_now
        return self._pass(now or self.clock(), pinned, schedules=True)

    def _pass(self, now: dt.datetime, pinned: bool, schedules: bool) -> TickResult:
        result = TickResult(timers=fire_due(self.ws, now))
        if schedules:
            result.scheduled = run_schedules(self.ws, now)
        result.outbox = self.dispatch(now, pinned)
        return result

    def wake(self) -> None:
        """Do a pass now (new work was committed)."""
        self._wake.set()

    def run_forever(self) -> None:
        """Pass after pass until :meth:`stop`; a failing pass is logged and tried again."""
        self.ws.jobs_runner = self
        next_schedules: dt.datetime | None = None
        while not self._stop.is_set():
            self._wake.clear()  # a wake during the pass makes the next one start at once
            now = self.clock()
            try:
                run_schedules_now = next_schedules is None or now >= next_schedules
                self._pass(now, self.clock is not _utc_now, schedules=run_schedules_now)
                if run_schedules_now:
                    next_schedules = now + self.schedule_every
                delay = self._delay(now, next_schedules)
            except Exception:
                log.exception("job runner pass failed; trying again in %s s", self.max_sleep)
                delay = self.max_sleep
            self.passes += 1
            self._wake.wait(delay)

    def _delay(self, now: dt.datetime, next_schedules: dt.datetime | None) -> float:
        upcoming = [t for t in (next_schedules, next_due(self.ws), next_available(self.ws)) if t is not None]
        if not upcoming:
            return self.max_sleep
        return max(0.0, min(self.max_sleep, (min(upcoming) - now).total_seconds()))

    def start(self) -> JobRunner:
        """Run :meth:`run_forever` in a daemon thread (one per process and workspace)."""
        self.ws.jobs_runner = self
        self._thread = threading.Thread(target=self.run_forever, name=f"tessera-jobs-{self.ws.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if getattr(self.ws, "jobs_runner", None) is self:
            self.ws.jobs_runner = None


class InProcessRunner(JobRunner):
    """Delivers in this process (embedded mode: SQLite, no Redis)."""

    def dispatch(self, now: dt.datetime, pinned: bool) -> Counter[str]:
        # on the real clock each claim and outcome takes the time it happens at
        return dispatch(self.ws, now if pinned else None, self.limit, self.policy)


#: queue name -> (workspace, policy) served by this process. RQ finds a job's function by
#: its import path, so the job names its queue and the worker process finds its workspace here.
_QUEUES: dict[str, tuple[Any, RetryPolicy]] = {}


class RqRunner(JobRunner):
    """Claims due rows and enqueues one RQ job per claimed attempt (``TESSERA_REDIS_URL``)."""

    def __init__(self, ws: Any, redis_url: str, queue_name: str = "tessera", **options: Any):
        super().__init__(ws, **options)
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(queue_name, connection=self.redis)
        _QUEUES[queue_name] = (ws, self.policy)

    def dispatch(self, now: dt.datetime, pinned: bool) -> Counter[str]:
        claims = claim_due(self.ws, now, self.limit, self.policy)
        for claim in claims:
            self.queue.enqueue(
                deliver_queued,
                self.queue.name,
                claim.outbox_id,
                claim.attempt,
                now.isoformat() if pinned else None,
                job_id=f"tessera-{claim.outbox_id}-{claim.attempt}",
                result_ttl=0,
                failure_ttl=7 * 24 * 3600,
                description=f"deliver outbox {claim.outbox_id} (attempt {claim.attempt})",
            )
        return Counter({"queued": len(claims)})

    def worker(self) -> Any:
        """An RQ worker on this runner's queue, running jobs in this process (no fork: the
        workspace's connection pool is not shared across processes)."""
        return _quick_stop_worker()([self.queue], connection=self.redis)

    def close(self) -> None:
        self.stop()
        if _QUEUES.get(self.queue.name, (None,))[0] is self.ws:
            del _QUEUES[self.queue.name]
        self.redis.close()


@functools.cache
def _quick_stop_worker() -> type:
    """rq's ``SimpleWorker`` whose command listener (a thread waiting on Redis pub/sub for
    "stop" and "shutdown") wakes each second, not each minute. rq ends a worker by
    unsubscribing, then stopping that thread; since redis-py 8.2, stopping waits for the
    thread's current wait to end, and when the thread read the unsubscribe reply before the
    stop, that wait was rq's full 60 s: a burst's end or a shutdown took a minute."""
    from rq import SimpleWorker

    class QuickStopWorker(SimpleWorker):
        def subscribe(self) -> None:
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # rq types it None
                sleep_time=1, daemon=True, exception_handler=self._pubsub_exception_handler
            )

    return QuickStopWorker


def deliver_queued(queue_name: str, outbox_id: str, attempt: int, now: str | None = None) -> str:
    """The RQ job: make one claimed delivery attempt in the worker process."""
    served = _QUEUES.get(queue_name)
    if served is None:
        raise RuntimeError(f"this worker serves no workspace on queue {queue_name!r}")
    ws, policy = served
    return deliver(ws, Claim(outbox_id, attempt), dt.datetime.fromisoformat(now) if now else None, policy)


def make_runner(ws: Any, **options: Any) -> JobRunner:
    """The runner the configuration asks for: RQ with ``redis_url``, else in-process."""
    if ws.config.redis_url:
        return RqRunner(ws, ws.config.redis_url, **options)
    return InProcessRunner(ws, **options)


def start_in_process(ws: Any, **options: Any) -> InProcessRunner | None:
    """Start the embedded runner thread, unless Redis is configured (``tessera worker`` runs jobs then)."""
    if ws.config.redis_url:
        return None
    runner = InProcessRunner(ws, **options)
    runner.start()
    return runner


def run_worker(
    ws: Any, queue_name: str = "tessera", burst: bool = False, now: dt.datetime | None = None
) -> TickResult | None:
    """``tessera worker``: with Redis, the scheduler loop (a thread) and an RQ worker (this
    thread, which handles the stop signals); without, the in-process loop in the foreground.
    ``burst``: one pass (as of ``now``, default the real time), then work off the queue and
    return what the pass did."""
    if not ws.config.redis_url:
        runner: JobRunner = InProcessRunner(ws)
        if burst:
            return runner.tick(now)
        try:
            runner.run_forever()
        except KeyboardInterrupt:
            runner.stop()
        return None
    rq_runner = RqRunner(ws, ws.config.redis_url, queue_name)
    try:
        if burst:
            result = rq_runner.tick(now)
            rq_runner.worker().work(burst=True)
            return result
        rq_runner.start()
        rq_runner.worker().work()
        return None
    finally:
        rq_runner.close()
