"""Permissions from metadata, enforced by the data-access layer.

Each entity's ``permissions:`` maps a role to actions (``read create update delete export
import``) with a scope (``all team own account none``), optional per-field access
(``fields: {cost: none, margin_pct: read}``) and an optional DSL record rule (``where``).
A scope is itself written in the DSL (``owner == $user``...), so one definition compiles
to SQL for lists and to Python for single records, and both always agree.

Rules: administrators (and the engine itself) may do everything; otherwise a role that an
entity does not mention gets nothing (default deny); several roles add up (a record is
readable when any role's scope and rule allow it); a field is hidden only when every role
that may read the entity hides it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.dsl import Expression
from engine.dsl import nodes as n
from engine.dsl.parser import dsl_error
from engine.errors import FieldError
from engine.meta.model import EntityDef, FieldDef

ACTIONS = ("read", "create", "update", "delete", "export", "import")
SCOPES = ("all", "team", "own", "account", "none")
#: every signed-in user may read the engine's own entities (names in pickers); admins write
SYSTEM_READ = {"read": "all"}


def _derived(fd: FieldDef) -> bool:
    return fd.is_computed or fd.is_rollup


def scope_of(value: Any) -> str:
    if value is True:
        return "all"
    if value is False or value is None:
        return "none"
    return str(value)


def account_field(entity: EntityDef, user: EntityDef) -> str | None:
    """The field tying ``entity`` to the user's account, or ``id`` for the account entity itself."""
    link = user.fields.get("account")
    target = link.target if link is not None else None
    if target is None:
        return None
    if entity.name == target:
        return "id"
    name = entity.account_field or "account"
    fd = entity.fields.get(name)
    return name if fd is not None and fd.target == target else None


def scope_source(entity: EntityDef, scope: str, user: EntityDef) -> str | None:
    """The DSL condition of a scope; None means every record."""
    owners = ["owner", *entity.owner_fields]
    if scope == "all":
        return None
    if scope == "own":
        return " or ".join(f"{f} == $user" for f in owners)
    if scope == "team":
        teams = [f.name for f in entity.fields.values() if f.type == "team"]
        return " or ".join([f"is_team_member({f})" for f in owners] + [f"is_my_team({f})" for f in teams])
    if scope == "account":
        field = account_field(entity, user)
        return f"{field} == $user.account" if field else "false"
    return "false"


@dataclass(frozen=True)
class Grant:
    scope: Expression | None  # None: all records
    where: Expression | None


class Access:
    """What one actor may do, under one metadata snapshot."""

    def __init__(self, snap: Any, actor: Actor):
        self.snap, self.actor = snap, actor
        self.unrestricted = actor.is_admin

    def _grants(self, entity: EntityDef) -> dict[str, Any]:
        if entity.system and not entity.permissions:
            return {role: SYSTEM_READ for role in self.actor.roles} or {"": SYSTEM_READ}
        return {role: entity.permissions[role] for role in self.actor.roles if role in entity.permissions}

    def grants(self, entity: EntityDef, action: str) -> list[Grant] | None:
        """The grants allowing ``action``; None when unrestricted, [] when denied."""
        if self.unrestricted:
            return None
        user = self.snap.catalog.entities["user"]
        out = []
        for spec in self._grants(entity).values():
            scope = scope_of(spec.get(action, "none"))
            if scope == "none":
                continue
            source = scope_source(entity, scope, user)
            scope_expr = None if source is None else self.snap.filter_expression(entity, source, "permissions")
            where = spec.get("where")
            where_expr = self.snap.filter_expression(entity, where, "permissions.where") if where else None
            if scope_expr is None and where_expr is None:
                return None  # one role sees everything: no restriction at all
            out.append(Grant(scope_expr, where_expr))
        return out

    def can(self, entity: EntityDef, action: str) -> bool:
        grants = self.grants(entity, action)
        return grants is None or bool(grants)

    def predicate(self, entity: EntityDef, action: str, table: Any, ctx: Any) -> Any:
        """SQL condition of the records ``action`` may touch; None for all."""
        grants = self.grants(entity, action)
        if grants is None:
            return None
        if not grants:
            return sa.false()
        terms = []
        for grant in grants:
            parts = [g.to_sql(self.snap.tables, ctx, table) for g in (grant.scope, grant.where) if g is not None]
            terms.append(sa.and_(*parts))
        return sa.or_(*terms)

    def allows(self, entity: EntityDef, action: str, env: Any) -> bool:
        """The same condition in Python, for one record (writes check before and after)."""
        grants = self.grants(entity, action)
        if grants is None:
            return True
        return any(all(g.holds(env) for g in (grant.scope, grant.where) if g is not None) for grant in grants)

    # --- fields -------------------------------------------------------------------------
    def field_modes(self, entity: EntityDef) -> dict[str, str]:
        """``read`` or ``write`` for every field the actor may see (hidden ones are absent).

        A computed or rolled-up field that reads a field the actor may not see is hidden too
        (``margin = amount - cost`` would give ``cost`` away), through any chain of such
        fields. Cached per role set for the life of the metadata snapshot."""
        if self.unrestricted:
            return dict.fromkeys(entity.fields, "write")
        key = ("field_modes", self.actor.roles, entity.name)
        cached = self.snap.cache.get(key)
        if cached is None:
            cached = self._granted_modes(entity)
            for name in [name for name in cached if _derived(entity.fields[name])]:
                if self._reads_hidden(entity, entity.fields[name], set()):
                    del cached[name]
            self.snap.cache[key] = cached
        return dict(cached)

    def _granted_modes(self, entity: EntityDef) -> dict[str, str]:
        """The field modes the roles' ``fields:`` grant, before derived fields are checked."""
        readers = [spec for spec in self._grants(entity).values() if scope_of(spec.get("read", "none")) != "none"]
        modes: dict[str, str] = {}
        rank = {"none": 0, "read": 1, "write": 2}
        for name in entity.fields:
            best = max((rank[str(spec.get("fields", {}).get(name, "write"))] for spec in readers), default=0)
            if best:
                modes[name] = "write" if best == 2 else "read"
        return modes

    def _reads_hidden(self, entity: EntityDef, fd: FieldDef, seen: set[tuple[str, str]]) -> bool:
        """Does the expression of a computed or rollup field read a field the actor may not see?"""
        seen.add((entity.name, fd.name))
        exprs = self._derivation(entity, fd)
        if exprs is None:
            return True
        for expr in exprs:
            for node in n.walk(expr.tree):
                if not isinstance(node, n.Path):
                    continue
                for step in node.steps:
                    owner = self.snap.catalog.entities.get(step.entity)
                    name = step.field.name
                    if owner is None or name not in owner.fields or (owner.name, name) in seen:
                        continue  # system fields (id, owner...) are always readable
                    # child rows have no permissions of their own: their parent's field guards them
                    if not owner.child and name not in self._granted_modes(owner):
                        return True
                    if _derived(owner.fields[name]) and self._reads_hidden(owner, owner.fields[name], seen):
                        return True
        return False

    def _derivation(self, entity: EntityDef, fd: FieldDef) -> list[Expression] | None:
        """The expressions a computed field (its ``compute``) or a rollup (its value and filter
        over the counted entity, as the rollups component compiled them) is made of; None
        when what it reads is unknown (a rollup that did not compile: hide it)."""
        if fd.is_computed:
            exprs = self.snap.expressions(entity.name)
            found = exprs.stored.get(fd.name) or exprs.virtual.get(fd.name)
            return [found] if found is not None else []
        from engine.automation.rollups import rollups_of  # the automation layer builds on this one

        rollups = rollups_of(self.snap, entity.name, [fd.name])
        if not rollups:
            return None
        return [e for r in rollups for e in (r.value, r.filter) if e is not None]

    def visible_catalog(self) -> Any:
        """The catalog with only the entities and fields this actor may read (cached per role set)."""
        if self.unrestricted:
            return self.snap.catalog
        key = ("catalog", self.actor.roles)
        cached = self.snap.cache.get(key)
        if cached is None:
            entities = {}
            for entity in self.snap.catalog.entities.values():
                if entity.child:
                    entities[entity.name] = entity
                elif self.can(entity, "read"):
                    hidden = self.hidden(entity)
                    entities[entity.name] = replace(
                        entity, fields={k: v for k, v in entity.fields.items() if k not in hidden}
                    )
            cached = self.snap.cache[key] = replace(self.snap.catalog, entities=entities)
        return cached

    def hidden(self, entity: EntityDef) -> set[str]:
        return set(entity.fields) - set(self.field_modes(entity))

    def check_expression(self, expr: Expression) -> None:
        """An expression may only read fields the actor can see (else: unknown field)."""
        if self.unrestricted:
            return
        for node in n.walk(expr.tree):
            if not isinstance(node, n.Path):
                continue
            for step in node.steps:
                owner = self.snap.catalog.entities.get(step.entity)
                if owner is None or step.field.name in (
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "created_by",
                    "updated_by",
                    "version",
                ):
                    continue
                if owner.child:  # rows have no permissions of their own: the parent's table field was a step
                    continue
                if not self.can(owner, "read") or step.field.name in self.hidden(owner):
                    raise dsl_error(
                        expr.source, node.line, node.column, f"{owner.name} has no field {step.field.name!r}", "filter"
                    )

    def write_errors(self, entity: EntityDef, values: dict[str, Any]) -> list[FieldError]:
        """Fields of a write the actor may not set: hidden ones are unknown, others read-only."""
        if self.unrestricted:
            return []
        modes = self.field_modes(entity)
        errors = []
        for name in values:
            if name not in entity.fields:
                continue
            mode = modes.get(name)
            if mode is None:
                errors.append(FieldError(name, "Unknown field."))
            elif mode == "read":
                errors.append(FieldError(name, "Is read-only for your role."))
        return errors


class PermissionPolicy:
    """What the workspace hands to the data-access layer: an ``Access`` per actor."""

    def for_actor(self, snap: Any, actor: Actor) -> Access:
        return Access(snap, actor)
