"""Approval processes of a workflow: submit, approve or reject step by step, recall.

An approval (``approvals:`` of a workflow document) gives its entity four record actions:

- ``submit`` picks the first process whose ``from`` states hold the record's state and
  whose entry criteria (``when``) hold. The record enters ``submit_to`` and one row per step
  is written to ``tessera_approval``: a step whose ``when`` does not hold at submission is
  ``skipped``, the first that applies is ``pending``, later ones ``waiting``. Each step's
  approver is a user (``approver: '=owner.manager'``, resolved at submission) or any user
  holding a role (``role: director``); the pending step's approvers get an in-app
  notification when the catalog has a ``notification`` entity. When no process's criteria
  hold, a process with ``otherwise: {to}`` moves the record there instead (straight to
  ``approved``); without one, submitting is refused.
- ``approve`` (body ``{"comment"}``): the current step's approver, a holder of its role, or
  an admin decides it; the next waiting step becomes pending, and after the last one the
  record enters ``on_approve.to`` and its ``do`` actions run.
- ``reject``: the record enters ``on_reject.to``; the steps left are ``skipped``.
- ``recall``: the submitter (or an admin) withdraws a pending request; the record enters
  ``on_recall.to``, else the state it was submitted from.

While a request is pending the record is locked: people cannot change it (PATCH, other
transitions) until it is decided or recalled; automation reacting to a change still may.
Every step is kept: ``GET /api/v1/ENTITY/ID/approvals`` lists them, and the record's
history shows each submission, decision and recall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.automation.actions import Step, compile_actions
from engine.automation.model import Automation
from engine.automation.record_actions import read_body
from engine.automation.values import Compiler
from engine.dsl import Expression
from engine.errors import Conflict, FieldError, PermissionDenied, ValidationError
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage import system_tables as st
from engine.storage.derivation import label_text
from engine.storage.ids import is_id, new_id
from engine.storage.write_batch import flush_writes

#: the record actions every entity with an approval process has
ACTIONS = ("submit", "approve", "reject", "recall")


@dataclass
class Outcome:
    to: str
    steps: list[Step]


@dataclass
class ApprovalStep:
    name: str
    label: str
    approver: Expression | None  # a user id
    role: str | None
    when: Expression | None


@dataclass
class Approval:
    name: str
    label: str
    #: the Workflow this process belongs to (it moves the state)
    workflow: Any
    when: Expression | None
    sources: frozenset[str]
    submit_to: str
    roles: frozenset[str]
    steps: list[ApprovalStep]
    on_approve: Outcome
    on_reject: Outcome
    on_recall: Outcome | None
    otherwise: Outcome | None
    #: where its name is defined (file:line:col)
    location: str = ""

    @property
    def field(self) -> str:
        return str(self.workflow.field)


# --- compiling ---------------------------------------------------------------------------------------
def compile_approvals(c: Compiler, workflow: Any, specs: list[dict[str, Any]]) -> list[Approval]:
    from engine.automation.workflows import check_state

    entity, states = workflow.entity, workflow.states
    approvals = []
    for i, raw in enumerate(specs):
        path = ("approvals", i)
        ok = check_state(c, states, raw["submit_to"], *path, "submit_to")
        default_sources = [s for s in states if s != raw["submit_to"]]
        sources = raw.get("from", default_sources)
        ok = all([check_state(c, states, s, *path, "from", j) for j, s in enumerate(sources)]) and ok
        outcomes: dict[str, Outcome | None] = {}
        for key in ("on_approve", "on_reject", "on_recall", "otherwise"):
            spec = raw.get(key)
            if spec is None:
                outcomes[key] = None
                continue
            ok = check_state(c, states, spec["to"], *path, key, "to") and ok
            outcomes[key] = Outcome(spec["to"], compile_actions(c, spec.get("do", []), entity, *path, key, "do"))
        steps: list[ApprovalStep] = []
        for j, step in enumerate(raw["steps"]):
            where = (*path, "steps", j)
            if step["name"] in {s.name for s in steps}:
                c.fail(f"the step {step['name']!r} is defined twice", *where, "name")
                ok = False
            approver = None
            if "approver" in step:
                approver = _approver(c, step["approver"], entity, (*where, "approver"))
                ok = ok and approver is not None
            when = c.condition(step.get("when"), entity, *where, "when", updates=False)
            label = label_text(step.get("label") or step["name"].replace("_", " ").capitalize())
            steps.append(ApprovalStep(step["name"], label, approver, step.get("role"), when))
        when = c.condition(raw.get("when"), entity, *path, "when", updates=False)
        if not ok:
            continue
        on_approve, on_reject = outcomes["on_approve"], outcomes["on_reject"]
        assert on_approve is not None and on_reject is not None  # required by the schema
        label = label_text(raw.get("label") or raw["name"].replace("_", " ").capitalize())
        approvals.append(
            Approval(
                raw["name"],
                label,
                workflow,
                when,
                frozenset(sources),
                raw["submit_to"],
                frozenset(raw.get("roles", [])),
                steps,
                on_approve,
                on_reject,
                outcomes["on_recall"],
                outcomes["otherwise"],
                c.definition.location(*path, "name"),
            )
        )
    return approvals


def _approver(c: Compiler, source: str, entity: EntityDef, path: tuple[Any, ...]) -> Expression | None:
    if not source.startswith("="):
        c.fail("approver is a DSL expression naming a user, like '=owner.manager'", *path)
        return None
    expr = c.expression(source[1:], entity, *path, updates=False)
    if expr is None:
        return None
    kind = expr.type
    if kind.many or not (kind.kind in ("string", "any", "null") or (kind.kind == "id" and kind.entity == "user")):
        c.fail(f"approver must name a user; {source[1:]!r} is {kind}", *path)
        return None
    return expr


def register_approval_actions(automation: Automation, approvals: list[Approval], problems: Problems) -> None:
    """``submit``, ``approve``, ``reject`` and ``recall`` for the entity of ``approvals``."""
    if not approvals:
        return
    entity = approvals[0].workflow.entity.name
    seen: set[str] = set()
    for approval in approvals:
        if approval.name in seen:
            problems.add(approval.location, f"{entity} has two approval processes named {approval.name!r}")
        seen.add(approval.name)
    for verb in ACTIONS:
        automation.register_action(entity, verb, ApprovalAction(verb, approvals), problems, approvals[0].location)


# --- running -----------------------------------------------------------------------------------------
@dataclass
class ApprovalAction:
    """The record action ``submit``, ``approve``, ``reject`` or ``recall`` of one entity."""

    verb: str
    approvals: list[Approval]

    @property
    def permission(self) -> str:
        """Approvers decide on records they may read; submitting and recalling change them."""
        return "read" if self.verb in ("approve", "reject") else "update"

    def __call__(self, run: Any, entity: EntityDef, record_id: str, body: dict[str, Any]) -> None:
        comment, _ = read_body(body, (), self.verb)
        current = run.fetch(entity, record_id) or {}
        if self.verb == "submit":
            submit(run, self.approvals, entity, record_id, current, comment)
            return
        row = pending_step(run, entity.name, record_id)
        if row is None:
            raise Conflict(f"The {entity.name} awaits no approval")
        approval = next((a for a in self.approvals if a.name == row.process), None)
        if approval is None:
            raise Conflict(f"The approval process {row.process!r} is no longer defined")
        if self.verb == "recall":
            recall(run, approval, row, record_id, current, comment)
        else:
            decide(run, approval, row, record_id, current, comment, self.verb == "approve")


def pending_step(run: Any, entity: str, record_id: str) -> Any:
    """The step of the record now awaiting a decision (None: no request pending)."""
    a = st.approval
    return run.conn.execute(
        sa.select(a).where(a.c.entity == entity, a.c.record_id == record_id, a.c.state == "pending")
    ).first()


def check_unlocked(run: Any, workflow: Any, record_id: str, current: dict[str, Any]) -> None:
    """Refuse a change of a record whose approval is pending (409)."""
    if current.get(workflow.field) not in {a.submit_to for a in workflow.approvals}:
        return
    row = pending_step(run, workflow.entity.name, record_id)
    if row is not None:
        raise Conflict(
            f"The {workflow.entity.name} awaits approval ({row.process}, step {row.step}): "
            "it cannot be changed until the request is decided or recalled"
        )


def ensure_not_pending(run: Any, workflow: Any, record_id: str, current: dict[str, Any]) -> None:
    """Transitions wait until a pending approval is decided or recalled."""
    if workflow.approvals:
        check_unlocked(run, workflow, record_id, current)


def submit(
    run: Any, approvals: list[Approval], entity: EntityDef, record_id: str, current: dict[str, Any], comment: str | None
) -> None:
    if pending_step(run, entity.name, record_id) is not None:
        raise Conflict(f"The {entity.name} already awaits approval")
    candidates = [a for a in approvals if current.get(a.field) in a.sources]
    if not candidates:
        states = ", ".join(sorted({s for a in approvals for s in a.sources}))
        state = current.get(approvals[0].field)
        raise Conflict(f"The {entity.name} is {state!r}: it can be submitted for approval from {states} only")
    actor = run.actor
    allowed = [a for a in candidates if actor.is_admin or not a.roles or a.roles & actor.roles]
    if not allowed:
        roles = ", ".join(sorted({r for a in candidates for r in a.roles}))
        raise PermissionDenied(f"Only the roles {roles} may submit this {entity.name} for approval")
    env = run.env(entity, current)
    chosen = next((a for a in allowed if a.when is None or a.when.holds(env)), None)
    if chosen is None:
        fallback = next((a for a in allowed if a.otherwise is not None), None)
        if fallback is None or fallback.otherwise is None:
            criteria = "; ".join(a.when.source for a in allowed if a.when is not None)
            raise ValidationError(
                f"The {entity.name} does not meet the criteria for approval",
                [FieldError("(record)", f"Needs: {criteria}")],
            )
        note = {"approval": [None, fallback.name], "outcome": [None, "criteria not met"]}
        fallback.workflow.move(
            run, record_id, current, fallback.otherwise.to, "submit", None, fallback.otherwise.steps, comment, note
        )
        return
    submission = new_id()
    rows, pending = [], None
    for position, step in enumerate(chosen.steps):
        applies = step.when is None or step.when.holds(env)
        approver = None
        if applies and step.approver is not None:
            approver = step.approver.evaluate(env)
            if not is_id(approver):
                raise ValidationError(
                    f"The approval step {step.name!r} has no approver for this {entity.name}",
                    [FieldError("(record)", f"{step.approver.source} names no user.")],
                )
        state = "skipped" if not applies else ("waiting" if pending is not None else "pending")
        row = {
            "id": new_id(),
            "entity": entity.name,
            "record_id": record_id,
            "process": chosen.name,
            "submission": submission,
            "step": step.name,
            "position": position,
            "state": state,
            "approver_user": approver,
            "approver_role": step.role if applies else None,
            "submitted_by": actor.user_id,
            "submitted_at": run.now,
        }
        if state == "pending":
            pending = row
        rows.append(row)
    run.conn.execute(st.approval.insert(), rows)
    note = {"approval": [None, chosen.name], "submission": [None, submission]}
    chosen.workflow.move(run, record_id, current, chosen.submit_to, "submit", comment=comment, note=note)
    if pending is None:  # no step applies: approved as submitted
        _finish(run, chosen, record_id, chosen.on_approve, "approve", None)
    else:
        _notify_approvers(run, chosen, record_id, pending)


def decide(
    run: Any, approval: Approval, row: Any, record_id: str, current: dict[str, Any], comment: str | None, yes: bool
) -> None:
    actor, verb = run.actor, "approve" if yes else "reject"
    if not (
        actor.is_admin
        or (row.approver_user is not None and row.approver_user == actor.user_id)
        or (row.approver_role is not None and row.approver_role in actor.roles)
    ):
        who = f"users with the role {row.approver_role}" if row.approver_role else "its approver"
        raise PermissionDenied(f"The step {row.step!r} is decided by {who} (or an administrator)")
    a = st.approval
    decided = {"decided_by": actor.user_id, "decided_at": run.now, "comment": comment}
    run.conn.execute(a.update().where(a.c.id == row.id).values(state="approved" if yes else "rejected", **decided))
    entity = approval.workflow.entity.name
    note = {"approval": [None, approval.name], "step": [None, row.step]}
    run.audit(entity, record_id, verb, {**note, **({"comment": [None, comment]} if comment else {})})
    later = (a.c.submission == row.submission, a.c.state == "waiting")
    if yes:
        following = run.conn.execute(sa.select(a).where(*later).order_by(a.c.position).limit(1)).first()
        if following is not None:
            run.conn.execute(a.update().where(a.c.id == following.id).values(state="pending"))
            _notify_approvers(run, approval, record_id, dict(following._mapping))
            return
        _finish(run, approval, record_id, approval.on_approve, "approve", comment, row.submitted_by)
    else:
        run.conn.execute(a.update().where(*later).values(state="skipped"))
        _finish(run, approval, record_id, approval.on_reject, "reject", comment, row.submitted_by)


def recall(
    run: Any, approval: Approval, row: Any, record_id: str, current: dict[str, Any], comment: str | None
) -> None:
    actor = run.actor
    if not actor.is_admin and row.submitted_by != actor.user_id:
        raise PermissionDenied("Only the submitter (or an administrator) may recall an approval request")
    a = st.approval
    open_steps = (a.c.submission == row.submission, a.c.state.in_(("pending", "waiting")))
    run.conn.execute(a.update().where(a.c.id == row.id).values(decided_by=actor.user_id, decided_at=run.now))
    run.conn.execute(a.update().where(*open_steps).values(state="recalled", comment=comment))
    if approval.on_recall is not None:
        to, steps = approval.on_recall.to, approval.on_recall.steps
    else:
        to, steps = _submitted_from(run, approval, record_id, row.submission), []
    note = {"approval": [None, approval.name]}
    approval.workflow.move(run, record_id, current, to, "recall", None, steps, comment, note)


def _submitted_from(run: Any, approval: Approval, record_id: str, submission: str) -> str:
    """The state the record left when ``submission`` was made (from its history)."""
    au = st.audit
    entity = approval.workflow.entity.name
    flush_writes(run.conn)
    rows = run.conn.execute(
        sa.select(au.c.changes)
        .where(au.c.entity == entity, au.c.record_id == record_id, au.c.action == "transition")
        .order_by(au.c.at.desc())
    ).scalars()
    for changes in rows:
        if (changes or {}).get("submission") == [None, submission]:
            return str(changes[approval.field][0])
    return sorted(approval.sources)[0]


def _finish(
    run: Any,
    approval: Approval,
    record_id: str,
    outcome: Outcome,
    name: str,
    comment: str | None,
    submitter: str | None = None,
) -> None:
    workflow = approval.workflow
    current = run.fetch(workflow.entity, record_id) or {}
    note = {"approval": [None, approval.name]}
    workflow.move(run, record_id, current, outcome.to, name, None, outcome.steps, comment, note)
    if submitter is not None and submitter != run.actor.user_id:
        verb = "approved" if name == "approve" else "rejected"
        _notify(run, approval, record_id, [submitter], f"{approval.label} {verb}", comment)


# --- in-app notifications ----------------------------------------------------------------------------
def _notify_approvers(run: Any, approval: Approval, record_id: str, step: dict[str, Any]) -> None:
    from engine.automation.notify import resolve_recipients

    users = [step["approver_user"]] if step.get("approver_user") else []
    roles = [step["approver_role"]] if step.get("approver_role") else []
    ids = [r.user_id for r in resolve_recipients(run, users, roles) if r.user_id is not None]
    label = next((s.label for s in approval.steps if s.name == step["step"]), step["step"])
    _notify(run, approval, record_id, ids, f"Approval requested ({label})", None)


def _notify(run: Any, approval: Approval, record_id: str, users: list[str], what: str, body: str | None) -> None:
    """One in-app notification per user, if the catalog has the ``notification`` entity."""
    notification = run.snap.catalog.entities.get("notification")
    if notification is None or not {"user", "title"} <= set(notification.fields):
        return
    entity = approval.workflow.entity
    record = run.fetch(entity, record_id) or {}
    title = f"{what}: {record.get(entity.title_field) or record_id}"
    values = {
        "title": title[: notification.fields["title"].max_length or 200],
        "body": body,
        "related_entity": entity.name,
        "related_id": record_id,
    }
    values = {k: v for k, v in values.items() if k in notification.fields and v is not None}
    for user in dict.fromkeys(users):  # the recipient owns it: "own" scopes show it to them only
        run.create(notification, {**values, "user": user, "owner": user}, approval.workflow.source)
