"""Record actions: ``POST /api/v1/ENTITY/ID/actions/NAME`` and the approval history of a record.

Components register actions while compiling (``Automation.register_action``): workflow
transitions, approval decisions, pack actions. :func:`run_action` runs one for a caller
in one write transaction: the caller must be able to read the record and, unless the
handler says otherwise (a ``permission`` attribute of ``"read"``: approvers decide on
records they may not edit), to change it. The handler then acts through a
:class:`~engine.automation.runtime.Run`, so what it writes is validated, audited and seen
by rules like any other write, and a failure anywhere rolls everything back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.dsl import Expression, nodes
from engine.errors import FieldError, NotFound, PermissionDenied, TesseraError, ValidationError
from engine.meta.model import EntityDef, FieldDef
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.derivation import label_text
from engine.storage.evaluation import RecordLoader, make_env
from engine.storage.reading import fetch_row, get_record

#: the longest comment an action body may carry
MAX_COMMENT = 10_000


def run_action(records: Any, actor: Actor, entity_name: str, record_id: str, name: str, body: Any) -> dict[str, Any]:
    """Run the record action ``name`` on one record for ``actor``; returns the record afterwards."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    handler = snap.automation.actions.get((entity.name, name))
    if handler is None:
        raise NotFound(f"{entity.name} has no action {name!r}")
    permission = getattr(handler, "permission", "update")
    if permission != "read":
        records._entity(snap, actor, entity_name, permission)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object", [FieldError("(body)", "Must be a JSON object.")])
    if getattr(handler, "body_writes_fields", True):  # a transition writes its body's fields
        written = {k: v for k, v in body.items() if k in entity.fields}
        errors = records._access(snap, actor).write_errors(entity, written)
        if errors:
            raise ValidationError(f"The {entity.name} is not valid", errors)

    def act(conn: Connection) -> dict[str, Any]:
        current = dict(fetch_row(conn, snap, entity, record_id, for_update=True)._mapping)
        if not records._allows(conn, snap, actor, entity, "read", current):
            raise NotFound(f"No {entity.name} with id {record_id!r}")
        if permission != "read" and not records._allows(conn, snap, actor, entity, permission, current):
            raise PermissionDenied(f"You may not change this {entity.name}")
        run = records._run(conn, snap, actor, records.clock())
        handler(run, entity, record_id, body)
        return get_record(conn, snap, entity, record_id, rc=records._rc(actor, snap))

    result: dict[str, Any] = records._write(entity, act)
    return result


def read_body(body: dict[str, Any], fields: tuple[str, ...], action: str) -> tuple[str | None, dict[str, Any]]:
    """An action body's ``comment`` and the values of ``fields`` it gives; anything else is refused."""
    unknown = sorted(k for k in body if k != "comment" and k not in fields)
    if unknown:
        takes = ", ".join(["comment", *fields])
        raise ValidationError(
            f"The action {action!r} takes {takes}",
            [FieldError(k, f"Not taken by the action {action!r}.") for k in unknown],
        )
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise ValidationError(
            "The comment is not valid", [FieldError("comment", f"Must be text of at most {MAX_COMMENT} characters.")]
        )
    return (comment or None), {k: v for k, v in body.items() if k != "comment"}


def approval_history(records: Any, actor: Actor, entity_name: str, record_id: str) -> list[dict[str, Any]]:
    """The approval steps of a record (newest submission first, steps in order), if the actor may read it."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    a = st.approval
    with records._reading() as conn:
        get_record(conn, snap, entity, record_id, ["id"], None, records._rc(actor, snap))  # 404 unless readable
        rows = conn.execute(
            sa.select(a)
            .where(a.c.entity == entity.name, a.c.record_id == record_id)
            .order_by(a.c.submitted_at.desc(), a.c.submission.desc(), a.c.position)
        ).all()
    return [
        {
            "id": row.id,
            "process": row.process,
            "submission": row.submission,
            "step": row.step,
            "position": row.position,
            "state": row.state,
            "approver": row.approver_user,
            "approver_role": row.approver_role,
            "submitted_by": row.submitted_by,
            "submitted_at": to_json(row.submitted_at),
            "decided_by": row.decided_by,
            "decided_at": to_json(row.decided_at),
            "comment": row.comment,
        }
        for row in rows
    ]


def has_approvals(snap: Any, entity_name: str) -> bool:
    """Whether an approval process can run on records of the entity (a page shows their history)."""
    from engine.automation.approvals import ApprovalAction

    actions = snap.automation.actions
    return any(owner == entity_name and isinstance(h, ApprovalAction) for (owner, _), h in actions.items())


def offered_actions(records: Any, actor: Actor, entity_name: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions a page offers ``actor`` on ``record``: workflow transitions that leave its
    current state and that the actor's roles may run, approval decisions while a step is
    pending (submit otherwise), and the entity's other actions their roles allow; an action
    whose ``when`` guard is false for the record is left out.

    Each is ``{"name", "label", "kind", "require", "inputs"}``: ``inputs`` are the fields a
    form asks for (:func:`action_inputs`; of a transition's ``require`` only those still
    empty). Running one still goes through :func:`run_action`, which has the last word."""
    from engine.automation.approvals import ApprovalAction
    from engine.automation.workflows import WorkflowSet

    snap = records.ws.snapshot()
    entity = snap.catalog.entities[entity_name]
    offered: list[dict[str, Any]] = []
    guards: dict[str, Expression] = {}
    workflows = snap.automation.parts.get("workflows")
    transitions: set[str] = set()
    for workflow in workflows.by_entity.get(entity.name, ()) if isinstance(workflows, WorkflowSet) else ():
        for transition in workflow.transitions.values():
            transitions.add(transition.name)
            if not transition.leaves(record.get(workflow.field)):
                continue
            if transition.roles and not actor.is_admin and not transition.roles & actor.roles:
                continue
            label = label_text(transition.label, actor.locale) if transition.label else _label(transition.name)
            empty = [entity.fields[n] for n in transition.require if record.get(n) in (None, "", [])]
            offered.append(
                {
                    "name": transition.name,
                    "label": label,
                    "kind": "transition",
                    "require": transition.require,
                    "inputs": empty,
                }
            )
            if transition.when is not None and not _reads(transition.when, set(transition.require), record):
                guards[transition.name] = transition.when
    history = None
    for (owner, name), handler in sorted(snap.automation.actions.items(), key=lambda item: item[0][1]):
        if owner != entity.name or name in transitions:
            continue
        if isinstance(handler, ApprovalAction):
            if history is None:
                history = approval_history(records, actor, entity.name, record["id"])
            pending = [step for step in history if step["state"] == "pending"]
            if (handler.verb in ("approve", "reject", "recall")) != bool(pending):
                continue
            if (
                handler.verb in ("approve", "reject")
                and not actor.is_admin
                and not any(
                    step["approver"] == actor.user_id or step["approver_role"] in actor.roles for step in pending
                )
            ):
                continue  # only the step's approver decides
            if handler.verb == "recall" and not actor.is_admin and pending[0]["submitted_by"] != actor.user_id:
                continue
            kind = "approval"
        else:
            roles = getattr(handler, "roles", None)
            if roles and not actor.is_admin and not set(roles) & actor.roles:
                continue
            kind = "action"
            when = getattr(handler, "when", None)
            if isinstance(when, Expression) and not _reads(when, set(), record):
                guards[name] = when
        declared = getattr(handler, "label", None)
        text = label_text(declared, actor.locale) if declared else _label(name)
        inputs = list(action_inputs(snap, entity, name)) if kind == "action" else []
        offered.append({"name": name, "label": text, "kind": kind, "require": (), "inputs": inputs})
    closed = _closed(records, actor, entity, record, guards)
    return [offer for offer in offered if offer["name"] not in closed]


def action_inputs(snap: Any, entity: EntityDef, name: str) -> tuple[FieldDef, ...]:
    """The fields the body of the action ``name`` may carry besides ``comment``: a pack
    action's ``input:``, a transition's ``require``d fields, the duplicate of ``merge``;
    what a built-in action's ``form_inputs`` names (merge: the duplicate); none for the
    others. A form shows them with the widgets of their types."""
    from engine.automation.workflows import WorkflowSet

    workflows = snap.automation.parts.get("workflows")
    found = workflows.transition(entity.name, name) if isinstance(workflows, WorkflowSet) else None
    if found is not None:
        return tuple(entity.fields[n] for n in found[1].require if n in entity.fields)
    handler = snap.automation.actions.get((entity.name, name))
    declared = getattr(handler, "input", None)
    if isinstance(declared, EntityDef):
        return tuple(declared.fields.values())
    form_inputs = getattr(handler, "form_inputs", None)  # a built-in action says what it takes
    return tuple(form_inputs(entity)) if callable(form_inputs) else ()


def _reads(guard: Expression, inputs: set[str], record: dict[str, Any]) -> bool:
    """Whether ``guard`` depends on what the caller has yet to send (a variable such as
    ``$input``, a field the body may supply) or on a field missing from ``record`` (one the
    caller may not read): then only running the action can tell."""
    for node in nodes.walk(guard.tree):
        if isinstance(node, nodes.Path) and node.root == "var":
            return True
        if isinstance(node, nodes.Path) and node.root == "record" and node.steps:
            first = node.steps[0].field.name
            if first in inputs or first not in record:
                return True
    return False


def _closed(
    records: Any, actor: Actor, entity: EntityDef, record: dict[str, Any], guards: dict[str, Expression]
) -> set[str]:
    """The names of the ``guards`` that are false for ``record`` (the page's copy: no second
    read of it; linked records load on demand). A guard that cannot be evaluated stays open."""
    if not guards:
        return set()
    snap = records.ws.snapshot()
    values = dict(record)
    for name, fd in entity.fields.items():  # the record is API-shaped: dates as ISO text
        if fd.type in ("date", "datetime") and isinstance(values.get(name), str):
            try:
                value = dt.datetime.fromisoformat(values[name])
                values[name] = value if fd.type == "datetime" else value.date()
            except ValueError:
                pass
    closed = set()
    with records._reading() as conn:
        loader = RecordLoader(conn, snap)
        env = make_env(loader, actor, records.clock(), loader.wrap(entity, values))
        for name, guard in guards.items():
            try:
                if not guard.holds(env):
                    closed.add(name)
            except (TesseraError, TypeError, ValueError, ArithmeticError):
                continue  # offered: running it reports what is wrong
    return closed


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()
