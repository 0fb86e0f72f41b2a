"""The function library: every function with its signature, Python and SQL forms.

A function is declared once with a signature such as ``"lower(string) -> string"`` and
two implementations over the same null rule: unless it says otherwise, a null argument
makes the result null. Functions without a SQL form may be used where only Python runs
(defaults, computed values, validations) and are refused where SQL is required (list
filters, permission rules). Plugins add functions with ``register``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException, localcontext
from typing import Any

import sqlalchemy as sa

from engine.dsl import sqlparts as sp
from engine.dsl.mention_functions import register_mention_functions
from engine.dsl.sql_functions import (
    as_text,
    in_names,
    member_sql,
    sql_coalesce,
    sql_concat,
    sql_if,
    sql_round,
    sql_scalar_extreme,
    sql_starts,
)
from engine.dsl.sqlparts import SqlContext, SqlValue
from engine.dsl.time_functions import register_time_functions

PyImpl = Callable[..., Any]
SqlImpl = Callable[..., SqlValue]


@dataclass(frozen=True)
class Function:
    name: str
    signature: str  # "name(type, type?, type...) -> type"; T is "same type as the others"
    python: PyImpl
    sql: SqlImpl | None = None
    doc: str = ""
    example: str = ""
    #: a null argument gives a null result without calling the implementation
    null_propagates: bool = True
    #: the implementation takes the evaluation environment (Python) / SqlContext first
    contextual: bool = False
    params: tuple[str, ...] = field(default=(), init=False)
    returns: str = field(default="", init=False)

    def __post_init__(self) -> None:
        match = re.fullmatch(r"(\w+)\((.*)\)\s*->\s*(\w+)", self.signature.replace(" ", ""))
        if not match or match.group(1) != self.name:
            raise ValueError(f"bad signature {self.signature!r}")
        params = tuple(p for p in match.group(2).split(",") if p)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "returns", match.group(3))

    @property
    def arity(self) -> tuple[int, int | None]:
        required = sum(1 for p in self.params if not p.endswith(("?", "...")))
        variadic = any(p.endswith("...") for p in self.params)
        return required, None if variadic else len(self.params)


class FunctionRegistry:
    def __init__(self) -> None:
        self._functions: dict[str, Function] = {}

    def register(self, function: Function) -> None:
        if function.name in self._functions:
            raise ValueError(f"function {function.name!r} is already registered")
        self._functions[function.name] = function

    def get(self, name: str) -> Function | None:
        return self._functions.get(name)

    def names(self) -> list[str]:
        return sorted(self._functions)

    def copy(self) -> FunctionRegistry:
        other = FunctionRegistry()
        other._functions = dict(self._functions)
        return other


# --- Python helpers -------------------------------------------------------------------
def _py_round(x: Any, digits: Any = 0) -> Decimal:
    value, places = Decimal(str(x)), int(digits)
    try:
        return value.quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP")
    except DecimalException:  # more places or digits than the context holds: round as SQL does
        if not value.is_finite():
            raise
    if int(value.as_tuple().exponent) >= -places:
        return value  # no digit to round away
    if value.adjusted() < -places - 1:
        return Decimal(0)  # less than half a unit of the place
    with localcontext(prec=len(value.as_tuple().digits) + 2):
        return value.quantize(Decimal(1).scaleb(-places), rounding="ROUND_HALF_UP")


def _py_concat(*parts: Any) -> str:
    return "".join("" if p is None else (p if isinstance(p, str) else str(p)) for p in parts)


def _py_coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _py_scalar_min(*values: Any) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if len(present) == len(values) else None


def _py_scalar_max(*values: Any) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if len(present) == len(values) else None


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}
_NESTED_QUANTIFIER = re.compile(r"\([^)]*[+*][^)]*\)[+*{]")


def _py_replace(text: str | None, old: str | None, new: str | None) -> str | None:
    if text is None or not old:
        return text
    return text.replace(old, new or "")


def _py_matches(text: str, pattern: str) -> bool:
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        if len(pattern) > 200 or _NESTED_QUANTIFIER.search(pattern):
            raise ValueError("the pattern is too long or has nested repetition")
        try:
            compiled = _REGEX_CACHE[pattern] = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
    return compiled.search(text[:10000]) is not None


def switch_parts(args: list[Any]) -> tuple[list[tuple[Any, Any]], Any, bool]:
    """Split ``switch``'s arguments after the value into (case, result) pairs and the default."""
    rest = args[1:]
    has_default = len(rest) % 2 == 1
    pairs = list(zip(rest[0:-1:2] if has_default else rest[0::2], rest[1::2], strict=True))
    return pairs, rest[-1] if has_default else None, has_default


def _py_switch(value: Any, *args: Any) -> Any:
    """The plain form, for callers outside the compiler (which compares as ``==`` does)."""
    pairs, default, _ = switch_parts([value, *args])
    if value is not None:
        for case, result in pairs:
            if case is not None and case == value:
                return result
    return default


# --- SQL helpers ----------------------------------------------------------------------
def _sql_switch(ctx: SqlContext, value: SqlValue, *args: SqlValue) -> SqlValue:
    """Plain CASE; the SQL compiler builds its own with the DSL's comparison rules."""
    pairs, default, _ = switch_parts([value, *args])
    whens = [(value.expr == case.expr, result.expr) for case, result in pairs]
    return SqlValue(sa.case(*whens, else_=default.expr if default is not None else sa.null()))


def builtins() -> FunctionRegistry:
    """A registry holding the standard library (a copy per workspace lets plugins add)."""
    r = FunctionRegistry()
    add = r.register
    add(
        Function(
            "if",
            "if(bool, T, T) -> T",
            lambda c, a, b: a if c is True else b,
            sql_if,
            "The second argument when the condition is true, else the third (also when it is null).",
            'if(tier == "gold", 4h, 8h)',
            null_propagates=False,
        )
    )
    add(
        Function(
            "switch",
            "switch(any, any, T, any...) -> T",
            _py_switch,
            _sql_switch,
            "The result paired with the first case equal to the value, else the default (the last"
            " argument, when the count of arguments is even), else null. A null value matches no case.",
            'switch(stage, "proposal", 60, "negotiation", 80, 10)',
            null_propagates=False,
        )
    )
    add(
        Function(
            "coalesce",
            "coalesce(T, T...) -> T",
            _py_coalesce,
            sql_coalesce,
            "The first argument that is not null.",
            'coalesce(mobile, phone, "-")',
            null_propagates=False,
        )
    )
    add(
        Function(
            "concat",
            "concat(any, any...) -> string",
            _py_concat,
            sql_concat,
            "Text of all arguments joined; null counts as empty text.",
            'concat(first_name, " ", last_name)',
            null_propagates=False,
            contextual=False,
        )
    )
    add(
        Function(
            "len",
            "len(string) -> int",
            len,
            lambda ctx, s: SqlValue(sa.func.length(s.expr)),
            "Number of characters.",
            "len(name) > 3",
        )
    )
    add(
        Function(
            "lower",
            "lower(string) -> string",
            str.lower,
            lambda ctx, s: SqlValue(as_text(sp.lower(ctx, s.expr))),
            "Lower-case text.",
            'lower(email) == "a@b.dev"',
        )
    )
    add(
        Function(
            "upper",
            "upper(string) -> string",
            str.upper,
            lambda ctx, s: SqlValue(as_text(sp.upper(ctx, s.expr))),
            "Upper-case text.",
            'upper(country) == "DE"',
        )
    )
    add(
        Function(
            "trim",
            "trim(string) -> string",
            lambda s: s.strip(" "),
            lambda ctx, s: SqlValue(sa.func.trim(s.expr, type_=sa.String)),
            "Text without leading and trailing spaces.",
            'trim(name) != ""',
        )
    )
    add(
        Function(
            "contains",
            "contains(string, string) -> bool",
            lambda a, b: b in a,
            lambda ctx, a, b: SqlValue(sp.position(ctx, a.expr, b.expr) > 0),
            "Whether the first text contains the second (case-sensitive; ~ ignores case).",
            'contains(subject, "VPN")',
        )
    )
    add(
        Function(
            "startswith",
            "startswith(string, string) -> bool",
            lambda a, b: a.startswith(b),
            sql_starts,
            "Whether the first text starts with the second.",
            'startswith(sku, "CIS-")',
        )
    )
    add(
        Function(
            "replace",
            "replace(string, string, string) -> string",
            _py_replace,
            lambda ctx, s, old, new: SqlValue(
                sa.case(
                    (sa.or_(old.expr.is_(None), old.expr == ""), s.expr),
                    else_=sa.func.replace(s.expr, old.expr, sa.func.coalesce(new.expr, "")),
                )
            ),
            "The text with every occurrence of the second text replaced by the third (an empty third removes it).",
            'replace(notes, "{{ name }}", name)',
            null_propagates=False,
        )
    )
    add(
        Function(
            "matches",
            "matches(string, string) -> bool",
            _py_matches,
            None,
            "Whether the text matches a regular expression (Python only; not in list filters).",
            r'matches(tax_id, "^DE[0-9]{9}$")',
        )
    )
    add(
        Function(
            "round",
            "round(number, int?) -> decimal",
            _py_round,
            sql_round,
            "Rounded half away from zero to the given decimal places (default 0).",
            "round(amount * 0.19, 2)",
        )
    )
    add(
        Function(
            "abs",
            "abs(number) -> number",
            abs,
            lambda ctx, x: SqlValue(sa.func.abs(x.expr)),
            "Absolute value.",
            "abs(days_between(expected_close, today())) > 30",
        )
    )
    add(
        Function(
            "min",
            "min(T, T...) -> T",
            _py_scalar_min,
            lambda ctx, *vs: sql_scalar_extreme(ctx, "min", *vs),
            "The smallest argument (null if any is null); min(rows.field) aggregates child rows.",
            "min(valid_until, today() + 30d)",
            null_propagates=False,
        )
    )
    add(
        Function(
            "max",
            "max(T, T...) -> T",
            _py_scalar_max,
            lambda ctx, *vs: sql_scalar_extreme(ctx, "max", *vs),
            "The largest argument (null if any is null); max(rows.field) aggregates child rows.",
            "max(lines.discount_pct) > 10",
            null_propagates=False,
        )
    )
    register_time_functions(add)
    register_mention_functions(add)
    add(
        Function(
            "has_role",
            "has_role(string) -> bool",
            lambda env, role: role in env.roles,
            lambda ctx, role: SqlValue(member_sql(role.expr, ctx.roles)),
            "Whether the current user has the role (a text, or a field holding a role name).",
            'has_role("sales_manager")',
            contextual=True,
        )
    )
    add(
        Function(
            "in_team",
            "in_team(string) -> bool",
            lambda env, team: team in env.teams,
            lambda ctx, team: SqlValue(member_sql(team.expr, ctx.teams)),
            "Whether the current user belongs to the team (by name).",
            'in_team("l1_support")',
            contextual=True,
        )
    )
    add(
        Function(
            "is_team_member",
            "is_team_member(id) -> bool",
            lambda env, uid: uid in env.team_members,
            lambda ctx, uid: SqlValue(in_names(uid.expr, ctx.team_members)),
            "Whether the user is in one of the current user's teams (or reports to them).",
            "is_team_member(owner)",
            contextual=True,
        )
    )
    add(
        Function(
            "is_my_team",
            "is_my_team(id) -> bool",
            lambda env, tid: tid in env.team_ids,
            lambda ctx, tid: SqlValue(in_names(tid.expr, ctx.team_ids)),
            "Whether the team is one of the current user's teams (or below one they manage).",
            "is_my_team(team)",
            contextual=True,
        )
    )
    return r


AGGREGATES = ("sum", "count", "avg", "min", "max")
AGGREGATE_DOCS = {
    "sum": (
        "sum(rows.field [, condition]) -> number",
        "Total over child rows or linked records; 0 when none.",
        "sum(lines.line_total)",
    ),
    "count": (
        "count(rows [, condition]) -> int",
        "Number of child rows or linked records (matching the condition).",
        "count(tasks, done == false)",
    ),
    "avg": (
        "avg(rows.field [, condition]) -> decimal",
        "Average; null when there are no rows.",
        "avg(lines.discount_pct)",
    ),
    "min": (
        "min(rows.field [, condition]) -> T",
        "Smallest value; null when there are no rows.",
        "min(lines.unit_price)",
    ),
    "max": (
        "max(rows.field [, condition]) -> T",
        "Largest value; null when there are no rows.",
        "max(lines.discount_pct)",
    ),
}

__all__ = ["AGGREGATES", "Function", "FunctionRegistry", "builtins", "math"]
