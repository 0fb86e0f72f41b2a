"""Compiling a checked tree into Python closures, once, at load time.

Each node becomes a small function of an ``Env``; evaluating an expression is a chain of
calls with no parsing, no ``eval`` and no attribute access beyond dictionary keys of
declared fields. Nulls follow SQL's three-valued logic (see docs/dsl.md), so the Python
and SQL forms of one expression agree.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.dsl import nodes as n
from engine.dsl.checker import Step
from engine.dsl.functions import switch_parts

Fn = Callable[["Env"], Any]
Loader = Callable[[str, str], dict[str, Any] | None]


class Env:
    """What an evaluation can see: the record (native values), the clock, the user."""

    __slots__ = (
        "calendar",
        "count_where",
        "load",
        "now",
        "old",
        "outer",
        "record",
        "roles",
        "row",
        "single",
        "team_ids",
        "team_members",
        "teams",
        "today",
        "user_id",
        "users_by_handle",
        "vars",
    )

    def __init__(
        self,
        record: dict[str, Any],
        *,
        now: dt.datetime,
        load: Loader | None = None,
        old: dict[str, Any] | None = None,
        user_id: str | None = None,
        roles: frozenset[str] = frozenset(),
        teams: frozenset[str] = frozenset(),
        calendar: Any = None,
        outer: dict[str, Any] | None = None,
        team_ids: frozenset[str] = frozenset(),
        team_members: frozenset[str] = frozenset(),
        variables: dict[str, Any] | None = None,
        single: Callable[[str], dict[str, Any] | None] | None = None,
        count_where: Callable[[str, n.Node, Env], int | None] | None = None,
        users_by_handle: Callable[[list[str]], list[str]] | None = None,
    ):
        self.record = record
        self.old = old
        self.now = now
        self.today = now.astimezone(dt.UTC).date()
        self.load = load or (lambda entity, record_id: None)
        self.user_id = user_id
        self.roles = roles
        self.teams = teams
        self.calendar = calendar
        self.row: dict[str, Any] | None = None
        self.outer = outer  # link filters: the record being edited
        self.team_ids = team_ids
        self.team_members = team_members
        #: automation variables by name (``$input``, ``$NAME`` of ``as:``, ``$item``)
        self.vars: dict[str, Any] = variables if variables is not None else {}
        #: the record of a singleton entity (``$settings.x``)
        self.single = single or (lambda entity: None)
        #: ``count_where(ENTITY, condition)``: counts stored records (None without a database)
        self.count_where = count_where or (lambda entity, condition, env: None)
        #: ``mentions(text)``: ids of the active users with these handles (none without a database)
        self.users_by_handle = users_by_handle or (lambda handles: [])


def _follow(steps: list[Step]) -> Callable[[Env, Any], Any]:
    """Read ``steps`` from a starting record dict, loading linked records as needed."""
    names = [(s.field.name, s.field.target if s.field.type in ("link", "user", "team") else None) for s in steps]
    if len(names) == 1:
        name = names[0][0]
        return lambda env, current: None if current is None else current.get(name)

    def follow(env: Env, current: Any) -> Any:
        for index, (name, target) in enumerate(names):
            if current is None:
                return None
            value = current.get(name)
            if index + 1 == len(names):
                return value
            if target is None or value is None:
                return None
            current = env.load(target, value)
        return current

    return follow


def _root(node: n.Path) -> Callable[[Env], Any]:
    if node.root == "record":
        return lambda env: env.record
    if node.root == "old":
        return lambda env: env.old
    if node.root == "row":
        return lambda env: env.row
    if node.root == "outer":
        return lambda env: env.outer
    if node.root == "user":
        return lambda env: env.load("user", env.user_id) if env.user_id else None
    name = node.var
    if node.root == "var":
        return lambda env: env.vars.get(name)
    if node.root == "single":
        return lambda env: env.single(name)
    raise AssertionError(node.root)


def _split_many(steps: list[Step]) -> tuple[list[Step], Step, list[Step]]:
    for index, step in enumerate(steps):
        if step.field.type in ("table", "links"):
            return steps[:index], step, steps[index + 1 :]
    raise AssertionError("no to-many step")


def _rows_owner(env: Env, value: Any, before: list[Step]) -> Any:
    """The record holding the rows of ``owner.roles``: the path before them ends at a link's id."""
    if isinstance(value, str) and before:
        return env.load(before[-1].field.target or "", value)
    return value


def _rows(env: Env, record: Any, many: Step) -> list[dict[str, Any]]:
    if record is None:
        return []
    value = record.get(many.field.name) or []
    if many.field.type == "table":
        return list(value)
    return [row for row in (env.load(many.field.target or "", i) for i in value) if row is not None]


_OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _compare(op: str) -> Callable[[Any, Any], Any]:
    fn = _OPERATORS[op]

    def compare(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
            return fn(a, b)
        if isinstance(a, bool) != isinstance(b, bool):
            return fn(int(a), int(b))
        return fn(a, b)

    return compare


def _arith(op: str, left_kind: str, right_kind: str) -> Callable[[Any, Any], Any]:
    temporal = {"date", "datetime"}
    if op in ("+", "-") and left_kind in temporal and right_kind == "duration":
        sign = 1 if op == "+" else -1
        if left_kind == "date":
            return lambda a, b: a + dt.timedelta(days=sign * int(b / 86400))
        return lambda a, b: a + dt.timedelta(seconds=sign * float(b))
    if op == "+" and left_kind == "duration" and right_kind in temporal:
        add = _arith("+", right_kind, "duration")
        return lambda a, b: add(b, a)
    if op == "-" and left_kind == right_kind == "date":
        return lambda a, b: (a - b).days * 86400
    if op == "-" and left_kind == right_kind == "datetime":
        return lambda a, b: Decimal(str((a - b).total_seconds()))
    if op == "+":
        return lambda a, b: a + b
    if op == "-":
        return lambda a, b: a - b
    if op == "*":
        return lambda a, b: _num(a) * _num(b) if not (isinstance(a, int) and isinstance(b, int)) else a * b
    if op == "/":
        return lambda a, b: None if b == 0 else _num(a) / _num(b)
    if op == "%":
        # SQL's remainder takes the dividend's sign; exact on integers of any size
        return lambda a, b: None if b == 0 else (abs(a) % abs(b)) * (1 if a >= 0 else -1)
    raise AssertionError(op)


def _num(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


def _safe(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        try:
            return fn(a, b)
        except (OverflowError, InvalidOperation, ArithmeticError, ValueError):
            return None  # out of range: unknown, as SQL would refuse it

    return run


class PythonCompiler:
    def compile(self, node: n.Node) -> Fn:
        return getattr(self, f"_c_{type(node).__name__}")(node)

    def _c_Literal(self, node: n.Literal) -> Fn:
        value = node.value
        return lambda env: value

    def _c_ListLiteral(self, node: n.ListLiteral) -> Fn:
        items = [item.value for item in node.items if isinstance(item, n.Literal)]
        return lambda env: items

    def _c_Path(self, node: n.Path) -> Fn:
        if node.root == "now":
            return lambda env: env.now
        if node.root == "today":
            return lambda env: env.today
        if node.root == "value":
            name = node.var
            return lambda env: env.vars.get(name)
        if node.root == "record" and len(node.steps) == 1:  # the common case, one closure deep
            name = node.steps[0].field.name
            return lambda env: env.record.get(name)
        root = _root(node)
        if not node.steps:  # $user or $record alone: the id
            if node.root == "user":
                return lambda env: env.user_id
            return lambda env: (root(env) or {}).get("id")
        follow = _follow(node.steps)
        return lambda env: follow(env, root(env))

    def _c_Unary(self, node: n.Unary) -> Fn:
        operand = self.compile(node.operand)
        if node.op == "not":
            return lambda env: None if (v := operand(env)) is None else not v
        return lambda env: None if (v := operand(env)) is None else -v

    def _c_Binary(self, node: n.Binary) -> Fn:
        op = node.op
        if op in ("and", "or"):
            return self._logic(node)
        left, right = self.compile(node.left), self.compile(node.right)
        if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
            other = right if _is_null(node.left) else left
            return (lambda env: other(env) is None) if op == "==" else (lambda env: other(env) is not None)
        if op in ("==", "!=", "<", "<=", ">", ">=") and (fast := self._elapsed_comparison(node)) is not None:
            return fast
        if op in ("==", "!=", "<", "<=", ">", ">="):
            kinds = {node.left.type.kind if node.left.type else "", node.right.type.kind if node.right.type else ""}
            if "bool" not in kinds and "any" not in kinds and "" not in kinds:
                # same-kind values (checked): Python's operator needs no per-call type tests
                fn = _OPERATORS[op]
                if isinstance(node.right, n.Literal) and not _is_null(node.right):
                    constant = node.right.value
                    return lambda env: None if (a := left(env)) is None else fn(a, constant)
                return lambda env: None if (a := left(env)) is None or (b := right(env)) is None else fn(a, b)
            compare = _compare(op)
            return lambda env: compare(left(env), right(env))
        if op in ("in", "not_in"):
            return self._membership(node, left, right)
        if op == "~":
            return lambda env: None if (a := left(env)) is None or (b := right(env)) is None else b.lower() in a.lower()
        fn = _safe(
            _arith(op, node.left.type.kind if node.left.type else "", node.right.type.kind if node.right.type else "")
        )
        return lambda env: None if (a := left(env)) is None or (b := right(env)) is None else fn(a, b)

    def _logic(self, node: n.Binary) -> Fn:
        """A chain ``a and b and c`` as one closure (Kleene logic: false wins, then unknown)."""
        operands: list[n.Node] = []
        stack: list[n.Node] = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, n.Binary) and current.op == node.op:
                stack.extend((current.right, current.left))
            else:
                operands.append(current)
        parts = tuple(self.compile(o) for o in operands)
        decisive = node.op == "or"  # the value that settles the chain: True for or, False for and

        def chain(env: Env) -> Any:
            unknown = False
            for part in parts:
                value = part(env)
                if value is decisive:
                    return decisive
                if value is None:
                    unknown = True
            return None if unknown else not decisive

        return chain

    def _elapsed_comparison(self, node: n.Binary) -> Fn | None:
        """``hours_between(a, b) > 4`` as a timedelta comparison: exact, and ten times faster."""
        call, limit = node.left, node.right
        if not (
            isinstance(call, n.Call)
            and getattr(call.function, "name", None) == "hours_between"
            and isinstance(limit, n.Literal)
            and limit.kind in ("int", "decimal")
            and all(a.type is not None and a.type.kind == "datetime" for a in call.args)
        ):
            return None
        microseconds = Decimal(limit.value) * 3_600_000_000
        if microseconds != microseconds.to_integral_value():
            return None
        bound = dt.timedelta(microseconds=int(microseconds))
        start, end = (self.compile(a) for a in call.args)
        fn = _OPERATORS[node.op]
        return lambda env: None if (a := start(env)) is None or (b := end(env)) is None else fn(b - a, bound)

    def _membership(self, node: n.Binary, left: Fn, right: Fn) -> Fn:
        negate = node.op == "not_in"
        if node.right.type is not None and node.right.type.many:
            right = self._many_values(node.right)
        elif isinstance(node.right, n.ListLiteral):  # a literal list: a set, its null known now
            values = [i.value for i in node.right.items if isinstance(i, n.Literal)]
            has_null = any(v is None for v in values)
            try:
                present: Any = frozenset(v for v in values if v is not None)
            except TypeError:
                present = [v for v in values if v is not None]
            empty = not values

            def member_of_literal(env: Env) -> Any:
                value = left(env)
                if value is None:
                    return negate if empty else None
                if value in present:
                    return not negate
                return None if has_null else negate

            return member_of_literal

        def member(env: Env) -> Any:
            value, items = left(env), right(env)
            if items is None:
                return None
            if value is None:
                return None if items else negate
            if value in items:
                return not negate
            if any(item is None for item in items):
                return None
            return negate

        return member

    def _many_values(self, path: n.Node) -> Fn:
        assert isinstance(path, n.Path)
        before, many, after = _split_many(path.steps)
        root = _root(path)
        start = _follow(before) if before else None
        tail = _follow(after) if after else None

        def values(env: Env) -> list[Any]:
            record = _rows_owner(env, start(env, root(env)), before) if start else root(env)
            rows = _rows(env, record, many)
            if tail is None:
                return [row.get("id") for row in rows]
            return [tail(env, row) for row in rows]

        return values

    def _c_Call(self, node: n.Call) -> Fn:
        if node.function == "changed":
            name = node.args[0].head  # type: ignore[attr-defined]
            return lambda env: env.old is not None and env.old.get(name) != env.record.get(name)
        if node.function == "count_where":
            counted, condition = node.args[0].var, node.args[1]  # type: ignore[attr-defined]
            return lambda env: env.count_where(counted, condition, env)
        if isinstance(node.function, str):
            return self._aggregate(node)
        function = node.function
        args = [self.compile(arg) for arg in node.args]
        impl, contextual, propagate = function.python, function.contextual, function.null_propagates
        if function.name == "if":
            cond, then, other = args
            return lambda env: then(env) if cond(env) is True else other(env)
        if function.name == "switch":
            return _switch(args)

        def call(env: Env) -> Any:
            values = [arg(env) for arg in args]
            if propagate and any(v is None for v in values):
                return None
            try:
                return impl(env, *values) if contextual else impl(*values)
            except (ArithmeticError, ValueError, TypeError):
                return None

        return call

    def _aggregate(self, node: n.Call) -> Fn:
        name = node.function
        path = node.args[0]
        assert isinstance(path, n.Path)
        before, many, after = _split_many(path.steps)
        root = _root(path)
        start = _follow(before) if before else None
        tail = _follow(after) if after else None
        condition = self.compile(node.args[1]) if len(node.args) > 1 else None

        def aggregate(env: Env) -> Any:
            record = _rows_owner(env, start(env, root(env)), before) if start else root(env)
            rows = _rows(env, record, many)
            if condition is not None:
                saved, kept = env.row, []
                for row in rows:
                    env.row = row
                    if condition(env) is True:
                        kept.append(row)
                env.row = saved
                rows = kept
            if name == "count":
                return len(rows)
            values = [v for v in ((tail(env, row) if tail else row.get("id")) for row in rows) if v is not None]
            if name == "sum":
                return sum(values, Decimal(0) if values and isinstance(values[0], Decimal) else 0)
            if not values:
                return None
            if name == "avg":
                return sum(Decimal(str(v)) for v in values) / len(values)
            return min(values) if name == "min" else max(values)

        return aggregate


def _switch(args: list[Fn]) -> Fn:
    """Cases compare with the value as ``==`` does; only the chosen result is evaluated."""
    pairs, default, _ = switch_parts(args)
    equal = _compare("==")

    def switch(env: Env) -> Any:
        value = args[0](env)
        if value is not None:
            for case, result in pairs:
                if equal(value, case(env)) is True:
                    return result(env)
        return default(env) if default is not None else None

    return switch


def _is_null(node: n.Node) -> bool:
    return isinstance(node, n.Literal) and node.kind == "null"


def compile_to_python(tree: n.Node) -> Fn:
    return PythonCompiler().compile(tree)
