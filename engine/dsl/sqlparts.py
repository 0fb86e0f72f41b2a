"""SQL building blocks shared by the SQL compiler and the function library.

Datetimes are stored as naive UTC everywhere. Plain comparisons use the columns as they
are (so indexes apply); arithmetic on datetimes switches to epoch seconds, computed the
same way on both backends, so that Python and SQL answers agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.storage.columns import UTCDateTime


@dataclass
class SqlValue:
    expr: Any  # a SQLAlchemy ColumnElement
    epoch: bool = False  # a datetime given as epoch seconds (after arithmetic)
    is_date: bool = False  # a date (differences count whole days)


@dataclass
class SqlContext:
    dialect: str  # sqlite | postgresql
    now: dt.datetime
    today: dt.date
    user_id: str | None
    roles: frozenset[str]
    teams: frozenset[str]
    #: link filters: evaluation environment of the record being edited ($record)
    outer: Any = None
    team_ids: frozenset[str] = frozenset()
    team_members: frozenset[str] = frozenset()
    #: ``(entity, table) -> condition or None``: the linked records a path through a link may
    #: read (an expression the reader wrote reads only what they may read); None: any live one
    link_scope: Any = None


def epoch(ctx: SqlContext, value: SqlValue) -> Any:
    """Seconds since 1970 of a datetime value, as a number."""
    if value.epoch:
        return value.expr
    if ctx.dialect == "sqlite":
        # whole seconds, then the stored text's fraction (".ffffff" from its 20th character):
        # julianday() would round to milliseconds, and 12:30:00 + 1s would miss 12:30:01
        whole = sa.cast(sa.func.strftime("%s", sa.func.substr(value.expr, 1, 19)), sa.BigInteger)
        return whole + sa.cast(sa.func.substr(value.expr, 20), sa.Float)
    return sa.extract("epoch", value.expr)


def day_number(ctx: SqlContext, expr: Any) -> Any:
    """Days since an arbitrary origin of a date value (differences are exact)."""
    if ctx.dialect == "sqlite":
        return sa.func.julianday(expr)
    # bigint: day counts times 86400 overflow PostgreSQL's integer
    return sa.cast(expr - sa.literal(dt.date(1970, 1, 1), sa.Date), sa.BigInteger)


def add_days(ctx: SqlContext, expr: Any, days: Any) -> Any:
    """A date moved by whole days; empty when the result leaves the years 1 to 9999 (as in
    Python, and SQLite's date())."""
    if ctx.dialect == "sqlite":
        return sa.func.date(expr, sa.func.printf("%+d days", days))
    lowest = sa.literal(dt.date(1, 1, 1), sa.Date) - expr  # date - date: whole days
    highest = sa.literal(dt.date(9999, 12, 31), sa.Date) - expr
    whole = sa.cast(days, sa.BigInteger)
    # clamped too: PostgreSQL may fold a constant branch it does not take, and a date out of
    # its range raises even there
    clamped = sa.cast(sa.func.least(sa.func.greatest(whole, lowest), highest), sa.Integer)
    return sa.case((whole.between(lowest, highest), expr + clamped))


def trunc(ctx: SqlContext, expr: Any) -> Any:
    """Truncate toward zero, as Python's int() does."""
    if ctx.dialect == "sqlite":
        return sa.cast(expr, sa.BigInteger)
    return sa.cast(sa.func.trunc(expr), sa.BigInteger)


def to_decimal(ctx: SqlContext, expr: Any) -> Any:
    return sa.cast(expr, sa.Float) if ctx.dialect == "sqlite" else sa.cast(expr, sa.Numeric)


def datetime_param(value: dt.datetime) -> Any:
    return sa.literal(value, UTCDateTime())


def lower(ctx: SqlContext, expr: Any) -> Any:
    # SQLite's lower() folds ASCII only; the engine registers a Unicode-aware one
    return sa.func.tessera_lower(expr) if ctx.dialect == "sqlite" else sa.func.lower(expr)


def contains(ctx: SqlContext, haystack: Any, needle: Any, constant: str | None) -> Any:
    """``haystack ~ needle``: needle occurs in haystack, ignoring case (NULL when either is).

    On PostgreSQL a constant needle becomes ``lower(haystack) LIKE lower('%needle%')``, which
    a trigram index on ``lower(haystack)`` serves (``engine.storage.search``)."""
    if constant is not None and ctx.dialect == "postgresql":
        pattern = "%" + constant.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return sa.func.lower(haystack).like(sa.func.lower(sa.literal(pattern, sa.String)), escape="\\")
    return position(ctx, lower(ctx, haystack), lower(ctx, needle)) > 0


def upper(ctx: SqlContext, expr: Any) -> Any:
    return sa.func.tessera_upper(expr) if ctx.dialect == "sqlite" else sa.func.upper(expr)


def position(ctx: SqlContext, haystack: Any, needle: Any) -> Any:
    """1-based position of needle in haystack, 0 when absent (NULL when either is NULL)."""
    if ctx.dialect == "sqlite":
        return sa.func.instr(haystack, needle)
    return sa.func.strpos(haystack, needle)
