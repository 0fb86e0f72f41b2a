"""The ``assign`` action: give the trigger record a working user, chosen by a strategy.

```yaml
- assign:
    field: assignee                                 # a user field of the trigger record, or owner
    strategy: least_loaded                          # round_robin | least_loaded | skill | rule
    candidates: '"l1_support" in teams.name'        # a condition over the *user*; $record = trigger
    open: 'status not in ("resolved", "closed")'    # least_loaded: which records count as load
```

Candidates are users: bare names in ``candidates`` and ``skill`` are fields of the candidate
user, ``$record.x`` is a field of the trigger record, and the conditions run in SQL. Only
working users are ever chosen: ``active`` ones, and not those marked ``away`` when the user
entity has that flag (a pack may add it). The choice and the reason for it are written to
the record's history (action ``assign``); when no one fits, nothing changes and the history
says so. ``only_if_empty`` (default true) leaves a record that already has a user alone.

Round robin keeps one cursor per action (the last user it chose) in
``tessera_assignment_cursor``, locked while choosing, so concurrent writes take turns; the
least-loaded count runs after that lock, so two concurrent assignments see each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.automation.actions import Step, Target, register
from engine.automation.model import BaseComponent
from engine.automation.values import Compiler, Value
from engine.dsl import Env, Expression, SqlContext, compile_expression, sql_context
from engine.errors import DslError
from engine.meta.model import EntityDef
from engine.meta.source import format_path
from engine.storage import system_tables as st
from engine.storage.evaluation import RecordLoader, make_env

STRATEGIES = ("round_robin", "least_loaded", "skill", "rule")
#: how ``skill`` and ``rule`` pick one of several matching users
BALANCES = ("round_robin", "least_loaded")
KEYS = frozenset(
    {
        "field",
        "strategy",
        "candidates",
        "candidates_from",
        "skill",
        "rules",
        "open",
        "balance",
        "only_if_empty",
        "team_field",
    }
)
USER = "user"
#: more candidates than this are not considered (in id order)
MAX_CANDIDATES = 10_000


def working_conditions(user: EntityDef) -> list[str]:
    """Who may be assigned at all, as conditions over the user entity."""
    conditions = ["active == true"] if "active" in user.fields else []
    away = user.fields.get("away")
    if away is not None and away.type == "bool":
        conditions.append("coalesce(away, false) == false")
    return conditions


@dataclass
class Route:
    """One entry of ``rules:`` (strategy ``rule``): when it holds, ``to`` a user or among ``candidates``."""

    label: str
    when: Expression | None
    to: Value | None
    to_source: str
    candidates: Expression | None


@dataclass
class Holders:
    """``candidates_from``: only users named in ``field`` of the ``entity`` records where ``where``
    holds (the users holding a valid certification for the case's OEM, the members of a rota)."""

    entity: str
    field: str
    where: Expression | None

    def ids(self, tables: Any, ctx: SqlContext) -> Any:
        table = tables.main(self.entity)
        conditions = [table.c.deleted_at.is_(None), table.c[self.field].is_not(None)]
        if self.where is not None:
            conditions.append(self.where.to_sql(tables, ctx))
        return sa.select(table.c[self.field]).where(*conditions)


@dataclass
class Assignment:
    """A compiled ``assign`` action."""

    field: str
    strategy: str
    balance: str
    #: conditions over the user every choice must meet: working, team, ``candidates``
    pool: list[Expression]
    skill: Expression | None
    open: Expression | None
    routes: list[Route]
    only_if_empty: bool
    #: where the action sits in its definition (``do[0].assign``): the cursor key with the source
    path: str
    holders: Holders | None = None

    def __call__(self, run: Any, target: Target) -> None:
        record = target.record(run)
        current = record.get(self.field)
        if current is not None and self.only_if_empty:
            return
        env = run.env(target.entity, record, target.event.old)
        user_id, reason = _Choice(run, self, target, env).choose()
        entity, record_id = target.entity.name, target.record_id
        if user_id is None:
            run.audit(entity, record_id, "assign", {"reason": [None, f"{self.field} not assigned: {reason}"]})
            return
        if user_id != current:
            run.update(target.entity, record_id, {self.field: user_id}, target.source)
        run.audit(entity, record_id, "assign", {self.field: [current, user_id], "reason": [None, reason]})


class _Choice:
    """Choosing one user for one record, inside the write's transaction."""

    def __init__(self, run: Any, spec: Assignment, target: Target, env: Env):
        self.run, self.spec, self.target = run, spec, target
        self.env = env
        self.key = f"{target.source} {spec.path}"[:200]
        loader = RecordLoader(run.conn, run.snap)
        outer = make_env(loader, run.actor, run.now, {}, outer=env.record)
        ctx = sql_context(run.conn.dialect.name, run.now, run.actor.user_id, run.actor.roles)
        self.ctx: SqlContext = replace(ctx, outer=outer)

    def choose(self) -> tuple[str | None, str]:
        spec = self.spec
        if spec.strategy == "rule":
            return self.route()
        if spec.strategy == "skill":
            assert spec.skill is not None
            ids = self.candidates([spec.skill])
            if not ids:
                return None, f"no working candidate has the skill ({spec.skill.source})"
            user_id, reason = self.pick(ids, spec.balance, self.key)
            return user_id, f"skill ({spec.skill.source}): {reason}"
        ids = self.candidates([])
        if not ids:
            return None, "no working user among the candidates"
        return self.pick(ids, spec.strategy, self.key)

    def route(self) -> tuple[str | None, str]:
        for i, route in enumerate(self.spec.routes):
            if route.when is not None and not route.when.holds(self.env):
                continue
            if route.to is not None:
                user_id = route.to(self.env)
                if isinstance(user_id, str) and self.candidates([], only=user_id):
                    return user_id, f"{route.label}: {route.to_source}"
                continue
            ids = self.candidates([route.candidates] if route.candidates is not None else [])
            if ids:
                user_id, reason = self.pick(ids, self.spec.balance, f"{self.key} rules[{i}]")
                return user_id, f"{route.label}: {reason}"
        return None, "no rule gave a working user"

    def candidates(self, extra: list[Expression], only: str | None = None) -> list[str]:
        """Ids of the working users that meet the pool's and ``extra`` conditions, sorted."""
        tables = self.run.snap.tables
        users = tables.main(USER)
        where = [users.c.deleted_at.is_(None), *[c.to_sql(tables, self.ctx) for c in [*self.spec.pool, *extra]]]
        if only is not None:
            where.append(users.c.id == only)
        if self.spec.holders is not None:
            where.append(users.c.id.in_(self.spec.holders.ids(tables, self.ctx)))
        query = sa.select(users.c.id).where(*where).order_by(users.c.id).limit(MAX_CANDIDATES)
        return sorted(self.run.conn.execute(query).scalars())

    def pick(self, ids: list[str], how: str, key: str) -> tuple[str, str]:
        cursor = _Cursor(self.run.conn, key, self.run.now)  # locked before the load is counted
        if how == "round_robin":
            return cursor.next(ids), f"round robin, next of {len(ids)} candidate{_s(len(ids))}"
        loads = self.loads(ids)
        least = min(loads.values())
        tied = [i for i in ids if loads[i] == least]
        chosen = cursor.next(tied)
        others = ", ".join(str(n) for n in sorted(n for i, n in loads.items() if i != chosen)) or "none"
        entity = self.target.entity.name
        turn = f"; {len(tied)} tied, taken in turn" if len(tied) > 1 else ""
        return chosen, f"least loaded, {least} open {entity} record{_s(least)} (other candidates: {others}){turn}"

    def loads(self, ids: list[str]) -> dict[str, int]:
        """Open records of the trigger's entity per candidate in the assigned field (this record aside)."""
        tables = self.run.snap.tables
        table = tables.main(self.target.entity.name)
        column = table.c[self.spec.field]
        where = [table.c.deleted_at.is_(None), column.in_(ids), table.c.id != self.target.record_id]
        if self.spec.open is not None:
            where.append(self.spec.open.to_sql(tables, self.ctx))
        query = sa.select(column, sa.func.count()).where(*where).group_by(column)
        counts = {user_id: int(n) for user_id, n in self.run.conn.execute(query).all()}
        return {i: counts.get(i, 0) for i in ids}


class _Cursor:
    """The round-robin position of one assign action, locked until the transaction ends
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time anyway)."""

    def __init__(self, conn: Connection, key: str, now: Any):
        self.conn, self.key, self.now = conn, key, now
        c = st.assignment_cursor
        insert = postgresql.insert(c) if conn.dialect.name == "postgresql" else sqlite.insert(c)
        conn.execute(insert.values(rule=key, last_user=None, updated_at=now).on_conflict_do_nothing())
        self.last = conn.execute(sa.select(c.c.last_user).where(c.c.rule == key).with_for_update()).scalar()

    def next(self, ids: list[str]) -> str:
        """The first of ``ids`` after the last one chosen (wrapping round); moves the cursor."""
        chosen = next((i for i in ids if self.last is None or i > self.last), ids[0])
        c = st.assignment_cursor
        self.conn.execute(c.update().where(c.c.rule == self.key).values(last_user=chosen, updated_at=self.now))
        self.last = chosen
        return chosen


def _s(n: int) -> str:
    return "" if n == 1 else "s"


# --- compiling -------------------------------------------------------------------------------------
class AssignAction:
    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if not isinstance(spec, dict) or set(spec) - KEYS:
            c.fail(f"assign takes {', '.join(sorted(KEYS))}", *path)
            return None
        user = c.catalog.entities.get(USER)
        field = _user_field(c, entity, spec.get("field"), path)
        strategy = spec.get("strategy", "round_robin")
        balance = spec.get("balance", "round_robin")
        if strategy not in STRATEGIES:
            c.fail(f"strategy is one of {', '.join(STRATEGIES)}", *path, "strategy")
            return None
        if balance not in BALANCES or ("balance" in spec and strategy not in ("skill", "rule")):
            c.fail(f"balance ({', '.join(BALANCES)}) picks among several users of strategy skill or rule", *path)
            return None
        if user is None or field is None or not _needs(c, spec, strategy, balance, path):
            return None
        problems_before = len(c.problems.items)
        pool = [_user_condition(c, source, user, entity, *path) for source in working_conditions(user)]
        team_field = spec.get("team_field")
        if team_field is not None:
            if _typed_field(c, entity, team_field, ("team",), path, "team_field") is None:
                return None
            narrow = f"$record.{team_field} == null or $record.{team_field} in teams"
            pool.append(_user_condition(c, narrow, user, entity, *path, "team_field"))
        if "candidates" in spec:
            pool.append(_user_condition(c, spec["candidates"], user, entity, *path, "candidates"))
        skill = _user_condition(c, spec["skill"], user, entity, *path, "skill") if "skill" in spec else None
        open_ = None
        if "open" in spec:
            open_ = _condition(c, spec["open"], entity, entity, *path, "open")
        holders = _holders(c, spec["candidates_from"], entity, path) if "candidates_from" in spec else None
        routes = [_route(c, r, i, user, entity, (*path, "rules", i)) for i, r in enumerate(spec.get("rules") or [])]
        if len(c.problems.items) != problems_before:
            return None
        return Assignment(
            field=field,
            strategy=strategy,
            balance=balance,
            pool=[p for p in pool if p is not None],
            skill=skill,
            open=open_,
            routes=[r for r in routes if r is not None],
            only_if_empty=spec.get("only_if_empty", True) is not False,
            path=format_path(list(path)),
            holders=holders,
        )


def _needs(c: Compiler, spec: dict[str, Any], strategy: str, balance: str, path: tuple[Any, ...]) -> bool:
    """The keys each strategy needs, and no key it would ignore."""
    ok = True
    if (strategy == "skill") != ("skill" in spec):
        c.fail("skill (a condition over the candidate user) goes with strategy skill", *path)
        ok = False
    if (strategy == "rule") != bool(spec.get("rules")):
        c.fail("rules (a list of {when, to} or {when, candidates}) go with strategy rule", *path)
        ok = False
    if "open" in spec and "least_loaded" not in (strategy, balance):
        c.fail("open says which records count as load: use it with least_loaded", *path, "open")
        ok = False
    if not isinstance(spec.get("only_if_empty", True), bool):
        c.fail("only_if_empty is true or false", *path, "only_if_empty")
        ok = False
    return ok


def _holders(c: Compiler, raw: Any, entity: EntityDef, path: tuple[Any, ...]) -> Holders | None:
    """``candidates_from: {entity, field, where}``: the users a user field of other records names."""
    where = (*path, "candidates_from")
    if not isinstance(raw, dict) or set(raw) - {"entity", "field", "where"} or not {"entity", "field"} <= set(raw):
        c.fail("candidates_from is {entity: NAME, field: USER FIELD, where: CONDITION}", *where)
        return None
    source = c.catalog.entities.get(raw["entity"]) if isinstance(raw["entity"], str) else None
    if source is None:
        c.fail(f"candidates_from names an entity; {raw['entity']!r} is none", *where, "entity")
        return None
    fd = _typed_field(c, source, raw["field"], ("user", "link"), where, "field")
    if fd is None:
        return None
    if fd.type == "link" and fd.target != USER:
        c.fail(f"field needs a user field; {source.name}.{fd.name} links to {fd.target}", *where, "field")
        return None
    condition = None
    if "where" in raw:
        condition = _condition(c, raw["where"], source, entity, *where, "where")
        if condition is None:
            return None
    return Holders(source.name, str(fd.name), condition)


def _route(
    c: Compiler, raw: Any, index: int, user: EntityDef, entity: EntityDef, path: tuple[Any, ...]
) -> Route | None:
    if not isinstance(raw, dict) or set(raw) - {"when", "to", "candidates"} or ("to" in raw) == ("candidates" in raw):
        c.fail("a rule is {when: CONDITION, to: '=user expression'} or {when: ..., candidates: CONDITION}", *path)
        return None
    when = c.condition(raw.get("when"), entity, *path, "when")
    label = f"rule {index + 1} ({raw.get('when', 'always')})"
    if "to" in raw:
        to = raw["to"]
        if not isinstance(to, str) or not to.startswith("="):
            c.fail("to is an '=expression' giving the user, e.g. '=client.owner'", *path, "to")
            return None
        return Route(label, when, c.value(to, entity, *path, "to"), to, None)
    candidates = _user_condition(c, raw["candidates"], user, entity, *path, "candidates")
    return Route(label, when, None, "", candidates)


def _user_field(c: Compiler, entity: EntityDef, name: Any, path: tuple[Any, ...]) -> str | None:
    if name == "owner" and "owner" not in entity.fields:
        return "owner"  # the record's owner (a system field): who owns it for the own/team scopes
    fd = _typed_field(c, entity, name, ("user", "link"), path, "field")
    if fd is None:
        return None
    if fd.type == "link" and fd.target != USER:
        c.fail(f"field needs a user field; {entity.name}.{fd.name} links to {fd.target}", *path, "field")
        return None
    owner = c.automation.owned_fields.get(entity.name, {}).get(fd.name) if c.automation is not None else None
    if fd.is_computed or owner:
        why = "computed" if owner is None else f"owned by workflow {owner!r}"
        c.fail(f"{entity.name}.{fd.name} is {why}; assign cannot write it", *path, "field")
        return None
    return str(fd.name)


def _typed_field(
    c: Compiler, entity: EntityDef, name: Any, types: tuple[str, ...], path: tuple[Any, ...], key: str
) -> Any:
    fd = entity.fields.get(name) if isinstance(name, str) else None
    if fd is None:
        c.fail(f"{key} names a field of {entity.name}; {name!r} is none", *path, key)
        return None
    if fd.type not in types:
        c.fail(f"{key} needs a field of type {' or '.join(types)}; {entity.name}.{name} is {fd.type}", *path, key)
        return None
    return fd


def _user_condition(c: Compiler, source: Any, user: EntityDef, entity: EntityDef, *path: Any) -> Expression | None:
    """A condition over candidate users; ``$record`` is the trigger record."""
    return _condition(c, source, user, entity, *path)


def _condition(c: Compiler, source: Any, over: EntityDef, entity: EntityDef, *path: Any) -> Expression | None:
    if not isinstance(source, str):
        c.fail("a condition is a DSL text", *path)
        return None
    try:
        return compile_expression(
            source,
            over,
            c.catalog,
            functions=c.functions,
            where=c.definition.where(*path),
            sql=True,
            expect="bool",
            record_entity=entity,
        )
    except DslError as exc:
        c.fail(exc.detail.replace("\n", "\n    "), *path)
        return None


class _Component(BaseComponent):
    """Assignment registers its action only; it reacts to no event itself."""

    name = "assignment"


COMPONENT = _Component()
register("assign", AssignAction())
