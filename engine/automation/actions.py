"""Actions: the steps of rules, workflow transitions and escalation levels.

An action type compiles its spec once per metadata version (problems reported at their
place in the file) into a function ``(run, target) -> None``. Plugins add action types by
calling :func:`register` (the issue on plugins wires that to a hook). The built-in
types are here; ``transition``, ``assign`` and ``escalate`` register from their own modules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from engine.automation.events import Event
from engine.automation.values import Compiler
from engine.dsl import Env
from engine.errors import TesseraError
from engine.meta.model import EntityDef


@dataclass
class Target:
    """What an action acts on: the trigger record, and who triggered it."""

    entity: EntityDef
    record_id: str
    event: Event
    #: ``rule:NAME``, ``workflow:NAME``, ``sla:NAME``: recorded as the audit source, used in keys
    source: str

    def record(self, run: Any) -> dict[str, Any]:
        """The record as it is now (earlier actions' changes included)."""
        return run.fetch(self.entity, self.record_id) or dict(self.event.record)

    def env(self, run: Any) -> Env:
        return run.env(self.entity, self.record(run), self.event.old)


Step = Callable[[Any, Target], None]


class ActionType(Protocol):
    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None: ...


ACTIONS: dict[str, ActionType] = {}


def register(name: str, action: ActionType) -> None:
    ACTIONS[name] = action


class ActionFailed(TesseraError):
    """An action could not do its work; the whole change is rolled back."""

    status = 422
    title = "An automation step failed"


def compile_actions(c: Compiler, specs: list[Any], entity: EntityDef, *path: Any) -> list[Step]:
    steps: list[Step] = []
    for i, spec in enumerate(specs or []):
        where = (*path, i)
        kinds = [k for k in spec if k != "when"]
        if len(kinds) != 1:
            c.fail("an action is one of " + ", ".join(sorted(ACTIONS)) + " (with an optional 'when')", *where)
            continue
        kind = kinds[0]
        action = ACTIONS.get(kind)
        if action is None:
            c.fail(f"unknown action {kind!r}; known actions: {', '.join(sorted(ACTIONS))}", *where, kind)
            continue
        step = action.compile(c, spec[kind], entity, (*where, kind))
        if step is None:
            continue
        condition = c.condition(spec.get("when"), entity, *where, "when")
        steps.append(step if condition is None else _only_when(condition, step))
    return steps


def _only_when(condition: Any, step: Step) -> Step:
    def run_if(run: Any, target: Target) -> None:
        if condition.holds(target.env(run)):
            step(run, target)

    return run_if


def run_steps(run: Any, steps: list[Step], target: Target) -> None:
    for step in steps:
        step(run, target)


def _mapping(c: Compiler, spec: Any, path: tuple[Any, ...], what: str) -> dict[str, Any] | None:
    if not isinstance(spec, dict) or not spec:
        c.fail(f"{what} takes a mapping", *path)
        return None
    return spec


def compile_values(
    c: Compiler, values: dict[str, Any], target: EntityDef, source: EntityDef, path: tuple[Any, ...]
) -> dict[str, Any]:
    """``{field: literal or '=expr'}`` for records of ``target``, expressions over ``source``."""
    compiled = {}
    for name, raw in values.items():
        fd = target.fields.get(name)
        if fd is None:
            c.fail(f"{target.name} has no field {name!r}", *path, name)
            continue
        if fd.is_computed or fd.type == "autonumber":
            c.fail(f"{target.name}.{name} is computed; it cannot be set", *path, name)
            continue
        compiled[name] = c.value(raw, source, *path, name)
    return compiled


def evaluate(values: dict[str, Any], env: Env) -> dict[str, Any]:
    return {name: value(env) for name, value in values.items()}


class SetAction:
    """``set: {field: value, ...}``: change the trigger record."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if _mapping(c, spec, path, "set") is None:
            return None
        owned = c.automation.owned_fields.get(entity.name, {})
        for name in spec:
            if name in owned:
                c.fail(
                    f"{entity.name}.{name} belongs to workflow {owned[name]!r}: use a 'transition' action", *path, name
                )
                return None
        values = compile_values(c, spec, entity, entity, path)

        def run_set(run: Any, target: Target) -> None:
            run.update(target.entity, target.record_id, evaluate(values, target.env(run)), target.source)

        return run_set


class CreateAction:
    """``create: {entity: activity, values: {...}}``: a new record; values are evaluated
    against the trigger record (``'=id'`` links back to it)."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if _mapping(c, spec, path, "create") is None:
            return None
        unknown = set(spec) - {"entity", "values"}
        if unknown:
            c.fail(f"unknown key {sorted(unknown)[0]!r}; create takes entity and values", *path)
            return None
        target_entity = c.entity(spec.get("entity"), *path, "entity")
        if target_entity is None:
            return None
        values = compile_values(c, spec.get("values") or {}, target_entity, entity, (*path, "values"))

        def run_create(run: Any, target: Target) -> None:
            run.create(target_entity, evaluate(values, target.env(run)), target.source)

        return run_create


class UpdateAction:
    """``update: {link: account, values: {...}}`` changes the record a link points to;
    ``update: {entity: contact, filter: 'account == $record.account', values: {...}}``
    changes every record of ``entity`` the filter selects ($record is the trigger record).
    Values are evaluated against the trigger record, like ``create``'s."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if _mapping(c, spec, path, "update") is None:
            return None
        unknown = set(spec) - {"entity", "link", "filter", "values"}
        if unknown or ("link" in spec) == ("entity" in spec):
            c.fail("update takes either link (a link field) or entity and filter, and values", *path)
            return None
        if "link" in spec:
            fd = entity.fields.get(spec["link"])
            if fd is None or fd.type not in ("link", "user", "team") or fd.target is None:
                c.fail(f"{entity.name} has no link field {spec['link']!r}", *path, "link")
                return None
            target_entity = c.catalog.entities[fd.target]
            values = compile_values(c, spec.get("values") or {}, target_entity, entity, (*path, "values"))
            link = fd.name

            def run_linked(run: Any, target: Target) -> None:
                env = target.env(run)
                other = target.record(run).get(link)
                if other is not None:
                    run.update(target_entity, other, evaluate(values, env), target.source)

            return run_linked
        filtered = c.entity(spec.get("entity"), *path, "entity")
        if filtered is None:
            return None
        condition = None
        if "filter" in spec:
            from engine.dsl import compile_expression
            from engine.errors import DslError

            try:
                condition = compile_expression(
                    spec["filter"],
                    filtered,
                    c.catalog,
                    functions=c.functions,
                    where=c.definition.where(*path, "filter"),
                    sql=True,
                    expect="bool",
                    record_entity=entity,
                )
            except DslError as exc:
                c.fail(exc.detail.replace("\n", "\n    "), *path, "filter")
                return None
        each = compile_values(c, spec.get("values") or {}, filtered, entity, (*path, "values"))

        def run_filtered(run: Any, target: Target) -> None:
            env = target.env(run)
            new_values = evaluate(each, env)
            for record_id in run.select_ids(filtered, condition, outer=env.record):
                run.update(filtered, record_id, new_values, target.source)

        return run_filtered


class TimerAction:
    """``start_timer: {name: follow_up, after: 2d}`` or ``{name: ..., at: '=expected_close'}``:
    a ``timer`` event named ``name`` on this record then (rules with ``on: timer``).
    ``stop_timer: follow_up`` cancels it."""

    def __init__(self, start: bool):
        self.start = start

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if not self.start:
            if not isinstance(spec, str) or not spec:
                c.fail("stop_timer takes the timer's name", *path)
                return None

            def run_stop(run: Any, target: Target) -> None:
                run.stop_timers(target.entity.name, target.record_id, name=spec)

            return run_stop
        if _mapping(c, spec, path, "start_timer") is None:
            return None
        name = spec.get("name")
        if not isinstance(name, str) or not name or name.startswith("sla:") or set(spec) - {"name", "after", "at"}:
            c.fail("start_timer takes name (not starting with 'sla:') and after (90d, 4h) or at (a datetime)", *path)
            return None
        if ("after" in spec) == ("at" in spec):
            c.fail("start_timer takes either after or at", *path)
            return None
        after = c.duration(spec["after"], *path, "after") if "after" in spec else None
        at = c.value(spec["at"], entity, *path, "at") if "at" in spec else None

        def run_start(run: Any, target: Target) -> None:
            due = run.now + after if after is not None else _as_datetime(at(target.env(run)) if at else None)
            if due is None:
                raise ActionFailed(f"Timer {name!r}: 'at' gave no date or time")
            run.start_timer(target.entity.name, target.record_id, name, due)

        return run_start


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), dt.UTC)
    return None


register("set", SetAction())
register("create", CreateAction())
register("update", UpdateAction())
register("start_timer", TimerAction(start=True))
register("stop_timer", TimerAction(start=False))
