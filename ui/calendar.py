"""The calendar: ``/app/calendar?view=day|week|month&date=YYYY-MM-DD&scope=mine|team``.

Every entity that declares ``calendar:`` (engine.meta.calendar_view) contributes its records:
activities at their due time, trainings over their days, ... Records are read through the
data-access layer as the signed-in user, so permissions decide what appears; the scope adds
a DSL condition on the owner fields (``owner == $user``, or ``$user in attendees`` for a
``links`` field to users, or ``is_team_member(owner)``). Which
records are events is ``engine.calendar_events``, shared with the iCalendar feed the page
links to ("Subscribe", ``engine.calendar_feed``). Days are the user's days: datetimes are
shown in the time zone of their profile. No JavaScript: the view, date and scope are links
and a GET form.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import request, url_for

from engine.api.calendar import feed_address
from engine.api.context import actor, workspace
from engine.calendar_events import calendar_entities, event_condition, event_fields, moment, read_events
from engine.errors import BadRequest, PermissionDenied
from engine.meta.model import EntityDef
from engine.security import feed_tokens
from engine.security.users import own_profile
from engine.timezones import UTC, zone_named
from ui.pages import bp, catalog, color_class, render_page, signed_in, text

VIEWS = ("month", "week", "day")
SCOPES = ("mine", "team")
#: entries read per entity and page; more are announced, not shown
LIMIT = 500
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Entry:
    entity: str
    entity_label: str
    record_id: str
    title: str
    time: str | None  # "09:30" in the user's time zone, None for date fields and later days
    color: str  # the CSS class of the option colour (ui.pages.color_class)


@dataclass
class Window:
    view: str
    day: dt.date  # the day asked for
    first: dt.date  # the first day shown
    last: dt.date  # the last day shown
    previous: dt.date
    next: dt.date
    days: list[dt.date] = field(default_factory=list)


def window(view: str, day: dt.date) -> Window:
    if view == "day":
        return Window(view, day, day, day, day - dt.timedelta(days=1), day + dt.timedelta(days=1), [day])
    if view == "week":
        monday = day - dt.timedelta(days=day.weekday())
        days = [monday + dt.timedelta(days=i) for i in range(7)]
        return Window(view, day, monday, days[-1], day - dt.timedelta(days=7), day + dt.timedelta(days=7), days)
    start = day.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    end = following - dt.timedelta(days=1)
    first = start - dt.timedelta(days=start.weekday())
    last = end + dt.timedelta(days=6 - end.weekday())
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    previous = (start - dt.timedelta(days=1)).replace(day=1)
    return Window(view, day, first, last, previous, following, days)


def _local(value: Any, zone: ZoneInfo) -> tuple[dt.date, str | None] | None:
    """A stored date or datetime as the user's day (and time of day for datetimes)."""
    value = moment(value)
    if isinstance(value, dt.datetime):
        local = value.astimezone(zone)
        return local.date(), local.strftime("%H:%M")
    return (value, None) if value is not None else None


def _color(entity: EntityDef, record: dict[str, Any]) -> str:
    name = event_fields(entity).color_by
    fd = entity.fields.get(name) if name else None
    if fd is None:
        return color_class(None)
    option = next((o for o in fd.enum_options if o.value == record.get(fd.name)), None)
    return color_class(option.color if option else None)


def entries_by_day(
    entities: list[EntityDef], win: Window, scope: str, zone: ZoneInfo
) -> tuple[dict[dt.date, list[Entry]], list[str]]:
    """The entries of each shown day, in time order, and the entities that had more to show."""
    ws, who = workspace(), actor()
    days: dict[dt.date, list[tuple[str, Entry]]] = {d: [] for d in win.days}
    truncated: list[str] = []
    for entity in entities:
        fields = event_fields(entity)
        start, end, title = fields.start, fields.end, fields.title
        condition = event_condition(entity, win.first, win.last, zone, scope)
        records, more = next(read_events(ws, who, entity, condition, LIMIT))
        if more:
            truncated.append(text(entity.plural or entity.label))
        for record in records:
            begins = _local(record.get(start), zone)
            if begins is None:
                continue
            ends = _local(record.get(end), zone) if end else None
            last_day = max(ends[0], begins[0]) if ends else begins[0]
            day = max(begins[0], win.first)
            while day <= min(last_day, win.last):
                time = begins[1] if day == begins[0] else None
                entry = Entry(
                    entity.name,
                    text(entity.label),
                    record["id"],
                    str((record.get(title) if title else None) or record["id"][:8]),
                    time,
                    _color(entity, record),
                )
                days[day].append((time or "", entry))
                day += dt.timedelta(days=1)
    ordered = {d: [e for _, e in sorted(items, key=lambda item: item[0])] for d, items in days.items()}
    return ordered, truncated


def user_zone() -> ZoneInfo:
    try:
        return zone_named(str(own_profile(workspace(), actor()).get("timezone") or "UTC")) or UTC
    except KeyError:
        return UTC


def subscribe_link() -> str:
    """The user's feed as webcal:// (calendar programs open it), else where to make one."""
    ws = workspace()
    try:
        found = feed_tokens.current(ws, actor())
    except PermissionDenied:  # an administrator acting as the user: not theirs to hand out
        found = None
    if found is None or found["token"] is None:
        return url_for("ui.profile", _anchor="calendar-feed")
    return str(feed_address(ws, found)["webcal_url"])


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(name) or allowed[0]
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}")
    return value


@bp.get("/app/calendar")
@signed_in
def calendar() -> Any:
    view, scope = _choice("view", VIEWS), _choice("scope", SCOPES)
    zone = user_zone()
    raw = request.args.get("date") or ""
    try:
        day = dt.date.fromisoformat(raw) if raw else dt.datetime.now(zone).date()
    except ValueError:
        raise BadRequest("date must be a date: YYYY-MM-DD") from None
    if not dt.date(2, 1, 1) <= day <= dt.date(9998, 12, 31):  # its week, month and time zone stay in range
        raise BadRequest("date must be between 0002-01-01 and 9998-12-31")
    win = window(view, day)
    entities = calendar_entities(catalog())
    days, truncated = entries_by_day(entities, win, scope, zone)

    def link(**changes: Any) -> str:
        args = {"view": view, "date": day.isoformat(), "scope": scope, **changes}
        if isinstance(args["date"], dt.date):
            args["date"] = args["date"].isoformat()
        return url_for("ui.calendar", **args)

    weeks = [win.days[i : i + 7] for i in range(0, len(win.days), 7)]
    return render_page(
        "calendar.html",
        win=win,
        scope=scope,
        days=days,
        weeks=weeks,
        weekdays=WEEKDAYS,
        entities=entities,
        truncated=truncated,
        link=link,
        today=dt.datetime.now(zone).date(),
        zone=str(zone),
        limit=LIMIT,
        subscribe=subscribe_link(),
    )
