"""A user's calendar as an iCalendar feed (RFC 5545, with ``icalendar``), for Outlook, Google
Calendar and Apple Calendar to subscribe to.

The feed holds what the staff calendar (``/app/calendar``) shows the same user, from the
same code (``engine.calendar_events``): records of every entity with ``calendar:``, read
as that user through the data-access layer, so it never holds a record they may not read.
By default their own records (owned, assigned through owner fields, or attended through a
``links`` field to users) from ``PAST_DAYS`` before today to ``FUTURE_DAYS`` after it;
``scope="team"`` or ``"all"`` widens that as on the calendar page.

Each event: ``UID`` ``ENTITY-ID@HOST`` (stable, so clients update rather than duplicate),
``DTSTART``/``DTEND`` (whole days for date fields, the end day included; UTC times for
datetimes, zero length without an end field), ``SUMMARY`` from the calendar title field,
``URL`` and ``DESCRIPTION`` linking to the record's page, ``LAST-MODIFIED`` from
``updated_at``. The token in the feed's address is ``engine.security.feed_tokens``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from engine import __version__
from engine.actor import Actor
from engine.calendar_events import calendar_entities, event_condition, event_fields, moment, read_events
from engine.meta.model import EntityDef
from engine.security.users import own_profile
from engine.storage.derivation import label_text
from engine.timezones import UTC, zone_named

PAST_DAYS = 30
FUTURE_DAYS = 365
#: events read per entity; the earliest in the window come first
LIMIT = 2000
#: how often clients should fetch the feed again (clients may poll less often)
REFRESH = dt.timedelta(hours=1)
CONTENT_TYPE = "text/calendar; charset=utf-8"


def user_zone(ws: Any, who: Actor) -> ZoneInfo:
    """The time zone of the user's profile (UTC when unset or unknown)."""
    try:
        return zone_named(str(own_profile(ws, who).get("timezone") or "UTC")) or UTC
    except KeyError:
        return UTC


def _option_label(entity: EntityDef, field: str | None, record: dict[str, Any], locale: str) -> str | None:
    fd = entity.fields.get(field) if field else None
    option = next((o for o in fd.enum_options if o.value == record.get(fd.name)), None) if fd else None
    return label_text(option.label or option.value, locale) if option is not None else None


def _event(entity: EntityDef, record: dict[str, Any], base_url: str, host: str, locale: str) -> Event | None:
    fields = event_fields(entity)
    begins = moment(record.get(fields.start))
    if begins is None:
        return None
    ends = moment(record.get(fields.end)) if fields.end else None
    label = label_text(entity.label, locale)
    title = str((record.get(fields.title) if fields.title else None) or f"{label} {record['id'][:8]}")
    link = f"{base_url}/app/{entity.name}/{record['id']}"
    event = Event()
    event.add("uid", f"{entity.name}-{record['id']}@{host}")
    if isinstance(begins, dt.datetime):
        finish = ends if isinstance(ends, dt.datetime) and ends > begins else begins
        event.add("dtstart", begins.astimezone(dt.UTC))
        event.add("dtend", finish.astimezone(dt.UTC))
    else:
        last = ends if ends is not None and not isinstance(ends, dt.datetime) and ends > begins else begins
        event.add("dtstart", begins)
        event.add("dtend", last + dt.timedelta(days=1))  # DTEND of a whole-day event is exclusive
    event.add("summary", title)
    kind = _option_label(entity, fields.color_by, record, locale)
    event.add("categories", [label, kind] if kind else [label])
    event.add("description", f"{label}{f' ({kind})' if kind else ''}: {title}\n{link}")
    event.add("url", link)
    changed = moment(record.get("updated_at"))
    if isinstance(changed, dt.datetime):
        event.add("last-modified", changed.astimezone(dt.UTC))
    # DTSTAMP: when this version of the event was made; the record's last change keeps the
    # feed byte-identical between fetches when nothing changed
    event.add("dtstamp", (changed if isinstance(changed, dt.datetime) else dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    return event


def feed(ws: Any, who: Actor, base_url: str, scope: str = "mine", today: dt.date | None = None) -> bytes:
    """The iCalendar document of ``who``'s calendar; record links point at ``base_url``."""
    zone = user_zone(ws, who)
    today = today or dt.datetime.now(zone).date()
    first, last = today - dt.timedelta(days=PAST_DAYS), today + dt.timedelta(days=FUTURE_DAYS)
    base_url = base_url.rstrip("/")
    host = urlsplit(base_url).hostname or "tessera"
    profile = own_profile(ws, who)
    calendar = Calendar()
    calendar.add("prodid", f"-//Tessera//Tessera {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Tessera: {profile.get('full_name') or profile['email']}")
    calendar.add("x-wr-timezone", str(zone))
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH)
    for entity in calendar_entities(ws.records.catalog_for(who)):
        condition = event_condition(entity, first, last, zone, scope)
        for records, _ in read_events(ws, who, entity, condition, LIMIT):
            for record in records:
                event = _event(entity, record, base_url, host, who.locale)
                if event is not None:
                    calendar.add_component(event)
    return bytes(calendar.to_ical())
