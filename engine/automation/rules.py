"""Rules: ``on`` events (or a ``schedule``), ``when`` a DSL condition, ``do`` actions.

``fields`` narrows an update rule to writes that changed one of the named fields, so
"became closed" is ``on: update, fields: [status], when: 'status == "closed"'`` and "is
closed" the same rule without ``fields``. Conditions may read ``old.FIELD`` and
``changed(FIELD)``. Rules of one entity run in ``order`` (then name) order. Scheduled
rules (``schedule:``) are run by :mod:`engine.automation.schedules`, not by events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.automation.actions import Step, Target, compile_actions, run_steps
from engine.automation.definitions import collect
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent
from engine.automation.values import Compiler
from engine.dsl import Expression
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems


@dataclass
class Rule:
    name: str
    entity: EntityDef
    on: frozenset[str]
    fields: frozenset[str]
    names: frozenset[str]  # transition or timer names ("" = any)
    when: Expression | None
    steps: list[Step]
    order: int
    schedule: dict[str, Any] | None = None
    definition: Any = None

    def matches(self, event: Event) -> bool:
        if event.kind not in self.on:
            return False
        if self.names and event.name not in self.names:
            return False
        return not (self.fields and event.kind == "update" and not (self.fields & event.changed))


@dataclass
class RuleSet:
    by_entity: dict[str, list[Rule]] = field(default_factory=dict)
    scheduled: list[Rule] = field(default_factory=list)


class Rules(BaseComponent):
    name = "rules"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        ruleset = RuleSet()
        for definition in collect(catalog, "rule", problems):
            rule = compile_rule(definition, catalog, functions, problems, automation)
            if rule is None:
                continue
            if rule.schedule is not None:
                ruleset.scheduled.append(rule)
            else:
                ruleset.by_entity.setdefault(rule.entity.name, []).append(rule)
                automation.listening.add(rule.entity.name)
        for rules in ruleset.by_entity.values():
            rules.sort(key=lambda r: (r.order, r.name))
        automation.parts[self.name] = ruleset

    def on_event(self, run: Any, event: Event) -> None:
        ruleset: RuleSet = run.automation.parts[self.name]
        env = None
        seen = -1  # run.writes when env was built: re-read the record only after a write
        for rule in ruleset.by_entity.get(event.entity.name, ()):
            if not rule.matches(event):
                continue
            if env is None or seen != run.writes:
                if event.kind == "delete":
                    env = run.env(event.entity, event.record)
                else:
                    current = (
                        event.new
                        if run.writes == event.writes and event.new
                        else run.fetch(event.entity, event.record_id)
                    )
                    if current is None:  # an earlier rule deleted it
                        return
                    env = run.env(event.entity, current, event.old)
                seen = run.writes
            if rule.when is not None and not rule.when.holds(env):
                continue
            if not run.guard(f"rule:{rule.name}", event):
                continue
            run_steps(run, rule.steps, Target(event.entity, event.record_id, event, f"rule:{rule.name}"))


def compile_rule(
    definition: Any, catalog: Catalog, functions: FunctionRegistry, problems: Problems, automation: Automation
) -> Rule | None:
    data = definition.data
    c = Compiler(catalog, functions, problems, definition, automation)
    entity = c.entity(data["entity"], "entity")
    if entity is None:
        return None
    on = data.get("on", [])
    on = frozenset([on] if isinstance(on, str) else on)
    for key in ("fields",):
        for name in data.get(key, []):
            if name not in entity.fields:
                c.fail(f"{entity.name} has no field {name!r}", key)
    names = data.get("transition") or data.get("timer") or []
    names = frozenset([names] if isinstance(names, str) else names)
    if "transition" in data and on != {"transition"}:
        c.fail("'transition' names transitions for rules with on: transition", "transition")
    if "timer" in data and on != {"timer"}:
        c.fail("'timer' names timers for rules with on: timer", "timer")
    if "fields" in data and "update" not in on:
        c.fail("'fields' narrows update rules; add update to 'on'", "fields")
    when = c.condition(data.get("when"), entity, "when", updates="schedule" not in data)
    steps = compile_actions(c, data["do"], entity, "do")
    schedule = data.get("schedule")
    if schedule is not None:
        schedule = compile_schedule(c, schedule, entity)
    return Rule(
        definition.name,
        entity,
        on,
        frozenset(data.get("fields", [])),
        names,
        when,
        steps,
        data.get("order", 0),
        schedule,
        definition,
    )


def compile_schedule(c: Compiler, spec: dict[str, Any], entity: EntityDef) -> dict[str, Any]:
    """Checked form of ``schedule:``; :mod:`engine.automation.schedules` runs it."""
    from engine.automation.schedules import check_schedule

    return check_schedule(c, spec, entity)


COMPONENT = Rules()
