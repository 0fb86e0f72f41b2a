"""SLA clocks: due times in business time, pauses, and escalation levels, from ``sla/`` documents.

The definitions (milestones, policies, levels, calendars) compile in
:mod:`engine.automation.sla_definitions`; this module runs them.

Each (record, milestone) has a clock, a row of ``tessera_sla_clock``. Every instant of a
clock lies on its own business-time axis: ``offset`` into the clock is
``calendar.add(started_at, offset + paused_seconds)``. The due time (offset = target), the
``at: 75%`` levels (a share of the target), ``after: 30m`` (since the start) and
``after_breach: 2h`` (target + 2h) all move together when the clock pauses, resumes or its
target changes. One timer per running clock, ``sla:SLA:MILESTONE``, waits for its next
instant; when it fires the clock catches up (breach, then levels in order, each once) and
the timer moves on to the instant after. Met and paused clocks have no timer, nor has a
running clock with nothing left to reach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.automation.actions import ActionFailed, Step, Target, register, run_steps
from engine.automation.definitions import collect
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent
from engine.automation.sla_definitions import (
    STATES,
    Level,
    Milestone,
    Policy,
    Sla,
    SlaSet,
    compile_calendars,
    compile_sla,
)
from engine.automation.timers import DueTimer, TimerRun
from engine.automation.values import Compiler
from engine.dsl.business_time import BusinessCalendar
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage import system_tables as st
from engine.storage.write_batch import defer, flush_writes

__all__ = ["STATES", "Clock", "Level", "Milestone", "Policy", "Sla", "SlaSet", "load_clocks", "next_step", "state_of"]

_CLOCK_COLUMNS = (
    "milestone",
    "policy",
    "started_at",
    "target_seconds",
    "due_at",
    "paused_at",
    "paused_seconds",
    "met_at",
    "breached_at",
    "level",
)


# --- clocks ----------------------------------------------------------------------------------
@dataclass
class Clock:
    """One milestone's clock of one record (a ``tessera_sla_clock`` row)."""

    milestone: str
    policy: str
    started_at: dt.datetime
    target_seconds: int
    due_at: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    paused_seconds: int = 0  # business seconds paused (or met, then reopened) so far
    met_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    level: int = 0  # position of the highest escalation level reached on this clock
    #: the row as last read or written (None: not stored yet)
    stored: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def running(self) -> bool:
        return self.met_at is None and self.paused_at is None

    @property
    def target(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.target_seconds)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _CLOCK_COLUMNS}

    def at(self, calendar: BusinessCalendar, offset: dt.timedelta) -> dt.datetime:
        """The instant ``offset`` of business time into this clock (pauses excluded)."""
        return calendar.add(self.started_at, offset + dt.timedelta(seconds=self.paused_seconds))

    def resume(self, calendar: BusinessCalendar, since: dt.datetime, now: dt.datetime) -> None:
        """Stop counting from ``since`` (paused or met) to ``now``: due times move by that much."""
        self.paused_seconds += int(calendar.between(since, now).total_seconds())
        self.paused_at = None


_c = st.sla_clock
_LOAD = sa.select(*(_c.c[k] for k in _CLOCK_COLUMNS)).where(
    _c.c.entity == sa.bindparam("entity"), _c.c.record_id == sa.bindparam("record_id")
)
_LOAD_MANY = sa.select(_c.c.record_id, *(_c.c[k] for k in _CLOCK_COLUMNS)).where(
    _c.c.entity == sa.bindparam("entity"), _c.c.record_id.in_(sa.bindparam("ids", expanding=True))
)
#: one statement for every change of a clock (the same text each time: prepared once)
_SAVE = (
    _c.update()
    .where(
        _c.c.entity == sa.bindparam("k_entity"),
        _c.c.record_id == sa.bindparam("k_record_id"),
        _c.c.milestone == sa.bindparam("k_milestone"),
    )
    .values({k: sa.bindparam(f"v_{k}") for k in _CLOCK_COLUMNS if k != "milestone"})
)


def load_clocks(conn: Any, entity: str, record_id: str) -> dict[str, Clock]:
    """Every clock of a record, by milestone (one primary-key range read)."""
    clocks = {}
    flush_writes(conn)  # clock writes may wait for the end of a batch
    for row in conn.execute(_LOAD, {"entity": entity, "record_id": record_id}):
        values = dict(row._mapping)
        clocks[row.milestone] = Clock(**values, stored=values)
    return clocks


def load_clocks_of(conn: Any, entity: str, record_ids: Sequence[str]) -> dict[str, dict[str, Clock]]:
    """Every clock of many records of one entity (one query): record id -> milestone -> clock."""
    found: dict[str, dict[str, Clock]] = {record_id: {} for record_id in record_ids}
    flush_writes(conn)
    for row in conn.execute(_LOAD_MANY, {"entity": entity, "ids": sorted(found)}):
        values = dict(row._mapping)
        del values["record_id"]
        found[row.record_id][row.milestone] = Clock(**values, stored=values)
    return found


def save_clock(conn: Any, entity: str, record_id: str, clock: Clock) -> bool:
    """Write the clock if it changed; True when it did."""
    values = clock.values()
    if values == clock.stored:
        return False
    if clock.stored is None:
        flush_writes(conn)  # kept writes first: they may be of an earlier clock of this key
        conn.execute(_c.insert(), {"entity": entity, "record_id": record_id, **values})
    else:  # may wait for the end of a batch (engine.storage.write_batch)
        key = {"k_entity": entity, "k_record_id": record_id, "k_milestone": clock.milestone}
        defer(conn, _SAVE, key | {f"v_{k}": v for k, v in values.items() if k != "milestone"})
    clock.stored = values
    return True


def next_step(sla: Sla, clock: Clock) -> tuple[dt.datetime, Level | None] | None:
    """The clock's next instant: its breach (level None) or its next escalation level."""
    calendar = sla.calendar(clock)
    steps: list[tuple[dt.datetime, int, Level | None]] = []
    if clock.breached_at is None:
        steps.append((clock.at(calendar, clock.target), 0, None))
    level = sla.next_level(clock.milestone, clock.level)
    if level is not None:
        steps.append((clock.at(calendar, level.offset(clock.target)), 1, level))
    if not steps:
        return None
    instant, _, found = min(steps, key=lambda s: (s[0], s[1]))
    return instant, found


def state_of(clocks: list[Clock], unstarted: bool = False) -> str | None:
    """The record's SLA state over its clocks: a breach stays; met when every clock is."""
    if not clocks:
        return None
    if any(c.breached_at is not None for c in clocks):
        return "breached"
    running = [c for c in clocks if c.met_at is None]
    if not running and not unstarted:
        return "met"
    if any(c.paused_at is not None for c in running):
        return "paused"
    return "at_risk" if any(c.level for c in running) else "on_track"


# --- the component -----------------------------------------------------------------------------
class SlaComponent(BaseComponent):
    name = "sla"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        defined = compile_calendars(automation, catalog, problems)
        slas = SlaSet()
        tracked: dict[tuple[str, str], str] = {}  # (entity, milestone) -> SLA: the clock's key
        for definition in collect(catalog, "sla", problems):
            sla = compile_sla(definition, catalog, functions, problems, automation, defined)
            if sla is None:
                continue
            for i, milestone in enumerate(sla.milestones):
                other = tracked.setdefault((sla.entity.name, milestone.name), sla.name)
                if other != sla.name:
                    problems.add(
                        definition.location("milestones", i, "name"),
                        f"SLA {other!r} already tracks the milestone {milestone.name!r} of {sla.entity.name}",
                    )
            slas.by_entity.setdefault(sla.entity.name, []).append(sla)
            slas.by_name[sla.name] = sla
            automation.listening.add(sla.entity.name)
        automation.parts[self.name] = slas

    def on_timers(self, run: Any, entity: EntityDef, timers: Sequence[DueTimer]) -> None:
        """Load the clocks of every record with an SLA timer in the batch, in one query."""
        ids = [t.record_id for t in timers if t.name.startswith("sla:")]
        if ids and run.automation.parts[self.name].by_entity.get(entity.name):
            cache = run.prepared.setdefault(self.name, {})
            for record_id, clocks in load_clocks_of(run.conn, entity.name, ids).items():
                cache.setdefault((entity.name, record_id), clocks)

    def on_event(self, run: Any, event: Event) -> None:
        slas = run.automation.parts[self.name].by_entity.get(event.entity.name)
        if not slas:
            return
        if event.kind == "timer":
            if event.name and event.name.startswith("sla:"):
                self.on_timer(run, event)
            return
        for sla in slas:
            if event.kind == "delete":
                run.stop_timers(event.entity.name, event.record_id, prefix=f"sla:{sla.name}:")
            elif event.kind in ("create", "update", "restore") and sla.concerns(event):
                if run.guard(sla.source(), event):
                    self.sync(run, sla, event, rearm=event.kind == "restore")

    # --- writes: start, pause, resume, meet, recalculate ------------------------------------------
    def sync(self, run: Any, sla: Sla, event: Event, rearm: bool = False) -> None:
        """Bring the record's clocks in line with the record after a write."""
        record = event.new if run.writes == event.writes and event.new else run.fetch(event.entity, event.record_id)
        if record is None:
            return
        entity, record_id = event.entity.name, event.record_id
        env = run.env(event.entity, record, event.old)
        policy = sla.choose(env)
        stored = self._clocks(run, entity, record_id, new=event.kind == "create")
        paused = sla.pause_when is not None and sla.pause_when.holds(env)
        priority = record.get(sla.priority_field) if sla.priority_field else None
        now = run.now.replace(microsecond=0)
        clocks: dict[str, Clock] = {}
        unstarted = False
        for milestone in sla.milestones:
            clock = stored.get(milestone.name)
            target = None if policy is None else policy.target(priority, milestone.name)
            if policy is None or target is None:  # no longer tracked: forget the clock
                if clock is not None:
                    _delete_clock(run.conn, entity, record_id, milestone.name)
                    del stored[milestone.name]
                    run.stop_timers(entity, record_id, name=sla.timer(milestone.name))
                continue
            done = milestone.done_when is not None and milestone.done_when.holds(env)
            if clock is None:
                if milestone.start_when is not None and not milestone.start_when.holds(env):
                    unstarted = unstarted or not done
                    continue
                started = _started(sla, milestone, record, now)
                clock = Clock(milestone.name, policy.name, started, int(target.total_seconds()))
                clock.met_at = now if done else None
                clock.paused_at = now if paused and not done else None
            else:
                _advance(clock, sla.calendar(clock), now, done, paused)
                clock.policy, clock.target_seconds = policy.name, int(target.total_seconds())
            clock.due_at = clock.at(policy.calendar, clock.target)
            before = clock.stored
            if (save_clock(run.conn, entity, record_id, clock) or rearm) and (clock.running or before is not None):
                _arm(run, sla, entity, record_id, clock, before)  # a new clock that is not running has no timer
            clocks[milestone.name] = stored[milestone.name] = clock
        values: dict[str, Any] = {}
        if sla.policy_field:
            values[sla.policy_field] = None if policy is None else policy.name
        for milestone in sla.milestones:
            if milestone.due_field:
                clock = clocks.get(milestone.name)
                values[milestone.due_field] = None if clock is None else clock.due_at
        if sla.state_field:
            values[sla.state_field] = state_of(list(clocks.values()), unstarted)
        _write(run, sla, event.entity, record_id, record, values)

    # --- timers: breach and escalation levels --------------------------------------------------
    def on_timer(self, run: Any, event: Event) -> None:
        """A clock's timer fell due: record the breach and reach the levels now due, in order."""
        # sla:SLA:MILESTONE (a level suffix, sla:SLA:MILESTONE:LEVEL, is read the same way)
        parts = (event.name or "").split(":")
        sla = run.automation.parts[self.name].by_name.get(parts[1]) if len(parts) >= 3 else None
        if sla is None or sla.entity.name != event.entity.name:
            return
        entity, record_id = event.entity.name, event.record_id
        fresh = event.new if run.writes == event.writes else None  # the record as the timer found it
        clocks = _own(sla, self._clocks(run, entity, record_id))
        clock = clocks.get(parts[2])
        if clock is None or not clock.running:  # met or paused since: nothing to do
            return
        reached: list[Level] = []
        breached = False
        for _ in range(len(sla.levels) + 1):  # each step is taken once: the breach, then levels in order
            step = next_step(sla, clock)
            if step is None or step[0] > run.now:
                break
            instant, level = step
            if level is None:
                clock.breached_at, breached = instant, True
            else:
                clock.level = level.position
                reached.append(level)
        save_clock(run.conn, entity, record_id, clock)
        # the timer fired (it is no longer pending): arm it for the next instant, if any
        _arm(run, sla, entity, record_id, clock, fired=event.name == sla.timer(clock.milestone))
        if reached or breached:
            self._reached(run, sla, Target(event.entity, record_id, event, sla.source()), clocks, reached, fresh)

    def escalate(self, run: Any, sla: Sla, target: Target, level_name: str | None = None) -> None:
        """Reach the record's next escalation level now (or the named one): the ``escalate`` action."""
        entity, record_id = target.entity.name, target.record_id
        record = target.record(run)
        clocks = _own(sla, self._clocks(run, entity, record_id))
        current = max([c.level for c in clocks.values()] + [_level_of(sla, record)])
        if level_name is not None:
            level = next((lv for lv in sla.levels if lv.name == level_name), None)
        else:
            level = next((lv for lv in sla.levels if lv.position > current), None)
        if level is None:  # already at the last level
            return
        clock = clocks.get(level.milestone)
        if clock is not None and clock.level < level.position:
            clock.level = level.position
            if save_clock(run.conn, entity, record_id, clock) and clock.running:
                _arm(run, sla, entity, record_id, clock)
        self._reached(run, sla, Target(target.entity, record_id, target.event, sla.source()), clocks, [level], record)

    def _reached(
        self,
        run: Any,
        sla: Sla,
        target: Target,
        clocks: dict[str, Clock],
        levels: list[Level],
        record: dict[str, Any] | None = None,
    ) -> None:
        """Show the new state and level on the record, then run the levels' actions in order."""
        record = record if record is not None else target.record(run)
        values: dict[str, Any] = {}
        if sla.state_field:
            values[sla.state_field] = state_of(list(clocks.values()))
        if sla.level_field and levels:
            values[sla.level_field] = max(_level_of(sla, record), *(lv.position for lv in levels))
        _write(run, sla, target.entity, target.record_id, record, values)
        for level in levels:
            run_steps(run, level.steps, target)

    def _clocks(self, run: Any, entity: str, record_id: str, new: bool = False) -> dict[str, Clock]:
        """Every clock of the record, by milestone (``new``: a record just created has none).

        While a batch of timers fires they are cached for its run (loaded for the whole batch
        at once): every clock write is this component's, and each updates the clocks it got
        here (``save_clock`` the objects, ``sync`` the dict), so the cache stays what the
        database holds. A timer that fails empties the cache (its savepoint is rolled back)."""
        cache = run.prepared.setdefault(self.name, {}) if isinstance(run, TimerRun) else None
        if cache is None:
            return {} if new else load_clocks(run.conn, entity, record_id)
        key = (entity, record_id)
        if new or key not in cache:
            cache[key] = {} if new else load_clocks(run.conn, entity, record_id)
        clocks: dict[str, Clock] = cache[key]
        return clocks


def _advance(clock: Clock, calendar: BusinessCalendar, now: dt.datetime, done: bool, paused: bool) -> None:
    """Pause, resume, meet or reopen a clock after a write."""
    if clock.met_at is not None:
        if not done:  # reopened: the time it stood met does not count, like a pause
            clock.resume(calendar, clock.met_at, now)
            clock.met_at = None
            clock.paused_at = now if paused else None
    elif done:
        if clock.paused_at is not None:
            clock.resume(calendar, clock.paused_at, now)
        clock.met_at = now
    elif paused and clock.paused_at is None:
        clock.paused_at = now
    elif not paused and clock.paused_at is not None:
        clock.resume(calendar, clock.paused_at, now)


def _arm(
    run: Any,
    sla: Sla,
    entity: str,
    record_id: str,
    clock: Clock,
    before: dict[str, Any] | None = None,
    fired: bool = False,
) -> None:
    """Point the clock's timer at its next instant, or cancel it (met, paused, nothing left).

    A timer that cannot be pending is left alone: the one that just ``fired``, or that of a
    clock which, as stored ``before`` this change, had none (not running, or nothing left)."""
    step = next_step(sla, clock) if clock.running else None
    if step is not None:
        run.start_timer(entity, record_id, sla.timer(clock.milestone), step[0])
    elif not fired and (before is None or _had_timer(sla, before)):
        run.stop_timers(entity, record_id, name=sla.timer(clock.milestone))


def _had_timer(sla: Sla, stored: dict[str, Any]) -> bool:
    clock = Clock(**stored)
    return clock.running and next_step(sla, clock) is not None


def _started(sla: Sla, milestone: Milestone, record: dict[str, Any], now: dt.datetime) -> dt.datetime:
    """When a new clock starts: now, or the record's ``start_field`` when it is earlier (a case
    opened in another system, imported later); a milestone with ``start_when`` starts now."""
    value = record.get(sla.start_field) if sla.start_field and milestone.start_when is None else None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        return now
    value = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).replace(microsecond=0)
    return min(value, now)


def _delete_clock(conn: Any, entity: str, record_id: str, milestone: str) -> None:
    flush_writes(conn)
    conn.execute(_c.delete().where(_c.c.entity == entity, _c.c.record_id == record_id, _c.c.milestone == milestone))


def _own(sla: Sla, clocks: dict[str, Clock]) -> dict[str, Clock]:
    names = {m.name for m in sla.milestones}
    return {k: v for k, v in clocks.items() if k in names}


def _level_of(sla: Sla, record: dict[str, Any]) -> int:
    return int(record.get(sla.level_field) or 0) if sla.level_field else 0


def _write(
    run: Any, sla: Sla, entity: EntityDef, record_id: str, record: dict[str, Any], values: dict[str, Any]
) -> None:
    changed = {k: v for k, v in values.items() if record.get(k) != v}
    if changed:
        run.update(entity, record_id, changed, sla.source())


# --- the escalate action ---------------------------------------------------------------------------
class EscalateAction:
    """``escalate: {}`` reaches the record's next escalation level now (a manual escalation);
    ``{level: NAME}`` reaches the named one; ``sla: NAME`` picks the SLA when the entity has
    several. The level's actions run and ``level_field`` shows it, as when its time comes."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        spec = {} if spec is None else spec
        if not isinstance(spec, dict) or set(spec) - {"sla", "level"}:
            c.fail("escalate takes an optional sla and level: {escalate: {level: manager}}", *path)
            return None
        # read the documents, not the compiled SLAs: workflows compile before the SLA component
        found = [d for d in collect(c.catalog, "sla", Problems()) if d.data.get("entity") == entity.name]
        if "sla" in spec:
            found = [d for d in found if d.name == spec["sla"]]
            if not found:
                c.fail(f"no SLA {spec['sla']!r} tracks {entity.name}", *path, "sla")
                return None
        elif len(found) != 1:
            named = ", ".join(sorted(d.name for d in found))
            c.fail(
                f"{entity.name} has several SLAs ({named}): name one with sla"
                if found
                else f"no SLA tracks {entity.name}",
                *path,
            )
            return None
        sla_name, level = found[0].name, spec.get("level")
        if level is not None and level not in [lv.get("name") for lv in found[0].data.get("escalation", [])]:
            c.fail(f"SLA {sla_name!r} has no escalation level {level!r}", *path, "level")
            return None

        def run_escalate(run: Any, target: Target) -> None:
            sla = run.automation.parts[COMPONENT.name].by_name.get(sla_name)
            if sla is None:
                raise ActionFailed(f"The SLA {sla_name!r} is not in force")
            COMPONENT.escalate(run, sla, target, level)

        return run_escalate


COMPONENT = SlaComponent()
register("escalate", EscalateAction())
