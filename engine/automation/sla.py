"""SLA clocks: due times in business time, pauses, and escalation levels, from ``sla/`` documents.

An SLA definition (``sla/NAME.yaml``, schema ``sla.json``) names an entity, its milestones
(``response``, ``resolution``: when each is done, optionally when it starts), its policies
(the first whose ``when`` holds applies: targets per priority, counted in a business
calendar) and its escalation levels. Calendars (``calendars/NAME.yaml``) compile into
``automation.calendars`` first.

Each (record, milestone) has a clock, a row of ``tessera_sla_clock``. Every instant of a
clock lies on its own business-time axis: ``offset`` into the clock is
``calendar.add(started_at, offset + paused_seconds)``. The due time (offset = target), the
``at: 75%`` levels (a share of the target), ``after: 30m`` (since the start) and
``after_breach: 2h`` (target + 2h) all move together when the clock pauses, resumes or its
target changes. One timer per running clock, ``sla:SLA:MILESTONE``, waits for its next
instant; when it fires the clock catches up (breach, then levels in order, each once) and
the timer moves on to the instant after. Met and paused clocks have no timer.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.automation.actions import ActionFailed, Step, Target, compile_actions, register, run_steps
from engine.automation.definitions import Definition, collect
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent
from engine.automation.values import Compiler
from engine.dsl import Env, Expression
from engine.dsl import nodes as n
from engine.dsl.business_time import BusinessCalendar
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage import system_tables as st

#: the values an SLA writes to its ``state_field`` (the enum must offer all of them)
STATES = ("on_track", "at_risk", "breached", "met", "paused")
#: the calendar of a policy that names none: elapsed time
ALWAYS = BusinessCalendar.always()
_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*%\s*$")
_CALENDAR_KEYS = ("timezone", "working_hours", "holidays", "holiday_country", "holiday_subdivision", "holiday_years")
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


# --- the compiled definitions --------------------------------------------------------------
@dataclass
class Milestone:
    name: str
    due_field: str | None
    start_when: Expression | None  # None: the clock starts when the SLA first applies
    done_when: Expression | None


@dataclass
class Policy:
    name: str
    when: Expression | None
    calendar: BusinessCalendar
    #: priority value (or ``default``) -> milestone -> target in business time
    targets: dict[str, dict[str, dt.timedelta]]

    def target(self, priority: Any, milestone: str) -> dt.timedelta | None:
        """The milestone's target at ``priority``, else the ``default`` one (None: not tracked)."""
        for key in (None if priority is None else str(priority), "default"):
            if key is not None and milestone in self.targets.get(key, {}):
                return self.targets[key][milestone]
        return None


@dataclass
class Level:
    name: str
    #: 1-based place in the ``escalation`` list: what ``level_field`` shows once reached
    position: int
    milestone: str
    share: float | None  # at: 75%
    after: dt.timedelta | None  # after: 30m (since the start)
    after_breach: dt.timedelta | None  # after_breach: 2h
    steps: list[Step]

    def offset(self, target: dt.timedelta) -> dt.timedelta:
        """Where the level sits on its clock's business-time axis."""
        if self.share is not None:
            return dt.timedelta(seconds=round(target.total_seconds() * self.share))
        if self.after_breach is not None:
            return target + self.after_breach
        return self.after or dt.timedelta()


@dataclass
class Sla:
    name: str
    entity: EntityDef
    priority_field: str | None
    state_field: str | None
    level_field: str | None
    policy_field: str | None
    pause_when: Expression | None
    milestones: list[Milestone]
    policies: list[Policy]
    levels: list[Level]
    #: fields this SLA writes: a write of only these is its own and changes nothing
    writes: frozenset[str] = frozenset()
    #: fields its conditions and priority read (None: they also read the time or the user)
    reads: frozenset[str] | None = None

    def concerns(self, event: Event) -> bool:
        """Could this write change a clock? (Most updates of a tracked record cannot.)"""
        if event.kind != "update":
            return True
        if not event.changed or event.changed <= self.writes:
            return False
        return self.reads is None or bool(self.reads & event.changed)

    def choose(self, env: Env) -> Policy | None:
        return next((p for p in self.policies if p.when is None or p.when.holds(env)), None)

    def calendar(self, clock: Clock) -> BusinessCalendar:
        policy = next((p for p in self.policies if p.name == clock.policy), None)
        return ALWAYS if policy is None else policy.calendar

    def next_level(self, milestone: str, after: int) -> Level | None:
        return next((lv for lv in self.levels if lv.milestone == milestone and lv.position > after), None)

    def timer(self, milestone: str) -> str:
        return f"sla:{self.name}:{milestone}"

    def source(self) -> str:
        return f"sla:{self.name}"


@dataclass
class SlaSet:
    by_entity: dict[str, list[Sla]] = field(default_factory=dict)
    by_name: dict[str, Sla] = field(default_factory=dict)


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


def load_clocks(conn: Any, entity: str, record_id: str) -> dict[str, Clock]:
    """Every clock of a record, by milestone (one primary-key range read)."""
    c = st.sla_clock
    rows = conn.execute(
        sa.select(*(c.c[k] for k in _CLOCK_COLUMNS)).where(c.c.entity == entity, c.c.record_id == record_id)
    )
    clocks = {}
    for row in rows:
        values = dict(row._mapping)
        clocks[row.milestone] = Clock(**values, stored=values)
    return clocks


def save_clock(conn: Any, entity: str, record_id: str, clock: Clock) -> bool:
    """Write the clock if it changed; True when it did."""
    values = clock.values()
    if values == clock.stored:
        return False
    c = st.sla_clock
    if clock.stored is None:
        conn.execute(c.insert(), {"entity": entity, "record_id": record_id, **values})
    else:
        changed = {k: v for k, v in values.items() if clock.stored[k] != v}
        key = (c.c.entity == entity, c.c.record_id == record_id, c.c.milestone == clock.milestone)
        conn.execute(c.update().where(*key).values(**changed))
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
        stored = {} if event.kind == "create" else load_clocks(run.conn, entity, record_id)
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
                    run.stop_timers(entity, record_id, name=sla.timer(milestone.name))
                continue
            done = milestone.done_when is not None and milestone.done_when.holds(env)
            if clock is None:
                if milestone.start_when is not None and not milestone.start_when.holds(env):
                    unstarted = unstarted or not done
                    continue
                clock = Clock(milestone.name, policy.name, now, int(target.total_seconds()))
                clock.met_at = now if done else None
                clock.paused_at = now if paused and not done else None
            else:
                _advance(clock, sla.calendar(clock), now, done, paused)
                clock.policy, clock.target_seconds = policy.name, int(target.total_seconds())
            clock.due_at = clock.at(policy.calendar, clock.target)
            new = clock.stored is None
            if (save_clock(run.conn, entity, record_id, clock) or rearm) and (clock.running or not new):
                _arm(run, sla, entity, record_id, clock)  # a new clock that is not running has no timer
            clocks[milestone.name] = clock
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
        clocks = _own(sla, load_clocks(run.conn, entity, record_id))
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
        _arm(run, sla, entity, record_id, clock)  # the timer fired: arm it for the next instant
        if reached or breached:
            self._reached(run, sla, Target(event.entity, record_id, event, sla.source()), clocks, reached, fresh)

    def escalate(self, run: Any, sla: Sla, target: Target, level_name: str | None = None) -> None:
        """Reach the record's next escalation level now (or the named one): the ``escalate`` action."""
        entity, record_id = target.entity.name, target.record_id
        record = target.record(run)
        clocks = _own(sla, load_clocks(run.conn, entity, record_id))
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


def _arm(run: Any, sla: Sla, entity: str, record_id: str, clock: Clock) -> None:
    """Point the clock's timer at its next instant, or cancel it (met, paused, nothing left)."""
    step = next_step(sla, clock) if clock.running else None
    if step is None:
        run.stop_timers(entity, record_id, name=sla.timer(clock.milestone))
    else:
        run.start_timer(entity, record_id, sla.timer(clock.milestone), step[0])


def _delete_clock(conn: Any, entity: str, record_id: str, milestone: str) -> None:
    c = st.sla_clock
    conn.execute(c.delete().where(c.c.entity == entity, c.c.record_id == record_id, c.c.milestone == milestone))


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


# --- compiling documents -------------------------------------------------------------------------
def compile_calendars(automation: Automation, catalog: Catalog, problems: Problems) -> set[str]:
    """``calendars/*.yaml`` into ``automation.calendars``; returns every name defined (valid or not)."""
    names = set()
    for definition in collect(catalog, "calendar", problems):
        names.add(definition.name)
        spec = {k: v for k, v in definition.data.items() if k in _CALENDAR_KEYS}
        try:
            automation.calendars[definition.name] = BusinessCalendar.from_spec(spec)
        except ValueError as exc:
            problems.add(definition.location(*_calendar_path(str(exc), spec)), f"calendar {definition.name}: {exc}")
    return names


def _calendar_path(message: str, spec: dict[str, Any]) -> tuple[Any, ...]:
    """Where in a calendar document a from_spec message points."""
    if match := re.match(r"working_hours\.(\w+)\[(\d+)\]", message):
        day = next((k for k in spec.get("working_hours", {}) if str(k).strip().lower() == match[1]), match[1])
        return ("working_hours", day, int(match[2]))
    if match := re.match(r"holidays\[(\d+)\]", message):
        return ("holidays", int(match[1]))
    if match := re.match(r"(\w+): ", message):  # "mon: 18:00-17:30 ends before it starts"
        day = next((k for k in spec.get("working_hours", {}) if str(k).strip().lower()[:3] == match[1]), None)
        if day is not None:
            return ("working_hours", day)
    if "time zone" in message or message.startswith("timezone"):
        return ("timezone",)
    for key in ("holiday_country", "holiday_subdivision", "holiday_years"):
        if key in message and key in spec:
            return (key,)
    return ("working_hours",)


def compile_sla(
    definition: Definition,
    catalog: Catalog,
    functions: FunctionRegistry,
    problems: Problems,
    automation: Automation,
    calendars: set[str],
) -> Sla | None:
    """One ``sla`` document, checked against the entity (problems at their file:line:col)."""
    data = definition.data
    c = Compiler(catalog, functions, problems, definition, automation)
    entity = c.entity(data["entity"], "entity")
    if entity is None:
        return None
    priority_field = _field(c, entity, data, "priority_field", ("enum",), writes=False)
    state_field = _field(c, entity, data, "state_field", ("enum",))
    if state_field is not None:
        missing = [s for s in STATES if s not in {o.value for o in entity.fields[state_field].enum_options}]
        if missing:
            c.fail(f"{entity.name}.{state_field} needs the options {', '.join(missing)}", "state_field")
    level_field = _field(c, entity, data, "level_field", ("int",))
    policy_field = _field(c, entity, data, "policy_field", ("string", "text"))
    milestones = _milestones(c, entity, data["milestones"])
    policies = _policies(c, entity, data["policies"], [m.name for m in milestones], priority_field, calendars)
    levels = _levels(c, entity, data.get("escalation", []), [m.name for m in milestones])
    pause_when = c.condition(data.get("pause_when"), entity, "pause_when", updates=False)
    writes = {f for f in (state_field, level_field, policy_field) if f} | {
        m.due_field for m in milestones if m.due_field
    }
    conditions = [pause_when, *(p.when for p in policies)]
    conditions += [e for m in milestones for e in (m.start_when, m.done_when)]
    reads = _fields_read(conditions)
    if reads is not None and priority_field:
        reads |= {priority_field}
    return Sla(
        definition.name,
        entity,
        priority_field,
        state_field,
        level_field,
        policy_field,
        pause_when,
        milestones,
        policies,
        levels,
        frozenset(writes),
        None if reads is None else frozenset(reads),
    )


def _milestones(c: Compiler, entity: EntityDef, items: list[dict[str, Any]]) -> list[Milestone]:
    """Milestones with their conditions (state conditions: no ``old``, as timers have no old record)."""
    milestones: list[Milestone] = []
    for i, raw in enumerate(items):
        if any(m.name == raw["name"] for m in milestones):
            c.fail(f"milestone {raw['name']!r} is defined twice", "milestones", i, "name")
            continue
        milestones.append(
            Milestone(
                raw["name"],
                _field(c, entity, raw, "due_field", ("datetime",), "milestones", i),
                c.condition(raw.get("start_when"), entity, "milestones", i, "start_when", updates=False),
                c.condition(raw["done_when"], entity, "milestones", i, "done_when", updates=False),
            )
        )
    return milestones


def _policies(
    c: Compiler,
    entity: EntityDef,
    items: list[dict[str, Any]],
    names: list[str],
    priority_field: str | None,
    calendars: set[str],
) -> list[Policy]:
    """Policies in order; targets checked against the priority values and milestones."""
    priorities = None
    if priority_field is not None:
        priorities = {o.value for o in entity.fields[priority_field].enum_options}
    policies: list[Policy] = []
    for i, raw in enumerate(items):
        if any(p.name == raw["name"] for p in policies):
            c.fail(f"policy {raw['name']!r} is defined twice", "policies", i, "name")
            continue
        calendar = ALWAYS
        if "calendar" in raw:
            found = c.automation.calendars.get(raw["calendar"])
            if found is not None:
                calendar = found
            elif raw["calendar"] not in calendars:  # a broken calendar is reported at its own file
                known = ", ".join(sorted(calendars)) or "none (add calendars/NAME.yaml)"
                c.fail(f"unknown calendar {raw['calendar']!r}; calendars: {known}", "policies", i, "calendar")
        targets: dict[str, dict[str, dt.timedelta]] = {}
        for key, per_milestone in raw["targets"].items():
            key = str(key)
            if key != "default" and (priorities is None or key not in priorities):
                choices = "default" if priorities is None else ", ".join([*sorted(priorities), "default"])
                c.fail(
                    f"targets are keyed by {priority_field or 'priority_field'} value: {choices}",
                    "policies",
                    i,
                    "targets",
                    key,
                )
                continue
            for name, duration in per_milestone.items():
                if name not in names:
                    c.fail(
                        f"unknown milestone {name!r}; milestones: {', '.join(names)}",
                        "policies",
                        i,
                        "targets",
                        key,
                        name,
                    )
                    continue
                targets.setdefault(key, {})[name] = c.duration(duration, "policies", i, "targets", key, name)
        when = c.condition(raw.get("when"), entity, "policies", i, "when", updates=False)
        policies.append(Policy(raw["name"], when, calendar, targets))
    return policies


def _levels(c: Compiler, entity: EntityDef, items: list[dict[str, Any]], names: list[str]) -> list[Level]:
    """Escalation levels, positioned 1.. in list order, with their compiled actions."""
    levels: list[Level] = []
    for i, raw in enumerate(items):
        where = ("escalation", i)
        if any(lv.name == raw["name"] for lv in levels):
            c.fail(f"escalation level {raw['name']!r} is defined twice", *where, "name")
            continue
        milestone = raw.get("milestone", names[0] if len(names) == 1 else None)
        if milestone not in names:
            c.fail(
                f"name the milestone this level watches: one of {', '.join(names)}",
                *where,
                "milestone" if "milestone" in raw else "name",
            )
            continue
        share = after = after_breach = None
        if "at" in raw:
            share = float(_PERCENT.match(raw["at"])[1]) / 100  # type: ignore[index]  # the schema checked it
        elif "after_breach" in raw:
            after_breach = c.duration(raw["after_breach"], *where, "after_breach")
        else:
            after = c.duration(raw["after"], *where, "after")
        steps = compile_actions(c, raw["do"], entity, *where, "do")
        levels.append(Level(raw["name"], i + 1, milestone, share, after, after_breach, steps))
    return levels


def _field(
    c: Compiler,
    entity: EntityDef,
    data: dict[str, Any],
    key: str,
    types: tuple[str, ...],
    *path: Any,
    writes: bool = True,
) -> str | None:
    """The field named by ``data[key]``, checked: it exists, has a fitting type, and the SLA may write it."""
    name = data.get(key)
    if name is None:
        return None
    fd = entity.fields.get(name)
    if fd is None:
        c.fail(f"{entity.name} has no field {name!r}", *path, key)
        return None
    if fd.type not in types:
        c.fail(f"{key} needs a field of type {' or '.join(types)}; {entity.name}.{name} is {fd.type}", *path, key)
        return None
    owner = c.automation.owned_fields.get(entity.name, {}).get(name) if writes else None
    if writes and (fd.is_computed or owner):
        c.fail(f"{entity.name}.{name} is {'computed' if owner is None else f'owned by workflow {owner!r}'}", *path, key)
        return None
    return str(name)


def _fields_read(conditions: list[Expression | None]) -> set[str] | None:
    """The record's fields the conditions read; None when they also read the time or the user."""
    found: set[str] = set()
    for condition in conditions:
        if condition is None:
            continue
        for node in n.walk(condition.tree):
            if isinstance(node, n.Call) and getattr(node.function, "contextual", False):
                return None
            if isinstance(node, n.Path):
                if node.root in ("user", "now", "today"):
                    return None
                if node.root == "record":
                    head = node.names[0] if node.head.startswith("$") and node.names else node.head
                    if not head.startswith("$"):
                        found.add(head)
    return found


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
