"""Workflows: a state machine on an enum field, changed only through named transitions.

A workflow document (``workflows/NAME.yaml``, schema ``workflow.json``) owns one enum
field of one entity: the field's options are the states, ``initial`` the state of every
new record. Each transition is a record action (``POST /api/v1/ENTITY/ID/actions/NAME``)
with the states it leaves (``from``), the one it enters (``to``), the roles that may run
it (admins always may), a DSL guard (``when``), fields that must not be empty on entry
(``require``; the action's body may supply them) and actions (``do``) that run after the
state changed, between the left state's ``on_exit`` and the entered state's ``on_enter``.

Nobody writes the field directly (PATCH, rules, imports): the data-access layer asks
:meth:`Workflows.before_update`, which refuses a change not made by the workflow itself.
Only the engine's own data loading (the ``SYSTEM`` actor: seed documents) may write any
state. Approval processes (``approvals:``) live in :mod:`engine.automation.approvals`.

Each transition writes the state (an ``update`` event), records a ``transition`` entry in
the record's history and emits a ``transition`` event named after it, so rules can react
with ``on: transition, transition: [resolve]``. Rules run a transition with the
``transition`` action: as the system (roles are not checked), guard and state checked.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from engine.actor import SYSTEM
from engine.automation.actions import ActionFailed, Step, Target, compile_actions, register, run_steps
from engine.automation.approvals import (
    Approval,
    check_unlocked,
    compile_approvals,
    ensure_not_pending,
    register_approval_actions,
)
from engine.automation.definitions import Definition, collect
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent, RecordAction
from engine.automation.record_actions import read_body
from engine.automation.values import Compiler
from engine.dsl import Expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage.validation import load_input


@dataclass
class Transition:
    name: str
    #: the states it leaves; None: any state
    sources: frozenset[str] | None
    to: str
    roles: frozenset[str]
    when: Expression | None
    message: str | None
    require: tuple[str, ...]
    steps: list[Step]
    #: what a button says (a plain text or a map by locale); default: the name
    label: Any = None

    def leaves(self, state: Any) -> bool:
        return self.sources is None or state in self.sources


@dataclass
class Workflow:
    name: str
    entity: EntityDef
    field: str
    initial: str
    states: tuple[str, ...]
    transitions: dict[str, Transition] = dataclasses.field(default_factory=dict)
    on_enter: dict[str, list[Step]] = dataclasses.field(default_factory=dict)
    on_exit: dict[str, list[Step]] = dataclasses.field(default_factory=dict)
    approvals: list[Approval] = dataclasses.field(default_factory=list)

    @property
    def source(self) -> str:
        """The audit source of what the workflow writes."""
        return f"workflow:{self.name}"

    def leaving(self, state: Any) -> list[str]:
        """Names of the transitions possible from ``state``."""
        return [t.name for t in self.transitions.values() if t.leaves(state)]

    def move(
        self,
        run: Any,
        record_id: str,
        current: dict[str, Any],
        to: str,
        name: str,
        values: dict[str, Any] | None = None,
        steps: list[Step] | None = None,
        comment: str | None = None,
        note: dict[str, Any] | None = None,
    ) -> None:
        """Enter state ``to`` by the transition ``name``: write it (with ``values``), record
        it in the history (``note``: more entries), run the left state's ``on_exit``,
        ``steps`` and the entered state's ``on_enter``, then emit the ``transition`` event."""
        entity, before = self.entity, current.get(self.field)
        values = dict(values or {})
        run.update(entity, record_id, {**values, self.field: to}, self.source, owner=self.name)
        changes: dict[str, list[Any]] = {self.field: [before, to], "transition": [None, name]}
        if comment:
            changes["comment"] = [None, comment]
        changes.update(note or {})
        run.audit(entity.name, record_id, "transition", changes)
        new = run.fetch(entity, record_id) or {**current, self.field: to}
        event = Event("transition", entity, record_id, new, current, run.actor, frozenset({self.field, *values}), name)
        target = Target(entity, record_id, event, self.source)
        if to != before:
            run_steps(run, self.on_exit.get(str(before), []), target)
        run_steps(run, steps or [], target)
        if to != before:
            run_steps(run, self.on_enter.get(to, []), target)
        latest = run.fetch(entity, record_id)
        if latest is not None:
            event.new = latest
            run.emit(event)


@dataclass
class WorkflowSet:
    by_name: dict[str, Workflow] = dataclasses.field(default_factory=dict)
    by_entity: dict[str, list[Workflow]] = dataclasses.field(default_factory=dict)

    def transition(self, entity: str, name: str) -> tuple[Workflow, Transition] | None:
        for workflow in self.by_entity.get(entity, ()):
            if name in workflow.transitions:
                return workflow, workflow.transitions[name]
        return None


class Workflows(BaseComponent):
    name = "workflows"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        found = WorkflowSet()
        for definition in collect(catalog, "workflow", problems):
            workflow = compile_workflow(definition, catalog, functions, problems, automation)
            if workflow is not None:
                found.by_name[workflow.name] = workflow
                found.by_entity.setdefault(workflow.entity.name, []).append(workflow)
        for workflows in found.by_entity.values():
            register_approval_actions(automation, [a for w in workflows for a in w.approvals], problems)
        automation.parts[self.name] = found

    def initial_values(self, automation: Automation, entity: EntityDef, values: dict[str, Any]) -> None:
        """A new record starts in the initial state: written with it, so that its create is
        one write (no update event for rules, no second history entry)."""
        for workflow in automation.parts[self.name].by_entity.get(entity.name, ()):
            if values.get(workflow.field) is None:
                values[workflow.field] = workflow.initial

    def on_event(self, run: Any, event: Event) -> None:
        found: WorkflowSet = run.automation.parts[self.name]
        if event.kind == "create":
            for workflow in found.by_entity.get(event.entity.name, ()):
                start(run, workflow, event)
        elif event.kind == "delete" and run.depth == 1 and run.actor != SYSTEM:
            # a record awaiting approval is locked against deletion too (the write rolls back)
            for workflow in found.by_entity.get(event.entity.name, ()):
                if workflow.approvals:
                    check_unlocked(run, workflow, event.record_id, event.old or {})

    def before_update(
        self, run: Any, entity: EntityDef, record_id: str, current: dict[str, Any], values: dict[str, Any], owner: str
    ) -> None:
        if run.actor == SYSTEM:  # the engine loading data (seeds) may write any state
            return
        found: WorkflowSet = run.automation.parts[self.name]
        for workflow in found.by_entity.get(entity.name, ()):
            if owner == workflow.name:
                continue
            state = current.get(workflow.field)
            if workflow.field in values and values[workflow.field] != state:
                possible = workflow.leaving(state)
                use = f"use the action {' or '.join(possible)}" if possible else f"no transition leaves {state!r}"
                raise ValidationError(
                    f"{entity.name}.{workflow.field} is changed by the workflow {workflow.name!r} only",
                    [FieldError(workflow.field, f"Changed by transitions only: {use}.")],
                )
            # automation reacting to a change (depth > 0) may still write a record awaiting approval
            if workflow.approvals and run.depth == 0:
                check_unlocked(run, workflow, record_id, current)


def start(run: Any, workflow: Workflow, event: Event) -> None:
    """A new record starts in the initial state (``initial_values`` set it before the write;
    a record created another way without one gets it now)."""
    record = event.new or {}
    state = record.get(workflow.field)
    if state is None:
        run.update(workflow.entity, event.record_id, {workflow.field: workflow.initial}, workflow.source, workflow.name)
    elif state != workflow.initial and event.actor != SYSTEM:
        raise ValidationError(
            f"A new {workflow.entity.name} starts in the state {workflow.initial!r}",
            [
                FieldError(
                    workflow.field, f"Must be {workflow.initial!r} or left out; later states come by transitions."
                )
            ],
        )
    steps = workflow.on_enter.get(workflow.initial, [])
    if steps and state in (None, workflow.initial):
        run_steps(run, steps, Target(workflow.entity, event.record_id, event, workflow.source))


def perform(
    run: Any, workflow: Workflow, transition: Transition, record_id: str, body: dict[str, Any], as_system: bool = False
) -> None:
    """Run ``transition`` on a record for ``run.actor`` (``as_system``: for a rule, roles not checked)."""
    entity = workflow.entity
    current = run.fetch(entity, record_id)
    if current is None:
        raise NotFound(f"No {entity.name} with id {record_id!r}")
    state = current.get(workflow.field)
    ensure_not_pending(run, workflow, record_id, current)
    if not transition.leaves(state):
        sources = ", ".join(sorted(transition.sources or ()))
        raise Conflict(
            f"The {entity.name} is {state!r}: the transition {transition.name!r} is possible from {sources} only"
        )
    actor = run.actor
    if not as_system and transition.roles and not actor.is_admin and not transition.roles & actor.roles:
        roles = ", ".join(sorted(transition.roles))
        raise PermissionDenied(f"Only the roles {roles} may run the transition {transition.name!r}")
    comment, values = read_body(body, transition.require, transition.name)
    loaded = load_input(run.snap.input_schema(entity.name, system=True), entity, values, system=True) if values else {}
    merged = {**current, **loaded}
    if transition.when is not None and not transition.when.holds(run.env(entity, merged)):
        detail = transition.message or f"The transition {transition.name!r} is not possible now"
        if as_system:
            raise ActionFailed(f"{detail} ({transition.when.source} does not hold)")
        raise ValidationError(detail, [FieldError("(record)", f"Needs: {transition.when.source}")])
    missing = [name for name in transition.require if merged.get(name) in (None, "", [])]
    if missing:
        raise ValidationError(
            f"The transition {transition.name!r} needs {', '.join(missing)}",
            [
                FieldError(name, "Required for this transition: set it first or send it in the body.")
                for name in missing
            ],
        )
    workflow.move(run, record_id, current, transition.to, transition.name, values, transition.steps, comment)


def transition_handler(workflow: Workflow, transition: Transition) -> RecordAction:
    def run_transition(run: Any, entity: EntityDef, record_id: str, body: dict[str, Any]) -> None:
        perform(run, workflow, transition, record_id, body)

    return run_transition


# --- compiling ---------------------------------------------------------------------------------------
def compile_workflow(
    definition: Definition, catalog: Catalog, functions: FunctionRegistry, problems: Problems, automation: Automation
) -> Workflow | None:
    data = definition.data
    c = Compiler(catalog, functions, problems, definition, automation)
    entity = c.entity(data["entity"], "entity")
    if entity is None:
        return None
    fd = entity.fields.get(data["field"])
    if fd is None:
        c.fail(f"{entity.name} has no field {data['field']!r}", "field")
        return None
    if fd.type != "enum" or fd.is_computed:
        kind = "a computed field" if fd.is_computed else f"of type {fd.type}"
        c.fail(f"a workflow runs on a stored enum field; {entity.name}.{fd.name} is {kind}", "field")
        return None
    owner = automation.owned_fields.get(entity.name, {}).get(fd.name)
    if owner is not None:
        c.fail(f"{entity.name}.{fd.name} already has the workflow {owner!r}", "field")
        return None
    states = tuple(o.value for o in fd.enum_options)
    default = fd.opt("default")
    initial = data.get("initial", default if default is not None else states[0])
    if not check_state(c, states, initial, "initial"):
        return None
    if default is not None and default != initial:
        c.fail(
            f"{entity.name}.{fd.name} defaults to {default!r} but the workflow starts in {initial!r}: make them agree",
            "initial",
        )
        return None
    # owned before the actions compile: a workflow's own 'set' may not write its field either
    automation.owned_fields.setdefault(entity.name, {})[fd.name] = definition.name
    automation.listening.add(entity.name)
    workflow = Workflow(definition.name, entity, fd.name, initial, states)
    seen: set[str] = set()
    for i, raw in enumerate(data.get("transitions", [])):
        if raw["name"] in seen:
            c.fail(f"the transition {raw['name']!r} is defined twice", "transitions", i, "name")
            continue
        seen.add(raw["name"])
        transition = compile_transition(c, workflow, raw, ("transitions", i))
        if transition is None:
            continue
        workflow.transitions[transition.name] = transition
        handler = transition_handler(workflow, transition)
        automation.register_action(
            entity.name, transition.name, handler, problems, c.definition.location("transitions", i, "name")
        )
    for key in ("on_enter", "on_exit"):
        for state, specs in (data.get(key) or {}).items():
            if check_state(c, states, state, key, state):
                getattr(workflow, key)[state] = compile_actions(c, specs, entity, key, state)
    workflow.approvals = compile_approvals(c, workflow, data.get("approvals", []))
    return workflow


def compile_transition(
    c: Compiler, workflow: Workflow, raw: dict[str, Any], path: tuple[Any, ...]
) -> Transition | None:
    entity, states = workflow.entity, workflow.states
    ok = check_state(c, states, raw["to"], *path, "to")
    sources = raw.get("from", "*")
    if sources != "*":
        ok = all([check_state(c, states, s, *path, "from", j) for j, s in enumerate(sources)]) and ok
    require = tuple(raw.get("require", []))
    for j, name in enumerate(require):
        fd = entity.fields.get(name)
        if fd is None or not fd.has_column or fd.is_computed or name == workflow.field:
            why = "no such field" if fd is None else "it cannot be required (computed, many-valued or the state)"
            c.fail(f"{entity.name}.{name}: {why}", *path, "require", j)
            ok = False
    when = c.condition(raw.get("when"), entity, *path, "when", updates=False)
    steps = compile_actions(c, raw.get("do", []), entity, *path, "do")
    if not ok:
        return None
    return Transition(
        raw["name"],
        None if sources == "*" else frozenset(sources),
        raw["to"],
        frozenset(raw.get("roles", [])),
        when,
        raw.get("message"),
        require,
        steps,
        raw.get("label"),
    )


def check_state(c: Compiler, states: tuple[str, ...], value: Any, *path: Any) -> bool:
    """Is ``value`` one of the workflow's states? (Reported at ``path`` when not.)"""
    if value in states:
        return True
    c.fail(f"unknown state {value!r}; the states are {', '.join(states)}", *path)
    return False


# --- the transition action (rules) ------------------------------------------------------------------
class TransitionAction:
    """``transition: resolve`` runs the named transition of the trigger record as the system:
    roles are not checked; the state and the guard are (a failure rolls the change back)."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if not isinstance(spec, str) or not spec:
            c.fail("transition takes the name of a transition: {transition: resolve}", *path)
            return None
        # read the documents: the workflows of this very document may still be compiling
        names = sorted(
            {
                t["name"]
                for d in collect(c.catalog, "workflow", Problems())
                if d.data.get("entity") == entity.name
                for t in d.data.get("transitions", [])
            }
        )
        if spec not in names:
            known = f"its transitions: {', '.join(names)}" if names else "it has no workflow"
            c.fail(f"{entity.name} has no transition {spec!r}; {known}", *path)
            return None

        def run_transition(run: Any, target: Target) -> None:
            found = run.automation.parts[COMPONENT.name].transition(target.entity.name, spec)
            if found is None:
                raise ActionFailed(f"The transition {spec!r} of {target.entity.name} is not in force")
            perform(run, found[0], found[1], target.record_id, {}, as_system=True)

        return run_transition


COMPONENT = Workflows()
register("transition", TransitionAction())
