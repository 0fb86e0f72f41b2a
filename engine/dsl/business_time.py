"""Business time: working hours, holidays and time zones, for SLA clocks and DSL functions.

A :class:`BusinessCalendar` turns wall-clock rules ("Mon-Fri 09:00-17:00 in Berlin, not on
public holidays") into concrete UTC intervals one local day at a time, so arithmetic is exact
across DST changes and costs one step per day, never per minute. Interval bounds are local wall
times converted to UTC with :mod:`zoneinfo`: a 09:00-17:00 day is 8 hours even on a DST-change
day, and an interval that spans the jump counts the real elapsed time (01:00-04:00 is 2 hours
on spring-forward day). A wall time that falls in a spring-forward gap is read with the offset
before the jump (02:30 becomes 03:30); one that occurs twice on fall-back day means the first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from engine.timezones import zone_named

END_OF_DAY = time(0)
"""As the *end* of an interval, ``time(0)`` means 24:00 (the following midnight)."""

MAX_SEARCH_DAYS = 366 * 20
"""How far ``add`` and ``next_opening`` look before deciding the calendar never opens."""

DAY_CACHE = 4096
"""Local days whose working intervals a calendar keeps computed (about 11 years)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_WEEKDAY_NUMBERS = {name: i for names in (WEEKDAYS, _FULL_WEEKDAYS) for i, name in enumerate(names)}
_SPEC_KEYS = {"timezone", "working_hours", "holidays", "holiday_country", "holiday_subdivision", "holiday_years"}

Interval = tuple[time, time]


@dataclass(frozen=True)
class BusinessCalendar:
    """When work happens: ``working_hours`` per weekday (0=Mon..6=Sun) in ``timezone``, minus ``holidays``.

    Days absent from ``working_hours`` are closed. Several intervals per day are allowed
    (a lunch break is the gap between two); an interval ending at :data:`END_OF_DAY` runs to
    midnight. ``holidays`` are local dates in the calendar's zone. Every method accepts aware
    datetimes in any zone and returns UTC datetimes.
    """

    timezone: str
    working_hours: Mapping[int, Sequence[Interval]]
    holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    #: local date -> its working intervals in UTC (the calendar never changes, and the clocks
    #: of a busy desk start and end on the same few days): bounded by :data:`DAY_CACHE`
    _days: dict[date, tuple[tuple[datetime, datetime], ...]] = field(init=False, repr=False, compare=False)
    #: open around the clock every day, no holidays: business time is elapsed time
    _elapsed: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Normalise to an immutable, validated form so a calendar can be shared and hashed safely.
        zone = zone_named(self.timezone)
        if zone is None:
            raise ValueError(f"unknown time zone {self.timezone!r}")
        hours: dict[int, tuple[Interval, ...]] = {}
        for weekday, intervals in self.working_hours.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0 (Monday) .. 6 (Sunday), not {weekday!r}")
            if not all(isinstance(t, time) for pair in intervals for t in pair):
                raise ValueError(f"{WEEKDAYS[weekday]}: intervals are (time, time) pairs; use from_spec for text")
            ordered = tuple((start, end) for start, end in sorted(intervals))
            for start, end in ordered:
                if _since_midnight(end, is_end=True) <= _since_midnight(start):
                    raise ValueError(f"{WEEKDAYS[weekday]}: {_fmt(start, end)} ends before it starts")
            for (s1, e1), (s2, e2) in pairwise(ordered):
                if _since_midnight(s2) < _since_midnight(e1, is_end=True):
                    raise ValueError(f"{WEEKDAYS[weekday]}: {_fmt(s1, e1)} overlaps {_fmt(s2, e2)}")
            if ordered:
                hours[weekday] = ordered
        if not hours:
            raise ValueError("calendar has no working hours on any day")
        object.__setattr__(self, "working_hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_days", {})
        around_the_clock = all(hours.get(d) == ((time(0), END_OF_DAY),) for d in range(7))
        object.__setattr__(self, "_elapsed", around_the_clock and not self.holidays)

    def __hash__(self) -> int:
        return hash((self.timezone, tuple(sorted(self.working_hours.items())), self.holidays))

    @classmethod
    def always(cls) -> BusinessCalendar:
        """Around the clock in UTC with no holidays: business time equals elapsed time."""
        return cls("UTC", {day: [(time(0), END_OF_DAY)] for day in range(7)})

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BusinessCalendar:
        """Build a calendar from what an admin writes in YAML or JSON.

        ``{"timezone": "Europe/Berlin", "working_hours": {"mon": ["09:00-12:00", "13:00-17:00"], ...}
        or "24x7", "holidays": ["2026-12-24"], "holiday_country": "DE", "holiday_subdivision": "BE",
        "holiday_years": [2026, 2027]}``. Only ``timezone`` and ``working_hours`` are required;
        country holidays need explicit years because the calendar holds a finite set of dates.
        Raises ValueError with a one-line message naming the offending entry.
        """
        if not isinstance(spec, Mapping):
            raise ValueError("calendar spec must be a mapping")
        unknown = sorted(set(spec) - _SPEC_KEYS)
        if unknown:
            raise ValueError(f"unknown calendar key(s) {', '.join(map(str, unknown))}; expected {sorted(_SPEC_KEYS)}")
        for key in ("timezone", "working_hours"):
            if key not in spec:
                raise ValueError(f"calendar spec needs {key!r}")
        if not isinstance(spec["timezone"], str):
            raise ValueError(f"timezone must be an IANA name like 'Europe/Berlin', not {spec['timezone']!r}")
        return cls(spec["timezone"], _parse_hours(spec["working_hours"]), _parse_holidays(spec))

    def is_working(self, at: datetime) -> bool:
        """Whether ``at`` lies inside a working interval (start included, end excluded)."""
        for start, _ in self._spans(_utc(at), forward=True, days=3):
            return start == at
        return False

    def next_opening(self, at: datetime) -> datetime:
        """The first working instant at or after ``at`` (``at`` itself, in UTC, if it is working)."""
        for start, _ in self._spans(_utc(at), forward=True, days=MAX_SEARCH_DAYS):
            return start
        raise ValueError(f"calendar has no working time in the {MAX_SEARCH_DAYS // 366} years after {at.isoformat()}")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of working time has elapsed after ``start``, in UTC.

        A start outside working hours begins counting at the next opening; a result that lands
        on a closing time is that closing time, not the next opening (so ``between`` inverts it).
        A zero duration returns ``start`` itself (converted to UTC), even outside working hours:
        "due in no time" should not be pushed to tomorrow morning. A negative duration counts
        backwards: the latest instant with ``-duration`` of working time before ``start``.
        """
        at = _utc(start)
        if not duration or self._elapsed:
            return at + duration
        forward = duration > timedelta(0)
        remaining = abs(duration)
        for span_start, span_end in self._spans(at, forward, days=MAX_SEARCH_DAYS):
            length = span_end - span_start
            if length >= remaining:
                return span_start + remaining if forward else span_end - remaining
            remaining -= length
        raise ValueError(f"adding {duration} of business time needs more than {MAX_SEARCH_DAYS // 366} years")

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
        a_utc, b_utc = _utc(a), _utc(b)
        if self._elapsed:
            return b_utc - a_utc
        if b_utc < a_utc:
            return -self.between(b_utc, a_utc)
        total = timedelta(0)
        for start, end in self._spans(a_utc, forward=True, days=(b_utc - a_utc).days + 4):
            if start >= b_utc:
                break
            total += min(end, b_utc) - start
        return total

    def extend_for_pause(self, due: datetime, paused_from: datetime, resumed_at: datetime) -> datetime:
        """Push an SLA ``due`` time later by the working time that passed while the clock was paused.

        Only working time counts: a pause over a weekend moves nothing, a pause of two working
        hours moves ``due`` two working hours later (possibly into the next working day).
        """
        if resumed_at < paused_from:
            raise ValueError(f"resumed at {resumed_at.isoformat()} before pausing at {paused_from.isoformat()}")
        return self.add(due, self.between(paused_from, resumed_at))

    def _day_spans(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working intervals of one local date, in UTC, sorted and merged.

        Merging matters only around a DST gap, where two wall-clock intervals can map onto
        overlapping instants; counting both would double count.
        """
        spans = self._days.get(day)
        if spans is None:
            if len(self._days) >= DAY_CACHE:
                self._days.clear()
            spans = self._days[day] = tuple(self._compute_day_spans(day))
        return spans

    def _compute_day_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        spans: list[tuple[datetime, datetime]] = []
        for start, end in sorted(self._utc_bounds(day, s, e) for s, e in self.working_hours.get(day.weekday(), ())):
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], end))
            elif end > start:
                spans.append((start, end))
        return spans

    def _utc_bounds(self, day: date, start: time, end: time) -> tuple[datetime, datetime]:
        end_day = day + timedelta(days=1) if end == END_OF_DAY else day
        return (
            datetime.combine(day, start, self._zone).astimezone(UTC),
            datetime.combine(end_day, end, self._zone).astimezone(UTC),
        )

    def _spans(self, at: datetime, forward: bool, days: int) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals after (or, backwards, before) ``at``, clipped to it, for up to ``days`` days.

        Starts one local day early so an interval of the neighbouring day is never missed;
        the cursor clips every span to what has not been yielded yet.
        """
        step = timedelta(days=1 if forward else -1)
        day = at.astimezone(self._zone).date() - step
        cursor = at
        for _ in range(days):
            spans = self._day_spans(day)
            for start, end in spans if forward else reversed(spans):
                if forward:
                    start = max(start, cursor)
                else:
                    end = min(end, cursor)
                if end > start:
                    yield start, end
                    cursor = end if forward else start
            day += step


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"business time needs an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _since_midnight(value: time, is_end: bool = False) -> timedelta:
    if is_end and value == END_OF_DAY:
        return timedelta(days=1)
    return timedelta(hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond)


def _fmt(start: time, end: time) -> str:
    return f"{start:%H:%M}-{'24:00' if end == END_OF_DAY else f'{end:%H:%M}'}"


def _parse_hours(raw: Any) -> dict[int, list[Interval]]:
    if raw == "24x7":
        return {day: [(time(0), END_OF_DAY)] for day in range(7)}
    if not isinstance(raw, Mapping):
        raise ValueError(f"working_hours must be '24x7' or a mapping of weekday to intervals, not {raw!r}")
    hours: dict[int, list[Interval]] = {}
    for name, intervals in raw.items():
        key = str(name).strip().lower()
        weekday = _WEEKDAY_NUMBERS.get(key)
        if weekday is None:
            raise ValueError(f"working_hours: unknown weekday {name!r}; use {', '.join(WEEKDAYS)}")
        if weekday in hours:
            raise ValueError(f"working_hours: {WEEKDAYS[weekday]} is given twice")
        items = [intervals] if isinstance(intervals, str) else list(intervals or [])
        hours[weekday] = [_parse_interval(f"working_hours.{key}[{i}]", item) for i, item in enumerate(items)]
    return hours


def _parse_interval(where: str, text: Any) -> Interval:
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{where}: {text!r} is not 'HH:MM-HH:MM'")
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"{where}: {text!r} is not a valid time range")
    if (h2, m2) == (0, 0):
        raise ValueError(f"{where}: {text!r} ends at 00:00; write 24:00 for midnight")
    return time(h1, m1), END_OF_DAY if h2 == 24 else time(h2, m2)


def _parse_holidays(spec: Mapping[str, Any]) -> frozenset[date]:
    days: set[date] = set()
    for i, item in enumerate(spec.get("holidays") or []):
        if isinstance(item, datetime):
            item = item.date()
        if not isinstance(item, date):  # YAML already turns unquoted 2026-12-25 into a date
            try:
                item = date.fromisoformat(str(item))
            except ValueError:
                raise ValueError(f"holidays[{i}]: {item!r} is not a date like 2026-12-25") from None
        days.add(item)
    country, subdivision, years = (spec.get(k) for k in ("holiday_country", "holiday_subdivision", "holiday_years"))
    if country is None:
        if subdivision is not None or years is not None:
            raise ValueError("holiday_subdivision and holiday_years need holiday_country")
        return frozenset(days)
    if not years or not all(isinstance(y, int) and not isinstance(y, bool) for y in years):
        raise ValueError(f"holiday_country {country!r} needs holiday_years, a list of years like [2026, 2027]")
    import holidays as holiday_data  # imported lazily: only calendars that name a country need it

    try:
        public = holiday_data.country_holidays(str(country), subdiv=subdivision, years=list(years))
    except NotImplementedError as exc:
        raise ValueError(f"holiday_country/holiday_subdivision: {exc}") from None
    return frozenset(days | set(public.keys()))
