"""The expression language: one Lark grammar, one checker, two compilers.

``compile_expression`` parses, type-checks against an entity and compiles once; the
resulting ``Expression`` evaluates in Python (``evaluate``/``holds``) and turns into a
SQLAlchemy expression (``to_sql``) with the same answer on the same data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.dsl import nodes
from engine.dsl.checker import Scope, check
from engine.dsl.functions import FunctionRegistry, builtins
from engine.dsl.parser import dsl_error, parse
from engine.dsl.sqlparts import SqlContext
from engine.dsl.to_python import Env, Fn, compile_to_python
from engine.dsl.to_sql import compile_to_sql
from engine.dsl.types import Type
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef

__all__ = ["Env", "Expression", "SqlContext", "compile_expression", "default_functions", "sql_context"]

_DEFAULT_FUNCTIONS: FunctionRegistry | None = None


def default_functions() -> FunctionRegistry:
    global _DEFAULT_FUNCTIONS  # the standard library is immutable; plugins extend a copy
    if _DEFAULT_FUNCTIONS is None:
        from engine.plugins import add_dsl_functions

        _DEFAULT_FUNCTIONS = add_dsl_functions(builtins())
    return _DEFAULT_FUNCTIONS


@dataclass(frozen=True)
class Expression:
    source: str
    entity: str
    tree: nodes.Node = field(repr=False)
    type: Type
    python: Fn = field(repr=False)

    @property
    def sql_ready(self) -> bool:
        """Can this expression run in SQL (no Python-only function, no old/changed)?"""
        for node in nodes.walk(self.tree):
            if isinstance(node, nodes.Call):
                if node.function == "changed" or (hasattr(node.function, "sql") and node.function.sql is None):
                    return False
            if isinstance(node, nodes.Path) and node.root in ("old", "outer"):
                return False
        return True

    def evaluate(self, env: Env) -> Any:
        return self.python(env)

    def holds(self, env: Env) -> bool:
        """A condition holds only when it is true (unknown counts as false, as in SQL WHERE)."""
        return self.python(env) is True

    def to_sql(self, tables: Any, ctx: SqlContext, table: Any = None) -> Any:
        return compile_to_sql(self.tree, tables, ctx, tables.main(self.entity) if table is None else table, self.entity)


def compile_expression(
    source: str,
    entity: EntityDef,
    catalog: Catalog,
    *,
    functions: FunctionRegistry | None = None,
    where: str = "expression",
    updates: bool = False,
    sql: bool = False,
    expect: str | None = None,
    record_entity: EntityDef | None = None,
    variables: Mapping[str, EntityDef | Type] | None = None,
) -> Expression:
    """Parse, check and compile ``source`` for records of ``entity``.

    ``sql`` requires a SQL form (filters, permission rules); ``updates`` allows
    ``old.FIELD`` and ``changed(FIELD)``; ``expect="bool"`` requires a condition.
    ``record_entity`` (link filters) makes ``$record`` mean the record being edited
    while bare names are fields of the candidate ``entity``. ``variables`` are the named
    values of automation steps (``$input``, ``$NAME``, ``$item``; see engine.dsl.checker).
    """
    tree = parse(source, where)
    scope = Scope(
        catalog,
        entity,
        functions or default_functions(),
        source,
        where,
        updates,
        sql,
        record_entity=record_entity,
        variables=variables or {},
    )
    kind = check(tree, scope)
    if kind.many:
        raise dsl_error(source, tree.line, tree.column, f"this names many values ({kind}); aggregate them", where)
    if expect == "bool" and kind.kind not in ("bool", "null", "any"):
        raise dsl_error(source, tree.line, tree.column, f"a condition must be true or false, not {kind}", where)
    return Expression(source, entity.name, tree, kind, compile_to_python(tree))


def sql_context(
    dialect: str,
    now: dt.datetime,
    user_id: str | None = None,
    roles: frozenset[str] = frozenset(),
    teams: frozenset[str] = frozenset(),
    team_ids: frozenset[str] = frozenset(),
    team_members: frozenset[str] = frozenset(),
) -> SqlContext:
    return SqlContext(
        dialect, now, now.astimezone(dt.UTC).date(), user_id, roles, teams, team_ids=team_ids, team_members=team_members
    )
