"""Type checking: resolve every name against the entity's effective metadata.

The checker turns a parsed tree into a typed one, or raises ``DslError`` with line,
column and a caret under the culprit: unknown field or function, wrong arity, a type
mismatch (``amount > "x"``, ``date + 3``), an enum value that is not an option, a link
compared with something that is not an id, ``old``/``changed`` outside update rules, and
Python-only functions where SQL is required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.dsl import nodes as n
from engine.dsl import types as T
from engine.dsl.functions import AGGREGATES, FunctionRegistry, switch_parts
from engine.dsl.parser import dsl_error
from engine.dsl.types import Type
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef, Origin

VARIABLES = ("$record", "$user", "$now", "$today")
JSON = Type("json")
_SYSTEM_OPTIONS = {
    "id": ("link", None),
    "version": ("int", None),
    "created_at": ("datetime", None),
    "updated_at": ("datetime", None),
    "created_by": ("user", None),
    "updated_by": ("user", None),
    "owner": ("user", None),
}


def system_field(entity: EntityDef, name: str) -> FieldDef | None:
    spec = _SYSTEM_OPTIONS.get(name)
    if spec is None:
        return None
    options: dict[str, Any] = {"type": spec[0]}
    if name == "id":
        options["to"] = entity.name
    return FieldDef(name, spec[0], options, Origin("(system)"), "system")


@dataclass(frozen=True)
class Step:
    """One hop of a path: read ``field`` of the current record (following links)."""

    field: FieldDef
    entity: str  # the entity the field belongs to


@dataclass(frozen=True)
class Scope:
    catalog: Catalog
    entity: EntityDef
    functions: FunctionRegistry
    source: str
    where: str = "expression"
    updates: bool = False  # old.FIELD and changed(FIELD) allowed
    sql: bool = False  # must compile to SQL
    row: EntityDef | None = None  # inside an aggregate condition: the row entity
    record_entity: EntityDef | None = None  # what $record means when it is not ``entity`` (link filters)
    #: named variables of automation steps: ``$input``, ``$NAME`` (``as:``), ``$item`` (``for_each``);
    #: an EntityDef is a record of it (``$client.name``), a Type a plain value
    variables: Mapping[str, EntityDef | Type] = field(default_factory=dict)


class Checker:
    def __init__(self, scope: Scope):
        self.scope = scope

    def fail(self, node: n.Node, message: str) -> Exception:
        return dsl_error(self.scope.source, node.line, node.column, message, self.scope.where)

    # --- entry -----------------------------------------------------------------------
    def check(self, node: n.Node) -> Type:
        method = getattr(self, f"_check_{type(node).__name__}")
        node.type = method(node)
        return node.type

    def require_one(self, node: n.Node) -> Type:
        kind = self.check(node)
        if kind.many:
            raise self.fail(node, f"this path names many values ({kind}); use sum(), count(), min(), max() or avg()")
        return kind

    # --- leaves ----------------------------------------------------------------------
    def _check_Literal(self, node: n.Literal) -> Type:
        return {
            "int": T.INT,
            "decimal": T.DECIMAL,
            "string": T.STRING,
            "bool": T.BOOL,
            "null": T.NULL,
            "date": T.DATE,
            "datetime": T.DATETIME,
            "duration": T.DURATION,
        }[node.kind]

    def _check_ListLiteral(self, node: n.ListLiteral) -> Type:
        item = T.NULL
        for child in node.items:
            kind = self.require_one(child)
            if not isinstance(child, n.Literal):
                raise self.fail(child, "list items must be literal values")
            if item.kind == "null":
                item = kind
            elif kind.kind != "null" and not T.comparable(item, kind):
                raise self.fail(child, f"a list mixes {item} and {kind}")
        return Type("list", item=item)

    def _field(self, entity: EntityDef, name: str, node: n.Node) -> FieldDef:
        fd = entity.fields.get(name) or system_field(entity, name)
        if fd is None:
            usable = sorted(f for f, d in entity.fields.items() if d.type != "secret")
            known = ", ".join(usable[:12]) + ("..." if len(usable) > 12 else "")
            raise self.fail(node, f"{entity.name} has no field {name!r} (fields: {known})")
        if fd.type == "secret":
            raise self.fail(node, f"{entity.name}.{name} is a secret and cannot be used in expressions")
        if fd.is_computed and not fd.opt("stored"):
            raise self.fail(
                node, f"{entity.name}.{name} is computed on read; use its expression here, or declare it 'stored: true'"
            )
        return fd

    def _walk(self, entity: EntityDef, names: list[str], node: n.Node, steps: list[Step]) -> Type:
        kind = Type("record", entity=entity.name)
        many = False
        for index, name in enumerate(names):
            if kind.kind not in ("record", "id") or kind.entity is None:
                article = "an" if str(kind)[0] in "aeiou" else "a"
                raise self.fail(node, f"{'.'.join(names[:index])} is {article} {kind}, it has no field {name!r}")
            # the first hop reads ``entity`` itself: it may be an action's input, not in the catalog
            current = entity if index == 0 else self.scope.catalog.entities.get(kind.entity)
            if current is None:  # a link into an entity the caller may not read: no field of it is known
                raise self.fail(node, f"{kind.entity} has no field {name!r}")
            fd = self._field(current, name, node)
            steps.append(Step(fd, current.name))
            if fd.type in ("table", "links"):
                many = True
                kind = Type("record", entity=fd.opt("of")) if fd.type == "table" else Type("id", entity=fd.target)
            else:
                # a json value is opaque: only == null / != null (its own kind keeps it out of operators)
                kind = JSON if fd.type == "json" else T.field_type(fd)
            if kind.kind == "id" and index + 1 < len(names):
                kind = Type("record", entity=kind.entity)
        if kind.kind == "record" and kind.entity and not many and names:
            kind = Type("id", entity=kind.entity)
        return kind.as_many() if many else kind

    def _check_Path(self, node: n.Path) -> Type:
        scope = self.scope
        head, names = node.head, node.names
        if head.startswith("$"):
            if head not in VARIABLES:
                return self._check_variable(node)
            if head in ("$now", "$today"):
                if names:
                    raise self.fail(node, f"{head} has no fields")
                node.root = head[1:]
                return T.DATETIME if head == "$now" else T.DATE
            if head == "$user":
                node.root = "user"
                user = scope.catalog.entities["user"]
                return self._walk(user, names, node, node.steps) if names else Type("id", entity="user")
            if scope.record_entity is not None and scope.record_entity is not scope.entity:
                node.root = "outer"
                outer = scope.record_entity
                return self._walk(outer, names, node, node.steps) if names else Type("id", entity=outer.name)
            node.root = "record"
            return self._walk(scope.entity, names, node, node.steps) if names else Type("id", entity=scope.entity.name)
        if head == "old":
            if not scope.updates:
                raise self.fail(node, "old.FIELD is only available in update rules")
            if not names:
                raise self.fail(node, "write old.FIELD")
            node.root = "old"
            return self._walk(scope.entity, names, node, node.steps)
        if scope.row is not None and (head in scope.row.fields or head in _SYSTEM_OPTIONS):
            node.root = "row"
            return self._walk(scope.row, [head, *names], node, node.steps)
        node.root = "record"
        return self._walk(scope.entity, [head, *names], node, node.steps)

    def _check_variable(self, node: n.Path) -> Type:
        """``$input.x``, ``$client.name``, ``$item`` (automation variables) and
        ``$settings.x`` (the one record of an entity declared ``singleton: true``)."""
        name, names = node.head[1:], node.names
        bound = self.scope.variables.get(name)
        node.var = name
        if isinstance(bound, Type):
            if names:
                article = "an" if str(bound)[0] in "aeiou" else "a"
                raise self.fail(node, f"{node.head} is {article} {bound}, it has no fields")
            node.root = "value"
            return bound
        if bound is not None:
            node.root = "var"
            if not names and bound.name.startswith("$"):
                raise self.fail(node, f"write {node.head}.FIELD")
            return self._walk(bound, names, node, node.steps) if names else Type("id", entity=bound.name)
        single = self.scope.catalog.entities.get(name)
        if single is not None and single.singleton:
            if not names:
                raise self.fail(node, f"write {node.head}.FIELD: the fields of the {name} record")
            node.root = "single"
            return self._walk(single, names, node, node.steps)
        usable = [*VARIABLES, *(f"${v}" for v in self.scope.variables)]
        singles = sorted(f"${e.name}" for e in self.scope.catalog.entities.values() if e.singleton)
        raise self.fail(node, f"unknown variable {node.head}; use one of {', '.join(usable + singles)}")

    # --- operators -------------------------------------------------------------------
    def _check_Unary(self, node: n.Unary) -> Type:
        kind = self.require_one(node.operand)
        if node.op == "not":
            if kind.kind not in ("bool", "null", "any"):
                raise self.fail(node.operand, f"'not' needs a condition, not {kind}")
            return T.BOOL
        if not (kind.numeric or kind.kind in ("duration", "null", "any")):
            raise self.fail(node.operand, f"cannot negate {kind}")
        return kind

    def _check_Binary(self, node: n.Binary) -> Type:
        op = node.op
        if op in ("and", "or"):
            for side in (node.left, node.right):
                kind = self.require_one(side)
                if kind.kind not in ("bool", "null", "any"):
                    raise self.fail(side, f"'{op}' needs conditions on both sides, not {kind}")
            return T.BOOL
        if op in ("in", "not_in"):
            return self._check_in(node)
        left, right = self.require_one(node.left), self.require_one(node.right)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self._check_comparison(node, left, right)
            return T.BOOL
        if op == "~":
            for side, kind in ((node.left, left), (node.right, right)):
                if kind.kind not in ("string", "null", "any"):
                    raise self.fail(side, f"'~' compares text, not {kind}")
            return T.BOOL
        return self._arithmetic(node, op, left, right)

    def _check_enum_literal(self, enum: Type, other: n.Node) -> None:
        if enum.options and isinstance(other, n.Literal) and other.kind == "string" and other.value not in enum.options:
            raise self.fail(other, f"{other.value!r} is not one of the options: {', '.join(enum.options)}")

    def _check_comparison(self, node: n.Binary, left: Type, right: Type) -> None:
        for a, b, other in ((left, right, node.right), (right, left, node.left)):
            if a.kind == "id" and b.kind not in ("id", "record", "null", "any"):
                # an id held as text (``related_id == id``: references to records of any entity)
                if not (b.kind == "string" and (b.options is None or isinstance(other, n.Literal))):
                    raise self.fail(other, f"a link to {a.entity} can only be compared with an id or null, not {b}")
            if a.kind == "string":
                self._check_enum_literal(a, other)
        if (left.kind == "id" and right.kind == "string") or (right.kind == "id" and left.kind == "string"):
            return  # an id written as a string literal
        check = T.comparable if node.op in ("==", "!=") else T.ordered
        if not check(left, right):
            raise self.fail(node, f"cannot compare {left} with {right} using {node.op}")

    def _check_in(self, node: n.Binary) -> Type:
        left = self.require_one(node.left)
        right = self.check(node.right)
        if right.many:
            item = right.one()
        elif right.kind == "list":
            item = right.item or T.NULL
        else:
            one = ' (a list of one item is written ("a",))' if isinstance(node.right, n.Literal) else ""
            raise self.fail(node.right, f'\'in\' needs a list such as ("a", "b") or a list field, not {right}{one}')
        if not T.comparable(left, item) and not (left.kind == "id" and item.kind == "string"):
            raise self.fail(node, f"cannot look for {left} among {item} values")
        if left.kind == "string" and isinstance(node.right, n.ListLiteral):
            for child in node.right.items:
                self._check_enum_literal(left, child)
        if item.kind == "string" and isinstance(node.left, n.Literal):
            self._check_enum_literal(item, node.left)
        return T.BOOL

    def _arithmetic(self, node: n.Binary, op: str, left: Type, right: Type) -> Type:
        if "null" in (left.kind, right.kind) or "any" in (left.kind, right.kind):
            other = right if left.kind in ("null", "any") else left
            return other if other.kind not in ("null", "any") else T.ANY
        if left.numeric and right.numeric:
            if op == "%" and not (left.kind == right.kind == "int"):
                raise self.fail(node, "'%' works on whole numbers")
            return T.DECIMAL if op == "/" or "decimal" in (left.kind, right.kind) else T.INT
        temporal = {"date", "datetime"}
        if op in ("+", "-") and left.kind in temporal and right.kind == "duration":
            return left
        if op == "+" and left.kind == "duration" and right.kind in temporal:
            return right
        if op == "-" and left.kind in temporal and right.kind == left.kind:
            return T.DURATION
        if op in ("+", "-") and left.kind == right.kind == "duration":
            return T.DURATION
        if op == "*" and {left.kind, right.kind} in ({"duration", "int"}, {"duration", "decimal"}):
            return T.DURATION
        if op == "/" and left.kind == "duration" and right.numeric:
            return T.DURATION
        if op == "/" and left.kind == right.kind == "duration":
            return T.DECIMAL
        hint = (
            " (add a duration such as 3d)"
            if op in ("+", "-")
            and ((left.kind in temporal and right.numeric) or (left.numeric and right.kind in temporal))
            else ""
        )
        raise self.fail(node, f"cannot apply {op!r} to {left} and {right}{hint}")

    # --- calls -------------------------------------------------------------------------
    def _check_Call(self, node: n.Call) -> Type:
        name = node.name
        if name == "changed":
            return self._check_changed(node)
        if name == "count_where":
            return self._check_count_where(node)
        if name in AGGREGATES and node.args and self._is_many(node.args[0]):
            return self._check_aggregate(node)
        if name in ("sum", "count", "avg"):
            first = node.args[0] if node.args else None
            if isinstance(first, n.Path):
                self.check(first)  # sum(makers.nope): report the unknown field, not a missing aggregate
            elif first is not None and any(isinstance(x, n.Path) and self._is_many(x) for x in n.walk(first)):
                raise self.fail(
                    first,
                    f"{name}() takes child rows or one field of them, not a calculation; "
                    "compute the value in a field of the rows",
                )
            raise self.fail(node, f"{name}() needs child rows or links as its first argument, e.g. {name}(lines...)")
        function = self.scope.functions.get(name)
        if function is None:
            raise self.fail(node, f"unknown function {name!r}")
        node.function = function
        if self.scope.sql and function.sql is None:
            raise self.fail(node, f"{name}() cannot be used here: it has no SQL form (lists and filters need one)")
        if name == "switch":
            return self._check_switch(node)
        low, high = function.arity
        if len(node.args) < low or (high is not None and len(node.args) > high):
            expected = f"{low}" if low == high else f"{low} to {high}" if high is not None else f"at least {low}"
            raise self.fail(node, f"{name}() takes {expected} argument(s), got {len(node.args)}")
        kinds = [self.require_one(arg) for arg in node.args]
        generic: Type | None = None
        for index, (arg, kind) in enumerate(zip(node.args, kinds, strict=True)):
            param = function.params[min(index, len(function.params) - 1)].rstrip("?.")
            generic = self._match_param(node, arg, kind, param, generic)
        temporal = {k.kind for k, p in zip(kinds, function.params, strict=False) if p.rstrip("?.") == "temporal"}
        if len(temporal - {"null", "any"}) > 1:
            raise self.fail(node, f"{name}() needs two dates or two datetimes, not a mix")
        pattern = node.args[1] if name == "matches" and len(node.args) == 2 else None
        if isinstance(pattern, n.Literal) and pattern.kind == "string":
            try:  # a literal pattern is checked now rather than failing on every evaluation
                function.python("", pattern.value)
            except (ValueError, re.error) as exc:
                raise self.fail(pattern, f"{name}() cannot use this pattern: {exc}") from None
        return self._result(function.returns, kinds, generic)

    def _check_switch(self, node: n.Call) -> Type:
        """``switch(value, case, result, ..., default?)``: every case compares with the value as
        ``==`` would (enum options checked), every result and the default share one type."""
        if len(node.args) < 3:
            raise self.fail(node, "switch() takes a value, then cases and results in pairs, then an optional default")
        value = self.require_one(node.args[0])
        pairs, default, _ = switch_parts(node.args)
        generic: Type | None = None
        for case, result in pairs:
            kind = self.require_one(case)
            if value.kind != "null" and kind.kind != "null":
                self._check_comparison(n.Binary(case.line, case.column, "==", node.args[0], case), value, kind)
            generic = self._match_param(node, result, self.require_one(result), "T", generic)
        if default is not None:
            generic = self._match_param(node, default, self.require_one(default), "T", generic)
        return generic.one() if generic is not None else T.ANY

    def _match_param(self, call: n.Call, arg: n.Node, kind: Type, param: str, generic: Type | None) -> Type | None:
        if kind.kind in ("null", "any") or param == "any":
            return generic
        accepted = {"number": kind.numeric, "temporal": kind.kind in ("date", "datetime"), "T": True}.get(
            param, kind.kind == param or (param == "decimal" and kind.numeric)
        )
        if not accepted:
            wanted = "date or datetime" if param == "temporal" else param
            raise self.fail(arg, f"{call.name}() expects {wanted} here, not {kind}")
        if param == "T":
            if generic is not None and not T.comparable(generic, kind):
                raise self.fail(arg, f"{call.name}() mixes {generic} and {kind}")
            if generic is None or (generic.kind == "int" and kind.kind == "decimal"):
                return kind
        return generic

    def _result(self, returns: str, kinds: list[Type], generic: Type | None) -> Type:
        if returns == "T":
            return generic.one() if generic is not None else T.ANY
        if returns == "number":
            return T.DECIMAL if any(k.kind == "decimal" for k in kinds) else T.INT
        return {
            "string": T.STRING,
            "int": T.INT,
            "decimal": T.DECIMAL,
            "bool": T.BOOL,
            "date": T.DATE,
            "datetime": T.DATETIME,
            "duration": T.DURATION,
            "users": T.Type("list", item=T.Type("id", entity="user")),
        }.get(returns, T.ANY)

    def _is_many(self, node: n.Node) -> bool:
        if not isinstance(node, n.Path):
            return False
        probe = n.Path(node.line, node.column, node.head, list(node.names))
        try:
            return Checker(self.scope).check(probe).many
        except Exception:
            return False

    def _check_aggregate(self, node: n.Call) -> Type:
        name, args = node.name, node.args
        if len(args) > 2:
            raise self.fail(node, f"{name}() over rows takes the rows and an optional condition")
        rows = self.check(args[0])
        node.function = name
        path = args[0]
        assert isinstance(path, n.Path)
        row_entity = self._row_entity(path)
        if len(args) == 2:
            inner = Checker(replace(self.scope, row=row_entity))
            kind = inner.require_one(args[1])
            if kind.kind not in ("bool", "null"):
                raise self.fail(args[1], f"the condition of {name}() must be true or false, not {kind}")
        value = rows.one()
        if name == "count":
            return T.INT
        if name in ("sum", "avg"):
            if not (value.numeric or value.kind == "duration"):
                raise self.fail(args[0], f"{name}() adds numbers, not {value}")
            return T.DECIMAL if name == "avg" or value.kind == "decimal" else value
        if value.kind not in ("int", "decimal", "string", "date", "datetime", "duration"):
            raise self.fail(args[0], f"{name}() compares numbers, text or dates, not {value}")
        return value

    def _row_entity(self, path: n.Path) -> EntityDef:
        """The entity whose rows a to-many path iterates (its first table or links hop)."""
        for step in path.steps:
            if step.field.type == "table":
                return self.scope.catalog.entities[step.field.opt("of")]
            if step.field.type == "links":
                return self.scope.catalog.entities[step.field.target or ""]
        raise self.fail(path, "expected child rows or links")

    def _check_count_where(self, node: n.Call) -> Type:
        """``count_where(ENTITY, condition)``: how many live records of another entity match.
        In the condition, bare names are fields of the counted records (a name they lack is a
        field of this record, as in an aggregate's condition) and ``$record.x`` is this record."""
        args = node.args
        first = args[0] if args else None
        if len(args) != 2 or not isinstance(first, n.Path) or first.names or first.head.startswith("$"):
            raise self.fail(
                node, "write count_where(ENTITY, condition), e.g. count_where(task, owner == $record.owner)"
            )
        counted = self.scope.catalog.entities.get(first.head)
        if counted is None or counted.name.startswith("$"):
            raise self.fail(first, f"unknown entity {first.head!r}")
        if self.scope.row is not None:
            raise self.fail(node, "count_where() cannot be used inside the condition of an aggregate")
        first.root, first.var = "entity", counted.name
        first.type = Type("id", entity=counted.name)
        inner = Checker(replace(self.scope, updates=False, row=counted))
        kind = inner.require_one(args[1])
        if kind.kind not in ("bool", "null"):
            raise self.fail(args[1], f"the condition of count_where() must be true or false, not {kind}")
        node.function = "count_where"
        return T.INT

    def _check_changed(self, node: n.Call) -> Type:
        if not self.scope.updates:
            raise self.fail(node, "changed() is only available in update rules")
        if self.scope.sql:
            raise self.fail(node, "changed() cannot be used in a filter")
        if len(node.args) != 1 or not isinstance(node.args[0], n.Path) or node.args[0].names:
            raise self.fail(node, "write changed(FIELD) with one field of this record")
        self._field(self.scope.entity, node.args[0].head, node.args[0])
        node.function = "changed"
        return T.BOOL


def check(tree: n.Node, scope: Scope) -> Type:
    """Type-check ``tree`` in ``scope``; returns its type (raises DslError)."""
    return Checker(scope).check(tree)
