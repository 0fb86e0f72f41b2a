"""Business-time arithmetic: working hours, lunch breaks, weekends, holidays, time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.dsl.business_time import END_OF_DAY, BusinessCalendar

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
H = timedelta(hours=1)
M = timedelta(minutes=1)


def utc(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(zone: ZoneInfo, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=zone)


# 2026-06-01 is a Monday; Wednesday 2026-06-03 is a (made-up) company holiday.
OFFICE = BusinessCalendar.from_spec(
    {
        "timezone": "UTC",
        "working_hours": {day: ["09:00-12:00", "13:00-17:00"] for day in WEEKDAYS},
        "holidays": ["2026-06-03"],
    }
)
BERLIN_OFFICE = BusinessCalendar.from_spec(
    {
        "timezone": "Europe/Berlin",
        "working_hours": {day: ["09:00-17:00"] for day in WEEKDAYS},
        "holiday_country": "DE",
        "holiday_subdivision": "BE",
        "holiday_years": [2026, 2027],
    }
)
NEW_YORK_OFFICE = BusinessCalendar.from_spec(
    {"timezone": "America/New_York", "working_hours": {day: ["09:00-17:00"] for day in WEEKDAYS}}
)
# Sundays open so the DST-change days themselves (both Sundays in 2026) are working days.
BERLIN_SUNDAYS = BusinessCalendar.from_spec(
    {"timezone": "Europe/Berlin", "working_hours": {"sun": ["01:00-04:00", "09:00-17:00", "20:00-24:00"]}}
)
BERLIN_24X7 = BusinessCalendar.from_spec({"timezone": "Europe/Berlin", "working_hours": "24x7"})
NIGHT_SHIFT = BusinessCalendar.from_spec(
    {"timezone": "UTC", "working_hours": {"fri": ["18:00-24:00"], "sat": ["00:00-06:00"]}}
)

ADD_CASES = [
    ("within a day", OFFICE, utc(6, 1, 9, 30), 2 * H, utc(6, 1, 11, 30)),
    ("up to closing stays at closing", OFFICE, utc(6, 1, 9), 7 * H, utc(6, 1, 17)),
    ("across the lunch break", OFFICE, utc(6, 1, 11), 2 * H, utc(6, 1, 14)),
    ("starting in the lunch break", OFFICE, utc(6, 1, 12, 30), H, utc(6, 1, 14)),
    ("across the weekend", OFFICE, utc(6, 5, 16), 2 * H, utc(6, 8, 10)),
    ("starting on Saturday", OFFICE, utc(6, 6, 10), H, utc(6, 8, 10)),
    ("starting after closing", OFFICE, utc(6, 1, 18), H, utc(6, 2, 10)),
    ("starting before opening", OFFICE, utc(6, 1, 7), 30 * M, utc(6, 1, 9, 30)),
    ("across a holiday", OFFICE, utc(6, 2, 16), 2 * H, utc(6, 4, 10)),
    ("a whole working week", OFFICE, utc(6, 8, 9), 35 * H, utc(6, 12, 17)),
    ("zero duration is the start itself", OFFICE, utc(6, 6, 10), timedelta(0), utc(6, 6, 10)),
    ("negative counts backwards", OFFICE, utc(6, 8, 10), -2 * H, utc(6, 5, 16)),
    ("negative over a holiday", OFFICE, utc(6, 4, 10), -2 * H, utc(6, 2, 16)),
    # Christmas 2026: Thu 24th works, Fri 25th and Sat 26th are public holidays in Germany.
    ("German holidays", BERLIN_OFFICE, local(BERLIN, 12, 24, 16), 2 * H, local(BERLIN, 12, 28, 10)),
    ("Christmas Eve is a working day", BERLIN_OFFICE, local(BERLIN, 12, 23, 16), 8 * H, local(BERLIN, 12, 24, 16)),
    # 06:00 UTC is 08:00 in Berlin (CEST) and 02:00 in New York (EDT).
    ("UTC start, Berlin calendar", BERLIN_OFFICE, utc(6, 1, 6), H, utc(6, 1, 8)),
    ("UTC start, New York calendar", NEW_YORK_OFFICE, utc(6, 1, 6), H, utc(6, 1, 14)),
    ("UTC Friday evening, New York", NEW_YORK_OFFICE, utc(6, 5, 22), H, utc(6, 8, 14)),
    (
        "Tokyo start, Berlin calendar",
        BERLIN_OFFICE,
        datetime(2026, 6, 1, 15, tzinfo=ZoneInfo("Asia/Tokyo")),
        H,
        utc(6, 1, 8),
    ),
    # Offsets change over the weekend: Friday 16:00 CET is 15:00 UTC, Monday 10:00 CEST is 08:00 UTC.
    ("DST spring-forward weekend", BERLIN_OFFICE, utc(3, 27, 15), 2 * H, utc(3, 30, 8)),
    ("DST fall-back weekend", BERLIN_OFFICE, utc(10, 23, 14), 2 * H, utc(10, 26, 9)),
    # New York is still on EDT the week after Berlin falls back: Monday 09:00 there is 13:00 UTC.
    ("New York between the two fall-backs", NEW_YORK_OFFICE, utc(10, 26, 12), H, utc(10, 26, 14)),
    ("spring-forward day, 09-17 is 8 hours", BERLIN_SUNDAYS, local(BERLIN, 3, 29, 9), 8 * H, local(BERLIN, 3, 29, 17)),
    ("spring-forward day, 01-04 is 2 hours", BERLIN_SUNDAYS, local(BERLIN, 3, 29, 1), 2 * H, local(BERLIN, 3, 29, 4)),
    ("fall-back day, 01-04 is 4 hours", BERLIN_SUNDAYS, local(BERLIN, 10, 25, 1), 4 * H, local(BERLIN, 10, 25, 4)),
    ("interval ending at 24:00", NIGHT_SHIFT, utc(6, 5, 23), 2 * H, utc(6, 6, 1)),
    ("24:00 interval of a DST day", BERLIN_SUNDAYS, local(BERLIN, 10, 25, 20), 4 * H, local(BERLIN, 10, 26, 0)),
    ("24x7 in Berlin is elapsed time over DST", BERLIN_24X7, utc(3, 28, 12), 48 * H, utc(3, 30, 12)),
]


@pytest.mark.parametrize(
    ("calendar", "start", "duration", "expected"), [c[1:] for c in ADD_CASES], ids=[c[0] for c in ADD_CASES]
)
def test_add(calendar: BusinessCalendar, start: datetime, duration: timedelta, expected: datetime) -> None:
    result = calendar.add(start, duration)
    assert result == expected
    assert result.tzinfo is UTC


BETWEEN_CASES = [
    ("within a day", OFFICE, utc(6, 1, 9, 30), utc(6, 1, 11), 90 * M),
    ("across the lunch break", OFFICE, utc(6, 1, 11), utc(6, 1, 14), 2 * H),
    ("across the weekend", OFFICE, utc(6, 5, 16), utc(6, 8, 10), 2 * H),
    ("Saturday to Sunday", OFFICE, utc(6, 6, 10), utc(6, 7, 10), timedelta(0)),
    ("after closing to next morning", OFFICE, utc(6, 1, 18), utc(6, 2, 10), H),
    ("across a holiday", OFFICE, utc(6, 2, 16), utc(6, 4, 10), 2 * H),
    ("a long span", OFFICE, utc(1, 5), utc(1, 5, year=2027), 52 * 5 * 7 * H),
    ("negative", OFFICE, utc(6, 1, 14), utc(6, 1, 10), -3 * H),
    ("same instant", OFFICE, utc(6, 1, 10), utc(6, 1, 10), timedelta(0)),
    ("German holidays", BERLIN_OFFICE, local(BERLIN, 12, 24, 9), local(BERLIN, 12, 29, 9), 16 * H),
    ("UTC instants, Berlin calendar", BERLIN_OFFICE, utc(6, 1, 0), utc(6, 2, 0), 8 * H),
    ("UTC instants, New York calendar", NEW_YORK_OFFICE, utc(6, 1, 14), utc(6, 1, 23), 7 * H),
    ("DST spring-forward week", BERLIN_OFFICE, local(BERLIN, 3, 23), local(BERLIN, 3, 30), 40 * H),
    ("DST fall-back week", BERLIN_OFFICE, local(BERLIN, 10, 19), local(BERLIN, 10, 26), 40 * H),
    ("spring-forward Sunday", BERLIN_SUNDAYS, local(BERLIN, 3, 29), local(BERLIN, 3, 30), (2 + 8 + 4) * H),
    ("fall-back Sunday", BERLIN_SUNDAYS, local(BERLIN, 10, 25), local(BERLIN, 10, 26), (4 + 8 + 4) * H),
    ("24x7 spring-forward day is 23 hours", BERLIN_24X7, local(BERLIN, 3, 29), local(BERLIN, 3, 30), 23 * H),
    ("24x7 fall-back day is 25 hours", BERLIN_24X7, local(BERLIN, 10, 25), local(BERLIN, 10, 26), 25 * H),
    ("intervals ending at 24:00", NIGHT_SHIFT, utc(6, 5, 12), utc(6, 6, 12), 12 * H),
]


@pytest.mark.parametrize(
    ("calendar", "a", "b", "expected"), [c[1:] for c in BETWEEN_CASES], ids=[c[0] for c in BETWEEN_CASES]
)
def test_between(calendar: BusinessCalendar, a: datetime, b: datetime, expected: timedelta) -> None:
    assert calendar.between(a, b) == expected


@pytest.mark.parametrize(
    ("start", "duration"),
    [(utc(6, 1, 9, 17), timedelta(0)), (utc(3, 28, 23, 59), 90 * M), (utc(10, 24, 22), 1000 * H), (utc(1, 1), -5 * H)],
)
def test_always_is_plain_timedelta_arithmetic(start: datetime, duration: timedelta) -> None:
    always = BusinessCalendar.always()
    assert always.add(start, duration) == start + duration
    assert always.between(start, start + duration) == duration


@pytest.mark.parametrize(
    ("at", "working", "opening"),
    [
        (utc(6, 1, 9), True, utc(6, 1, 9)),
        (utc(6, 1, 11, 59), True, utc(6, 1, 11, 59)),
        (utc(6, 1, 12), False, utc(6, 1, 13)),
        (utc(6, 1, 17), False, utc(6, 2, 9)),
        (utc(6, 3, 10), False, utc(6, 4, 9)),  # holiday
        (utc(6, 6, 10), False, utc(6, 8, 9)),  # Saturday
        (datetime(2026, 6, 1, 11, tzinfo=ZoneInfo("Asia/Kolkata")), False, utc(6, 1, 9)),  # 05:30 UTC
    ],
)
def test_is_working_and_next_opening(at: datetime, working: bool, opening: datetime) -> None:
    assert OFFICE.is_working(at) is working
    assert OFFICE.next_opening(at) == opening


@pytest.mark.parametrize(
    ("due", "paused_from", "resumed_at", "expected"),
    [
        pytest.param(utc(6, 1, 15), utc(6, 1, 10), utc(6, 1, 11, 30), utc(6, 1, 16, 30), id="within a day"),
        pytest.param(utc(6, 1, 15), utc(6, 1, 9), utc(6, 1, 13), utc(6, 2, 10), id="into the next day"),
        pytest.param(utc(6, 8, 15), utc(6, 5, 16), utc(6, 8, 10), utc(6, 8, 17), id="over a weekend"),
        pytest.param(utc(6, 8, 15), utc(6, 6, 9), utc(6, 7, 18), utc(6, 8, 15), id="weekend pause moves nothing"),
        pytest.param(utc(6, 4, 15), utc(6, 2, 17), utc(6, 4, 9), utc(6, 4, 15), id="holiday pause moves nothing"),
    ],
)
def test_extend_for_pause(due: datetime, paused_from: datetime, resumed_at: datetime, expected: datetime) -> None:
    assert OFFICE.extend_for_pause(due, paused_from, resumed_at) == expected


@pytest.mark.parametrize(
    ("calendar", "due", "paused_from", "resumed_at", "expected"),
    [
        # Friday 16:00 CET to Monday 09:00 CEST: one working hour paused, whatever the offsets say
        pytest.param(
            BERLIN_OFFICE,
            local(BERLIN, 3, 30, 12),
            local(BERLIN, 3, 27, 16),
            local(BERLIN, 3, 30, 9),
            local(BERLIN, 3, 30, 13),
            id="over the spring-forward weekend",
        ),
        # Good Friday (3 Apr) and Easter Monday (6 Apr) are public holidays: Thu 1h + Tue 1h
        pytest.param(
            BERLIN_OFFICE,
            local(BERLIN, 4, 7, 15),
            local(BERLIN, 4, 2, 16),
            local(BERLIN, 4, 7, 10),
            local(BERLIN, 4, 7, 17),
            id="over Easter holidays",
        ),
        # the same two UTC instants are 6 working hours in New York, 0 in Berlin (after closing)
        pytest.param(NEW_YORK_OFFICE, utc(6, 2, 14), utc(6, 1, 15), utc(6, 1, 21), utc(6, 2, 20), id="New York"),
        pytest.param(BERLIN_OFFICE, utc(6, 2, 14), utc(6, 1, 15), utc(6, 1, 21), utc(6, 2, 14), id="Berlin"),
        pytest.param(BERLIN_24X7, utc(6, 2, 14), utc(6, 1, 15), utc(6, 1, 21), utc(6, 2, 20), id="24x7"),
    ],
)
def test_extend_for_pause_in_zoned_calendars(
    calendar: BusinessCalendar, due: datetime, paused_from: datetime, resumed_at: datetime, expected: datetime
) -> None:
    assert calendar.extend_for_pause(due, paused_from, resumed_at) == expected


def test_resume_before_pause_is_rejected() -> None:
    with pytest.raises(ValueError, match="before pausing"):
        OFFICE.extend_for_pause(utc(6, 1, 15), utc(6, 1, 11), utc(6, 1, 10))


def test_spec_from_yaml_with_unquoted_dates() -> None:
    spec = yaml.safe_load(
        """
        timezone: Europe/Berlin
        working_hours:
          Monday: [09:00-12:00, 13:00-17:00]
          tue: 09:00-17:00
          sat: []
        holidays: [2026-06-02]   # YAML reads this as a date, not a string
        """
    )
    calendar = BusinessCalendar.from_spec(spec)
    assert calendar.working_hours == {0: ((time(9), time(12)), (time(13), time(17))), 1: ((time(9), time(17)),)}
    assert calendar.holidays == {date(2026, 6, 2)}
    assert calendar.between(local(BERLIN, 6, 1), local(BERLIN, 6, 8)) == 7 * H


def test_constructor_takes_times_and_end_of_day() -> None:
    calendar = BusinessCalendar("UTC", {4: [(time(18), END_OF_DAY)]})
    assert calendar == BusinessCalendar("UTC", {4: [(time(18), time(0))]})
    assert hash(calendar) == hash(BusinessCalendar("UTC", {4: [(time(18), END_OF_DAY)]}))
    assert calendar.between(utc(6, 5), utc(6, 6)) == 6 * H


BAD_SPECS = [
    ({"working_hours": "24x7"}, "needs 'timezone'"),
    ({"timezone": "UTC"}, "needs 'working_hours'"),
    ({"timezone": "Mars/Olympus_Mons", "working_hours": "24x7"}, "unknown time zone 'Mars/Olympus_Mons'"),
    ({"timezone": "UTC", "working_hours": "9 to 5"}, "working_hours must be '24x7' or a mapping"),
    ({"timezone": "UTC", "working_hours": {"funday": ["09:00-17:00"]}}, "unknown weekday 'funday'"),
    ({"timezone": "UTC", "working_hours": {"mon": ["9-17"]}}, r"working_hours.mon\[0\]: '9-17' is not 'HH:MM-HH:MM'"),
    ({"timezone": "UTC", "working_hours": {"mon": ["25:00-26:00"]}}, "not a valid time range"),
    ({"timezone": "UTC", "working_hours": {"mon": ["17:00-09:00"]}}, "mon: 17:00-09:00 ends before it starts"),
    ({"timezone": "UTC", "working_hours": {"mon": ["09:00-09:00"]}}, "ends before it starts"),
    ({"timezone": "UTC", "working_hours": {"mon": ["22:00-00:00"]}}, "write 24:00 for midnight"),
    ({"timezone": "UTC", "working_hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, "09:00-12:00 overlaps 11:00-13:00"),
    ({"timezone": "UTC", "working_hours": {"mon": ["09:00-17:00"], "Monday": []}}, "mon is given twice"),
    ({"timezone": "UTC", "working_hours": {}}, "no working hours"),
    (
        {"timezone": "UTC", "working_hours": "24x7", "holidays": ["25.12.2026"]},
        r"holidays\[0\]: '25.12.2026' is not a date",
    ),
    ({"timezone": "UTC", "working_hours": "24x7", "holiday_country": "XX", "holiday_years": [2026]}, "Country XX"),
    (
        {
            "timezone": "UTC",
            "working_hours": "24x7",
            "holiday_country": "DE",
            "holiday_subdivision": "ZZ",
            "holiday_years": [2026],
        },
        "ZZ",
    ),
    ({"timezone": "UTC", "working_hours": "24x7", "holiday_country": "DE"}, "needs holiday_years"),
    ({"timezone": "UTC", "working_hours": "24x7", "holiday_years": [2026]}, "need holiday_country"),
    ({"timezone": "UTC", "working_hours": "24x7", "holiday_contry": "DE"}, "unknown calendar key.*holiday_contry"),
]


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_invalid_spec(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        BusinessCalendar.from_spec(spec)
    assert "\n" not in str(info.value)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        OFFICE.add(datetime(2026, 6, 1, 9), H)


def test_calendar_that_never_opens_again() -> None:
    mondays = frozenset(date(2026, 6, 1) + timedelta(weeks=n) for n in range(52 * 25))
    calendar = BusinessCalendar("UTC", {0: [(time(9), time(17))]}, mondays)
    with pytest.raises(ValueError, match="more than 20 years"):
        calendar.add(utc(6, 1), H)
    with pytest.raises(ValueError, match="no working time"):
        calendar.next_opening(utc(6, 1))
    assert calendar.between(utc(6, 1), utc(6, 1, year=2040)) == timedelta(0)


# --- properties ------------------------------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "America/Santiago"]


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Random calendars with at least one working interval, minute-aligned boundaries."""
    hours: dict[int, list[tuple[time, time]]] = {}
    for weekday in draw(st.sets(st.integers(0, 6), min_size=1)):
        cuts = sorted(draw(st.sets(st.integers(0, 24 * 60), min_size=2, max_size=6)))
        pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
        hours[weekday] = [
            (time(s // 60, s % 60), END_OF_DAY if e == 24 * 60 else time(e // 60, e % 60)) for s, e in pairs
        ]
    holidays = draw(st.frozensets(st.dates(date(2025, 1, 1), date(2027, 12, 31)), max_size=20))
    return BusinessCalendar(draw(st.sampled_from(ZONES)), hours, holidays)


starts = st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31), timezones=st.sampled_from([UTC, BERLIN, NEW_YORK]))


def weekly_hours(calendar: BusinessCalendar) -> timedelta:
    """Nominal working time per week (ignoring holidays and DST), to size durations to the calendar."""
    day = date(2026, 6, 1)
    return sum(
        (
            datetime.combine(day + timedelta(days=end == END_OF_DAY), end) - datetime.combine(day, start)
            for intervals in calendar.working_hours.values()
            for start, end in intervals
        ),
        timedelta(0),
    )


@st.composite
def calendars_and_durations(draw: st.DrawFn, count: int = 1) -> tuple[BusinessCalendar, list[timedelta]]:
    """A calendar and durations of up to about a year of its working time, so no add runs out of years."""
    calendar = draw(calendars())
    limit = weekly_hours(calendar) * 50 // timedelta(microseconds=1)
    return calendar, [timedelta(microseconds=draw(st.integers(0, limit))) for _ in range(count)]


@settings(max_examples=300, deadline=None)
@given(calendars_and_durations(), starts)
def test_add_and_between_are_inverse(case: tuple[BusinessCalendar, list[timedelta]], start: datetime) -> None:
    calendar, [duration] = case
    assert calendar.between(start, calendar.add(start, duration)) == duration
    assert calendar.between(calendar.add(start, -duration), start) == duration


@settings(max_examples=200, deadline=None)
@given(calendars_and_durations(count=2), starts)
def test_add_is_monotonic(case: tuple[BusinessCalendar, list[timedelta]], start: datetime) -> None:
    calendar, durations = case
    low, high = sorted(durations)
    assert calendar.add(start, low) <= calendar.add(start, high)


@settings(max_examples=30, deadline=None)
@given(calendars(), st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31)), st.integers(0, 3 * 24 * 60))
def test_between_agrees_with_counting_minutes(calendar: BusinessCalendar, naive: datetime, minutes: int) -> None:
    """An independent check of between: step minute by minute through a few days, asking is_working."""
    start = naive.replace(second=0, microsecond=0, tzinfo=UTC)
    counted = sum(calendar.is_working(start + n * M) for n in range(minutes))
    assert calendar.between(start, start + minutes * M) == counted * M


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ZONES), starts, st.integers(-400 * 24 * 60, 400 * 24 * 60))
def test_around_the_clock_is_elapsed_time_in_every_zone(zone: str, start: datetime, minutes: int) -> None:
    """A calendar open around the clock with no holidays takes a shortcut (elapsed time); one
    with a holiday long past walks day by day, over every DST change: both agree."""
    shortcut = BusinessCalendar.from_spec({"timezone": zone, "working_hours": "24x7"})
    walking = BusinessCalendar.from_spec({"timezone": zone, "working_hours": "24x7", "holidays": ["1990-01-01"]})
    duration = minutes * M
    end = start.astimezone(UTC) + duration  # in UTC: an aware start's own + is wall-clock arithmetic
    assert shortcut.add(start, duration) == walking.add(start, duration) == end
    assert shortcut.between(start, end) == walking.between(start, end) == duration
