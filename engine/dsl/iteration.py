"""What an automation step iterates over (``for_each:``): child rows, links or a list.

``compile_collection`` checks the expression like any other, but where an ordinary
expression must name one value, this one must name many: a table field (the rows), a
``links`` field (the linked records), a ``multi_enum`` field or a literal list. It also
says what each item is, so the step's own expressions can be checked with ``$item``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.dsl import nodes as n
from engine.dsl.checker import Scope, check
from engine.dsl.functions import FunctionRegistry
from engine.dsl.parser import dsl_error, parse
from engine.dsl.to_python import Env, _follow, _root, _rows, _rows_owner, _split_many, compile_to_python
from engine.dsl.types import Type
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef


@dataclass(frozen=True)
class Collection:
    source: str
    #: what ``$item`` is: a row or record of an entity, or a plain value of this type
    item: EntityDef | Type
    values: Callable[[Env], list[Any]]


def compile_collection(
    source: str,
    entity: EntityDef,
    catalog: Catalog,
    functions: FunctionRegistry,
    *,
    where: str = "for_each",
    variables: Mapping[str, EntityDef | Type] | None = None,
) -> Collection:
    """Check ``source`` over records of ``entity``; raise DslError unless it names many values."""
    tree = parse(source, where)
    kind = check(tree, Scope(catalog, entity, functions, source, where, variables=variables or {}))
    if isinstance(tree, n.ListLiteral):
        items = compile_to_python(tree)
        return Collection(source, kind.item or Type("null"), lambda env: list(items(env)))
    if isinstance(tree, n.Path) and kind.many:
        before, many, after = _split_many(tree.steps)
        if after:
            raise dsl_error(
                source, tree.line, tree.column, f"for_each ends at the rows: write {many.field.name}", where
            )
        target = many.field.opt("of") if many.field.type == "table" else many.field.target
        return Collection(source, catalog.entities[target or ""], _rows_of(tree, before, many))
    if kind.kind == "list" and kind.item is not None:
        value = compile_to_python(tree)
        return Collection(source, kind.item, lambda env: list(value(env) or []))
    raise dsl_error(source, tree.line, tree.column, f"for_each takes child rows, links or a list, not {kind}", where)


def _rows_of(tree: n.Path, before: list[Any], many: Any) -> Callable[[Env], list[Any]]:
    root = _root(tree)
    start = _follow(before) if before else None

    def rows(env: Env) -> list[Any]:
        record = _rows_owner(env, start(env, root(env)), before) if start else root(env)
        return _rows(env, record, many)

    return rows
