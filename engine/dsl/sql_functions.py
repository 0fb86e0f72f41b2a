"""The SQL forms of the standard library's functions that need more than one call:
text joins, one base for mixed datetimes and numbers (``coalesce``, ``if``, ``min``,
``max``), rounding, prefixes, and membership in the user's roles and teams. Each agrees
with its Python form in ``engine.dsl.functions``, nulls included."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.dsl import sqlparts as sp
from engine.dsl.sqlparts import SqlContext, SqlValue


def sql_concat(ctx: SqlContext, *parts: SqlValue) -> SqlValue:
    pieces = [sa.func.coalesce(sa.cast(p.expr, sa.String), "") for p in parts]
    return SqlValue(
        sa.func.concat(*pieces)
        if ctx.dialect == "postgresql"
        else (pieces[0] if len(pieces) == 1 else join_text(pieces))
    )


def join_text(pieces: list[Any]) -> Any:
    expr = pieces[0]
    for piece in pieces[1:]:
        expr = expr.op("||")(piece)
    return expr


def same_base(ctx: SqlContext, values: tuple[SqlValue, ...]) -> tuple[list[Any], bool]:
    """The values making one result (``coalesce``, ``if``, ``min``): all epoch seconds when one is."""
    epoch, null = any(v.epoch for v in values), sa.sql.elements.Null  # a null literal stays NULL
    return [sp.epoch(ctx, v) if epoch and not isinstance(v.expr, null) else v.expr for v in values], epoch


def as_text(expr: Any) -> Any:
    return sa.type_coerce(expr, sa.String)  # typed as text: min()/max() order texts by code point


def sql_if(ctx: SqlContext, condition: SqlValue, a: SqlValue, b: SqlValue) -> SqlValue:
    (then, other), epoch = same_base(ctx, (a, b))
    return SqlValue(sa.case((condition.expr, then), else_=other), epoch)


def sql_coalesce(ctx: SqlContext, *values: SqlValue) -> SqlValue:
    exprs, epoch = same_base(ctx, values)
    return SqlValue(sa.func.coalesce(*exprs), epoch)


def sql_scalar_extreme(ctx: SqlContext, name: str, *values: SqlValue) -> SqlValue:
    exprs, epoch = same_base(ctx, values)
    # SQLite's min()/max() with several arguments return NULL if any is NULL, as Python's do here;
    # PostgreSQL's least()/greatest() skip NULLs, so guard them explicitly
    if ctx.dialect == "sqlite":
        return SqlValue(getattr(sa.func, name)(*exprs), epoch)
    func = sa.func.least if name == "min" else sa.func.greatest
    any_null = sa.or_(*[e.is_(None) for e in exprs])
    if any(isinstance(e.type, sa.String) for e in exprs):
        # code-point order, as Python, comparisons and the min/max aggregates order texts
        return SqlValue(as_text(sa.case((any_null, sa.null()), else_=func(*[e.collate("C") for e in exprs]))))
    return SqlValue(sa.case((any_null, sa.null()), else_=func(*exprs)), epoch)


def sql_round(ctx: SqlContext, x: SqlValue, d: SqlValue | None = None) -> SqlValue:
    if ctx.dialect == "postgresql":  # round(numeric, integer) only; past 10000 places, no change
        places = sa.case((d.expr > 10000, 10000), (d.expr < -10000, -10000), else_=d.expr) if d else 0
        return SqlValue(sa.func.round(sp.to_decimal(ctx, x.expr), sa.cast(places, sa.Integer)))
    if d is None:
        return SqlValue(sa.func.round(x.expr, 0))
    # SQLite rounds to 0 places for negative ones: divide by the power of ten (at most 1e300,
    # past which any value rounds to 0), round half away from zero, multiply back
    scale = sa.cast(sa.literal("1e", sa.String).op("||")(sa.func.min(-d.expr, 300)), sa.Float)
    scaled = sa.func.round(x.expr / scale, 0) * scale
    return SqlValue(sa.case((d.expr < 0, scaled), else_=sa.func.round(x.expr, d.expr)))


def sql_starts(ctx: SqlContext, text: SqlValue, prefix: SqlValue) -> SqlValue:
    head = sa.func.substr(text.expr, 1, sa.func.length(prefix.expr))  # op("="): == NULL would be IS NULL
    return SqlValue(head.op("=", is_comparison=True)(prefix.expr))


def member_sql(expr: Any, names: Any) -> Any:
    """SQL for "this text is one of the user's roles/teams": a literal is decided now, a
    column is compared with the names (so a stored role name works as in Python)."""
    if hasattr(expr, "value"):
        return sa.literal(expr.value in names)
    return in_names(expr, names)


def in_names(expr: Any, names: Any) -> Any:
    """``expr IN (names)``; with no names false, but null (unknown) for a null value as in Python.
    That is written ``expr IS NULL AND NULL``, which PostgreSQL folds to false in a condition
    (a CASE it cannot: ``is_team_member(owner) or owner == me()`` was a scan for a user
    without teams, not an index look-up)."""
    return expr.in_(sorted(names)) if names else sa.and_(expr.is_(None), sa.null())
