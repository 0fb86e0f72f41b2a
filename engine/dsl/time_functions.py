"""Date and time functions of the DSL: the clock, periods, spans and business hours.

Registered into the standard library by ``engine.dsl.functions.builtins``; kept apart
because each needs both a Python form and per-dialect SQL date arithmetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.dsl import sqlparts as sp
from engine.dsl.sqlparts import SqlContext, SqlValue

if TYPE_CHECKING:
    from engine.dsl.functions import Function

_MICROSECOND = dt.timedelta(microseconds=1)
_HOUR_IN_MICROSECONDS = Decimal(3_600_000_000)


def _hours_between(a: Any, b: Any) -> Decimal:
    # exact and cheap: whole microseconds as an int, one Decimal division
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return Decimal((b - a) // _MICROSECOND) / _HOUR_IN_MICROSECONDS
    return Decimal((b - a).days * 24)


def _py_days_between(a: Any, b: Any) -> int:
    if isinstance(a, dt.datetime):
        return int((b - a).total_seconds() / 86400)
    return (b - a).days


def _py_start_of(unit: str, value: Any) -> dt.date:
    day = value.astimezone(dt.UTC).date() if isinstance(value, dt.datetime) and value.tzinfo else value
    day = day.date() if isinstance(day, dt.datetime) else day
    if unit == "year":
        return day.replace(month=1, day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(day=1)


def _sql_start_of(ctx: SqlContext, unit: str, value: SqlValue) -> SqlValue:
    if ctx.dialect == "sqlite":
        base = (value.expr, "unixepoch") if value.epoch else (value.expr,)
        if unit == "year":
            return SqlValue(sa.func.date(*base, "start of year"), is_date=True)
        month = sa.func.date(*base, "start of month")
        if unit == "month":
            return SqlValue(month, is_date=True)
        back = (sa.cast(sa.func.strftime("%m", month), sa.Integer) - 1) % 3
        return SqlValue(sa.func.date(month, sa.func.printf("-%d months", back)), is_date=True)
    stamp = sa.func.to_timestamp(value.expr).op("AT TIME ZONE")("UTC") if value.epoch else value.expr
    truncated = sa.func.date_trunc(unit, sa.cast(stamp, sa.DateTime))
    return SqlValue(sa.cast(truncated, sa.Date), is_date=True)


def _py_add_months(day: Any, months: Any) -> dt.date:
    """``day`` moved by whole months; a day the target month lacks becomes its last day."""
    day = day.date() if isinstance(day, dt.datetime) else day
    index = day.year * 12 + day.month - 1 + int(months)
    year, month = divmod(index, 12)
    following = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return day.replace(year=year, month=month + 1, day=min(day.day, (following - dt.timedelta(days=1)).day))


def _sql_add_months(ctx: SqlContext, day: SqlValue, months: SqlValue) -> SqlValue:
    if ctx.dialect == "sqlite":
        first = sa.func.date(day.expr, "start of month", sa.func.printf("%+d months", months.expr))
        last = sa.func.date(first, "+1 month", "-1 day")
        wanted = sa.func.date(first, sa.func.printf("+%d days", sa.func.strftime("%d", day.expr) - 1))
        return SqlValue(sa.func.min(wanted, last), is_date=True)
    shifted = day.expr + sa.func.make_interval(0, sa.cast(months.expr, sa.Integer))
    return SqlValue(sa.cast(shifted, sa.Date), is_date=True)


def _sql_seconds_between(ctx: SqlContext, a: SqlValue, b: SqlValue, dates: bool) -> Any:
    if dates:
        return (sp.day_number(ctx, b.expr) - sp.day_number(ctx, a.expr)) * 86400
    return sp.epoch(ctx, b) - sp.epoch(ctx, a)


def register_time_functions(add: Callable[[Function], None]) -> None:
    from engine.dsl.functions import Function

    add(
        Function(
            "now",
            "now() -> datetime",
            lambda env: env.now,
            lambda ctx: SqlValue(sp.datetime_param(ctx.now)),
            "The current instant (the evaluation's clock; the same in Python and SQL).",
            "due_at < now()",
            contextual=True,
        )
    )
    add(
        Function(
            "today",
            "today() -> date",
            lambda env: env.today,
            lambda ctx: SqlValue(sa.literal(ctx.today, sa.Date)),
            "Today's date (UTC).",
            "expiry_date < today() + 30d",
            contextual=True,
        )
    )
    for unit, example in (
        ("month", "start_of_month(expected_close)"),
        ("quarter", "start_of_quarter(closed_at)"),
        ("year", "start_of_year(created_at)"),
    ):
        add(
            Function(
                f"start_of_{unit}",
                f"start_of_{unit}(temporal) -> date",
                lambda value, unit=unit: _py_start_of(unit, value),
                lambda ctx, value, unit=unit: _sql_start_of(ctx, unit, value),
                f"The first day of the {unit} of a date (a datetime counts by its UTC date): "
                "group and compare by period.",
                example,
            )
        )
    add(
        Function(
            "add_months",
            "add_months(date, int) -> date",
            _py_add_months,
            _sql_add_months,
            "The date moved by whole months (negative: back); the 31st becomes the last day of a shorter month.",
            "add_months(start_date, 12)",
        )
    )
    add(
        Function(
            "days_between",
            "days_between(temporal, temporal) -> int",
            _py_days_between,
            lambda ctx, a, b: SqlValue(sp.trunc(ctx, _sql_seconds_between(ctx, a, b, a.is_date) / 86400.0)),
            "Whole days from the first date (or datetime) to the second, truncated toward zero.",
            "days_between(created_at, now()) > 14",
        )
    )
    add(
        Function(
            "hours_between",
            "hours_between(temporal, temporal) -> decimal",
            _hours_between,
            lambda ctx, a, b: SqlValue(sp.to_decimal(ctx, _sql_seconds_between(ctx, a, b, a.is_date)) / 3600.0),
            "Hours (with fraction) from the first instant to the second.",
            "hours_between(created_at, $now) > 4",
        )
    )
    add(
        Function(
            "business_hours_between",
            "business_hours_between(datetime, datetime) -> decimal",
            lambda env, a, b: (
                None if a is None or b is None else Decimal(str(env.calendar.between(a, b).total_seconds() / 3600))
            ),
            None,
            "Working hours between two instants in the workspace's business calendar (Python only).",
            "business_hours_between(created_at, now()) > 8",
            contextual=True,
            null_propagates=False,
        )
    )
    add(
        Function(
            "add_business_hours",
            "add_business_hours(datetime, number) -> datetime",
            lambda env, start, hours: (
                None if start is None or hours is None else env.calendar.add(start, dt.timedelta(hours=float(hours)))
            ),
            None,
            "The instant when the given working hours have passed after the start (Python only).",
            "add_business_hours(created_at, 8)",
            contextual=True,
            null_propagates=False,
        )
    )
