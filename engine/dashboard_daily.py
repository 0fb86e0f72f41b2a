"""The dashboard widgets that follow the calendar rather than the records: ``today`` (the
viewer's date in their time zone and the days left in the month, quarter and year) and
``daily_quote`` (one quote of a list a day).

Both take the day as an argument, so the caller decides the clock (``ws.records.clock``,
which tests set) and the time zone (the viewer's profile); nothing here reads a global clock.
The quote of a day is the same for every viewer on that date and differs from the day
before and after (when the list holds two or more), without storing anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from engine.dashboard_definitions import Quote
from engine.storage.derivation import label_text
from engine.timezones import UTC, zone_named


def zone_of(name: Any) -> ZoneInfo:
    """The viewer's time zone by name; UTC when it is empty or unknown."""
    return zone_named(str(name) if name else None) or UTC


def local_day(now: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The date ``now`` falls on in ``zone`` (a naive ``now`` is taken as UTC)."""
    moment = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).date()


#: the ``period`` of a widget: the calendar span around the viewer's day its date_field must fall in
PERIODS = ("today", "this_week", "this_month", "this_quarter", "this_year")


def period_range(period: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The first day of ``period`` around ``day`` and the first day after it (weeks from Monday)."""
    if period == "today":
        return day, day + dt.timedelta(days=1)
    if period == "this_week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=7)
    if period == "this_year":
        return dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1)
    first = day.month if period == "this_month" else 3 * ((day.month - 1) // 3) + 1
    start = dt.date(day.year, first, 1)
    return start, _last_of_month(day.year, first + (0 if period == "this_month" else 2)) + dt.timedelta(days=1)


def period_condition(field: str, kind: str | None, period: str, day: dt.date, zone: ZoneInfo) -> str:
    """The DSL condition of ``field`` falling in ``period``: dates by the calendar, datetimes
    from the viewer's local midnight (as UTC literals, so the drill-down lists the same)."""
    start, after = period_range(period, day)
    if kind != "datetime":
        return f"{field} >= {start.isoformat()} and {field} < {after.isoformat()}"

    def instant(value: dt.date) -> str:
        moment = dt.datetime.combine(value, dt.time(), zone).astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    return f"{field} >= {instant(start)} and {field} < {instant(after)}"


def _last_of_month(year: int, month: int) -> dt.date:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def today_figures(day: dt.date, zone: ZoneInfo) -> dict[str, Any]:
    """The ``today`` widget's figures. "Days left" count the days after ``day`` up to the
    period's last day, so the last day of the month has 0 left and the first of a 31-day
    month 30."""
    month_end = _last_of_month(day.year, day.month)
    quarter_end = _last_of_month(day.year, 3 * ((day.month - 1) // 3) + 3)
    year_end = dt.date(day.year, 12, 31)
    return {
        "date": day.isoformat(),
        "time_zone": zone.key,
        "weekday": day.isoweekday(),
        "week": day.isocalendar().week,
        "day_of_month": day.day,
        "days_in_month": month_end.day,
        "days_left_in_month": (month_end - day).days,
        "month_end": month_end.isoformat(),
        "days_left_in_quarter": (quarter_end - day).days,
        "quarter_end": quarter_end.isoformat(),
        "days_left_in_year": (year_end - day).days,
        "url": f"/app/calendar?view=day&date={day.isoformat()}",
    }


def quote_of_the_day(quotes: tuple[Quote, ...], day: dt.date, locale: str = "en") -> dict[str, Any]:
    """The quote of ``day``: the list taken in turn by the day's number, so consecutive days
    differ and every viewer on that date reads the same one."""
    if not quotes:
        return {"text": None, "author": None, "index": None, "count": 0, "date": day.isoformat()}
    index = day.toordinal() % len(quotes)
    chosen = quotes[index]
    return {
        "text": label_text(chosen.text, locale),
        "author": chosen.author,
        "index": index,
        "count": len(quotes),
        "date": day.isoformat(),
    }
