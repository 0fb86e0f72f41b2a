"""Actions: the steps of rules, workflow transitions and escalation levels.

An action type compiles its spec once per metadata version (problems reported at their
place in the file) into a function ``(run, target) -> None``. Plugins add action types by
calling :func:`register` (the issue on plugins wires that to a hook). The built-in
types ``set``, ``update`` and the timers are here; ``create`` and ``find_or_create`` (create_actions),
``transition``, ``assign`` and ``escalate`` register from their own modules.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.automation.events import Event
from engine.automation.values import Compiler
from engine.dsl import Env, compile_expression
from engine.errors import DslError, TesseraError
from engine.meta.model import EntityDef


@dataclass(frozen=True)
class Bound:
    """A record named by ``as:``; expressions read it fresh (``$client.name``)."""

    entity: str
    record_id: str


@dataclass
class Target:
    """What an action acts on: the trigger record, and who triggered it."""

    entity: EntityDef
    record_id: str
    event: Event
    #: ``rule:NAME``, ``workflow:NAME``, ``sla:NAME``: recorded as the audit source, used in keys
    source: str
    #: variables of this list of steps: ``input`` (record actions), names bound by ``as:``
    #: (a :class:`Bound` record), ``item`` while a ``for_each`` runs
    variables: dict[str, Any] = field(default_factory=dict)

    def record(self, run: Any) -> dict[str, Any]:
        """The record as it is now (earlier actions' changes included)."""
        return run.fetch(self.entity, self.record_id) or dict(self.event.record)

    def env(self, run: Any) -> Env:
        env: Env = run.env(self.entity, self.record(run), self.event.old)
        if self.variables:
            env.vars = {
                name: env.load(value.entity, value.record_id) if isinstance(value, Bound) else value
                for name, value in self.variables.items()
            }
        return env


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
    """Compile one list of steps; names bound by ``as:`` are known to the later steps of it."""
    saved = dict(c.variables)
    try:
        return _compile_list(c, specs, entity, path)
    finally:
        c.variables = saved


def _compile_list(c: Compiler, specs: list[Any], entity: EntityDef, path: tuple[Any, ...]) -> list[Step]:
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
        # the condition first: it runs before the step, so it cannot see what the step binds
        condition = c.condition(spec.get("when"), entity, *where, "when")
        step = action.compile(c, spec[kind], entity, (*where, kind))
        if step is None:
            continue
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


def mapping_spec(c: Compiler, spec: Any, path: tuple[Any, ...], what: str) -> dict[str, Any] | None:
    if not isinstance(spec, dict) or not spec:
        c.fail(f"{what} takes a mapping", *path)
        return None
    return spec


def compile_values(
    c: Compiler, values: dict[str, Any], target: EntityDef, source: EntityDef, path: tuple[Any, ...], each: bool = False
) -> dict[str, Any]:
    """``{field: literal or '=expr'}`` for records of ``target``, expressions over ``source``."""
    compiled = {}
    for name, raw in values.items():
        fd = target.fields.get(name)
        if name == "owner" and fd is None and not target.child:
            compiled[name] = c.value(raw, source, *path, name)  # the record's owner (a system field)
            continue
        if fd is None:
            c.fail(f"{target.name} has no field {name!r}", *path, name)
            continue
        if fd.is_computed or fd.is_rollup or fd.type == "autonumber":
            c.fail(f"{target.name}.{name} is computed; it cannot be set", *path, name)
            continue
        if fd.type == "table" and isinstance(raw, list) and all(isinstance(row, dict) for row in raw):
            # child rows whose values are literals or expressions: [{product: '=$item.product'}]
            child = c.catalog.entities[fd.opt("of")]
            rows = [compile_values(c, row, child, source, (*path, name, i)) for i, row in enumerate(raw)]
            compiled[name] = _rows_value(rows)
            continue
        if fd.type == "table" and isinstance(raw, dict) and set(raw) == {"each"} and isinstance(raw["each"], dict):
            if not each:
                c.fail("{each: ...} rows need a create with for_each (one row per item of the group)", *path, name)
                continue
            child = c.catalog.entities[fd.opt("of")]
            compiled[name] = _each_row(compile_values(c, raw["each"], child, source, (*path, name, "each")))
            continue
        compiled[name] = c.value(raw, source, *path, name)
    return compiled


def evaluate(values: dict[str, Any], env: Env) -> dict[str, Any]:
    return {name: value(env) for name, value in values.items()}


#: the variable holding the items of the current ``for_each`` group (read by ``{each: ...}`` rows)
GROUP = "__group"


def _each_row(row: dict[str, Any]) -> Callable[[Env], list[dict[str, Any]]]:
    """A table field's rows made from ``row`` once per item of the current for_each group."""

    def value(env: Env) -> list[dict[str, Any]]:
        saved = env.vars
        items = (saved or {}).get(GROUP) or [(saved or {}).get("item")]
        try:
            rows = []
            for item in items:
                env.vars = {**(saved or {}), "item": item}
                rows.append(evaluate(row, env))
            return rows
        finally:
            env.vars = saved

    return value


def _rows_value(rows: list[dict[str, Any]]) -> Callable[[Env], list[dict[str, Any]]]:
    """The value of a table field given as rows of values: each row evaluated in turn."""

    def value(env: Env) -> list[dict[str, Any]]:
        return [evaluate(row, env) for row in rows]

    return value


class SetAction:
    """``set: {field: value, ...}``: change the trigger record."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if mapping_spec(c, spec, path, "set") is None:
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


#: variable names automation steps may not bind with ``as:`` (the DSL's own, and for_each's)
RESERVED_VARIABLES = frozenset({"record", "user", "now", "today", "input", "item"})
_VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def bind_name(c: Compiler, spec: dict[str, Any], path: tuple[Any, ...]) -> str | None:
    """The ``as:`` name of a step (checked), or None when it binds nothing."""
    name = spec.get("as")
    if name is None:
        return None
    single = c.catalog.entities.get(name) if isinstance(name, str) else None
    if not isinstance(name, str) or not _VARIABLE.match(name) or name in RESERVED_VARIABLES:
        c.fail(f"'as' takes a name such as client (not {', '.join(sorted(RESERVED_VARIABLES))})", *path, "as")
        return None
    if single is not None and single.singleton:
        c.fail(f"{name!r} is a singleton entity (${name} reads its record); bind another name", *path, "as")
        return None
    return name


def compile_filter(
    c: Compiler, source: Any, filtered: EntityDef, entity: EntityDef, path: tuple[Any, ...]
) -> Any | None:
    """A condition over records of ``filtered`` (run in SQL); ``$record`` is the trigger record
    of ``entity`` and the step's variables (``$input``, ``$NAME``) are constants."""
    if not isinstance(source, str) or not source.strip():
        c.fail("a filter is a condition such as 'email == $record.email'", *path)
        return None
    try:
        return compile_expression(
            source,
            filtered,
            c.catalog,
            functions=c.functions,
            where=c.definition.where(*path),
            sql=True,
            expect="bool",
            record_entity=entity,
            variables=c.variables,
        )
    except DslError as exc:
        c.fail(exc.detail.replace("\n", "\n    "), *path)
        return None


class UpdateAction:
    """``update: {link: account, values: {...}}`` changes the record a link points to;
    ``update: {entity: contact, filter: 'account == $record.account', values: {...}}``
    changes every record of ``entity`` the filter selects ($record is the trigger record).
    Values are evaluated against the trigger record, like ``create``'s."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if mapping_spec(c, spec, path, "update") is None:
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
            condition = compile_filter(c, spec["filter"], filtered, entity, (*path, "filter"))
            if condition is None:
                return None
        each = compile_values(c, spec.get("values") or {}, filtered, entity, (*path, "values"))

        def run_filtered(run: Any, target: Target) -> None:
            env = target.env(run)
            new_values = evaluate(each, env)
            for record_id in run.select_ids(filtered, condition, outer=env.record, variables=env.vars):
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
        if mapping_spec(c, spec, path, "start_timer") is None:
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
register("update", UpdateAction())
register("start_timer", TimerAction(start=True))
register("stop_timer", TimerAction(start=False))
