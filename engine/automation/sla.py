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

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.automation.actions import ActionFailed, Step, Target, register, run_steps
from engine.automation.definitions import collect
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent
from engine.automation.sla_clocks import (
    Clock,
    delete_clock,
    load_clocks,
    load_clocks_of,
    next_step,
    save_clock,
    state_of,
)
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

__all__ = ["STATES", "Clock", "Level", "Milestone", "Policy", "Sla", "SlaSet", "load_clocks", "next_step", "state_of"]


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
    def before_create(self, run: Any, entity: EntityDef, record_id: str, values: dict[str, Any]) -> None:
        """A new record carries its due times, policy and state from the start (one write)."""
        for sla in run.automation.parts[self.name].by_entity.get(entity.name, ()):
            self._plan_ahead(run, sla, entity, record_id, values, None, values, {})

    def before_update(
        self, run: Any, entity: EntityDef, record_id: str, current: dict[str, Any], values: dict[str, Any], owner: str
    ) -> None:
        """Add the SLA's fields to the change that moves them (a raised priority, a pause).

        The due times and state are then written with that change, in one write and one
        history entry, instead of a second write after it; :meth:`sync` still keeps the
        clocks once the change is written, and writes what it alone can see (a field that a
        formula derives from this change, say)."""
        slas = run.automation.parts[self.name].by_entity.get(entity.name)
        if not slas:
            return
        changed = {k for k, v in values.items() if k not in current or current[k] != v}
        record = {**current, **values}
        for sla in slas:
            if not changed or changed <= sla.writes or (sla.reads is not None and not sla.reads & changed):
                continue
            self._plan_ahead(
                run, sla, entity, record_id, record, current, values, self._clocks(run, entity.name, record_id)
            )

    def _plan_ahead(
        self,
        run: Any,
        sla: Sla,
        entity: EntityDef,
        record_id: str,
        record: dict[str, Any],
        old: dict[str, Any] | None,
        values: dict[str, Any],
        stored: dict[str, Clock],
    ) -> None:
        """Plan the clocks for the record about to be written, add the SLA's fields to
        ``values``, and keep the plan for :meth:`sync` with what it was made from."""
        plan = _plan(sla, run.env(entity, record, old), record, stored, run.now)
        values.update({k: v for k, v in plan.values.items() if record.get(k) != v})
        if sla.reads is not None:
            inputs = ({k: record.get(k) for k in sla.reads}, _rows(stored))
            run.memo[(self.name, sla.name, entity.name, record_id)] = (inputs, plan)

    def sync(self, run: Any, sla: Sla, event: Event, rearm: bool = False) -> None:
        """Bring the record's clocks in line with the record after a write."""
        record = event.new if run.writes == event.writes and event.new else run.fetch(event.entity, event.record_id)
        if record is None:
            return
        entity, record_id = event.entity.name, event.record_id
        stored = self._clocks(run, entity, record_id, new=event.kind == "create")
        plan = self._planned(run, sla, event, record, stored)
        if plan is None:
            plan = _plan(sla, run.env(event.entity, record, event.old), record, stored, run.now)
        for name in plan.dropped:  # no longer tracked: forget the clock
            delete_clock(run.conn, entity, record_id, name)
            del stored[name]
            run.stop_timers(entity, record_id, name=sla.timer(name))
        for name, clock in plan.clocks.items():
            before = clock.stored
            if (save_clock(run.conn, entity, record_id, clock) or rearm) and (clock.running or before is not None):
                _arm(run, sla, entity, record_id, clock, before)  # a new clock that is not running has no timer
            stored[name] = clock
        _write(run, sla, event.entity, record_id, record, plan.values)

    def _planned(
        self, run: Any, sla: Sla, event: Event, record: dict[str, Any], stored: dict[str, Clock]
    ) -> _Plan | None:
        """The plan :meth:`before_create` or :meth:`before_update` made for this write, if the
        record as written and its clocks are still what it was made from (a plan depends on
        nothing else in a run)."""
        kept = run.memo.pop((self.name, sla.name, event.entity.name, event.record_id), None)
        if kept is None or event.kind not in ("create", "update") or sla.reads is None:
            return None
        (fields, clocks), plan = kept
        if any(record.get(k) != v for k, v in fields.items()) or clocks != _rows(stored):
            return None
        return plan

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


@dataclass
class _Plan:
    """What the record's values make of its clocks (computed; nothing is written)."""

    clocks: dict[str, Clock] = field(default_factory=dict)  # by milestone: new clocks and changed copies
    dropped: list[str] = field(default_factory=list)  # milestones whose clock goes (no target any more)
    values: dict[str, Any] = field(default_factory=dict)  # the SLA's fields on the record


def _plan(sla: Sla, env: Any, record: dict[str, Any], stored: dict[str, Clock], now: dt.datetime) -> _Plan:
    """Start, pause, resume, meet or recalculate each milestone's clock for the record as it is."""
    now = now.replace(microsecond=0)
    plan = _Plan()
    policy = sla.choose(env)
    paused = sla.pause_when is not None and sla.pause_when.holds(env)
    priority = record.get(sla.priority_field) if sla.priority_field else None
    unstarted = False
    for milestone in sla.milestones:
        clock = stored.get(milestone.name)
        target = None if policy is None else policy.target(priority, milestone.name)
        if policy is None or target is None:
            if clock is not None:
                plan.dropped.append(milestone.name)
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
            clock = dataclasses.replace(clock)  # the stored one stays as stored until saved
            _advance(clock, sla.calendar(clock), now, done, paused)
            clock.policy, clock.target_seconds = policy.name, int(target.total_seconds())
        clock.due_at = clock.at(policy.calendar, clock.target)
        plan.clocks[milestone.name] = clock
    if sla.policy_field:
        plan.values[sla.policy_field] = None if policy is None else policy.name
    for milestone in sla.milestones:
        if milestone.due_field:
            found = plan.clocks.get(milestone.name)
            plan.values[milestone.due_field] = None if found is None else found.due_at
    if sla.state_field:
        plan.values[sla.state_field] = state_of(list(plan.clocks.values()), unstarted)
    return plan


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


def _rows(clocks: dict[str, Clock]) -> dict[str, dict[str, Any]]:
    return {name: clock.values() for name, clock in clocks.items()}


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
