"""SLA documents compiled: definitions (milestones, policies, escalation levels) and calendars.

``sla/NAME.yaml`` (schema ``sla.json``) names an entity, its milestones, its policies (the
first whose ``when`` holds applies: targets per priority, counted in a business calendar)
and its escalation levels; ``calendars/NAME.yaml`` compile into ``automation.calendars``
first. Every problem is reported at its file:line:col. The clocks that run on these
definitions are in :mod:`engine.automation.sla`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.automation.actions import Step, compile_actions
from engine.automation.definitions import Definition, collect
from engine.automation.events import Event
from engine.automation.model import Automation
from engine.automation.values import Compiler
from engine.dsl import Env, Expression
from engine.dsl import nodes as n
from engine.dsl.business_time import BusinessCalendar
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems

if TYPE_CHECKING:
    from engine.automation.sla_clocks import Clock


#: the values an SLA writes to its ``state_field`` (the enum must offer all of them)
STATES = ("on_track", "at_risk", "breached", "met", "paused")
#: the calendar of a policy that names none: elapsed time
ALWAYS = BusinessCalendar.always()
_PERCENT = re.compile(r"^\s*(\d{1,3}(?:\.\d+)?)\s*%\s*$")
_CALENDAR_KEYS = ("timezone", "working_hours", "holidays", "holiday_country", "holiday_subdivision", "holiday_years")


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
    #: a datetime field giving when the record's clocks started (imported or backdated records)
    start_field: str | None = None

    def concerns(self, event: Event) -> bool:
        """Could this write change a clock? (Most updates of a tracked record cannot.)"""
        if event.kind != "update":
            return True
        if not event.changed or event.changed <= self.writes:
            return False
        return self.reads is None or bool(self.reads & event.changed)

    def choose(self, env: Env) -> Policy | None:
        return next((p for p in self.policies if p.when is None or p.when.holds(env)), None)

    def __post_init__(self) -> None:
        self._calendars = {p.name: p.calendar for p in self.policies}

    def calendar(self, clock: Clock) -> BusinessCalendar:
        """The calendar of the policy the clock was last counted under."""
        return self._calendars.get(clock.policy, ALWAYS)

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
    start_field = _field(c, entity, data, "start_field", ("datetime",), writes=False)
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
        start_field,
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
            if isinstance(node, n.Call) and (
                getattr(node.function, "contextual", False) or node.function == "count_where"
            ):
                return None  # the time, the user or other records: not only the record's fields
            if isinstance(node, n.Path):
                if node.root in ("user", "now", "today"):
                    return None
                if node.root == "record":
                    head = node.names[0] if node.head.startswith("$") and node.names else node.head
                    if not head.startswith("$"):
                        found.add(head)
    return found
