"""SLA clocks as stored: one ``tessera_sla_clock`` row per (record, milestone), and the
arithmetic on one clock (its next instant, the record's state over its clocks).

The component that keeps them is :mod:`engine.automation.sla`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.dsl.business_time import BusinessCalendar
from engine.errors import Conflict
from engine.storage import system_tables as st
from engine.storage.write_batch import defer, flush_writes

if TYPE_CHECKING:
    from engine.automation.sla_definitions import Level, Sla

__all__ = ["Clock", "delete_clock", "load_clocks", "load_clocks_of", "next_step", "save_clock", "state_of"]

_CLOCK_COLUMNS = (
    "milestone",
    "policy",
    "started_at",
    "target_seconds",
    "due_at",
    "paused_at",
    "paused_seconds",
    "met_at",
    "breached_at",
    "level",
)


# --- clocks ----------------------------------------------------------------------------------
@dataclass
class Clock:
    """One milestone's clock of one record (a ``tessera_sla_clock`` row)."""

    milestone: str
    policy: str
    started_at: dt.datetime
    target_seconds: int
    due_at: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    paused_seconds: int = 0  # business seconds paused (or met, then reopened) so far
    met_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    level: int = 0  # position of the highest escalation level reached on this clock
    #: the row as last read or written (None: not stored yet)
    stored: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def running(self) -> bool:
        return self.met_at is None and self.paused_at is None

    @property
    def target(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.target_seconds)

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _CLOCK_COLUMNS}

    def at(self, calendar: BusinessCalendar, offset: dt.timedelta) -> dt.datetime:
        """The instant ``offset`` of business time into this clock (pauses excluded); a
        Conflict when the calendar has not that much working time within its reach."""
        try:
            return calendar.add(self.started_at, offset + dt.timedelta(seconds=self.paused_seconds))
        except (ValueError, OverflowError) as exc:
            raise Conflict(
                f"The SLA milestone {self.milestone!r} (policy {self.policy!r}) cannot be placed: {exc};"
                " an administrator must shorten its target or widen its calendar's working hours"
            ) from None

    def resume(self, calendar: BusinessCalendar, since: dt.datetime, now: dt.datetime) -> None:
        """Stop counting from ``since`` (paused or met) to ``now``: due times move by that much."""
        self.paused_seconds += int(calendar.between(since, now).total_seconds())
        self.paused_at = None


_c = st.sla_clock
_LOAD = sa.select(*(_c.c[k] for k in _CLOCK_COLUMNS)).where(
    _c.c.entity == sa.bindparam("entity"), _c.c.record_id == sa.bindparam("record_id")
)
_LOAD_MANY = sa.select(_c.c.record_id, *(_c.c[k] for k in _CLOCK_COLUMNS)).where(
    _c.c.entity == sa.bindparam("entity"), _c.c.record_id.in_(sa.bindparam("ids", expanding=True))
)
#: one statement for every change of a clock (the same text each time: prepared once)
_SAVE = (
    _c.update()
    .where(
        _c.c.entity == sa.bindparam("k_entity"),
        _c.c.record_id == sa.bindparam("k_record_id"),
        _c.c.milestone == sa.bindparam("k_milestone"),
    )
    .values({k: sa.bindparam(f"v_{k}") for k in _CLOCK_COLUMNS if k != "milestone"})
)


def load_clocks(conn: Any, entity: str, record_id: str) -> dict[str, Clock]:
    """Every clock of a record, by milestone (one primary-key range read)."""
    clocks = {}
    flush_writes(conn)  # clock writes may wait for the end of a batch
    for row in conn.execute(_LOAD, {"entity": entity, "record_id": record_id}):
        values = dict(row._mapping)
        clocks[row.milestone] = Clock(**values, stored=values)
    return clocks


def load_clocks_of(conn: Any, entity: str, record_ids: Sequence[str]) -> dict[str, dict[str, Clock]]:
    """Every clock of many records of one entity (one query): record id -> milestone -> clock."""
    found: dict[str, dict[str, Clock]] = {record_id: {} for record_id in record_ids}
    flush_writes(conn)
    for row in conn.execute(_LOAD_MANY, {"entity": entity, "ids": sorted(found)}):
        values = dict(row._mapping)
        del values["record_id"]
        found[row.record_id][row.milestone] = Clock(**values, stored=values)
    return found


def save_clock(conn: Any, entity: str, record_id: str, clock: Clock) -> bool:
    """Write the clock if it changed; True when it did."""
    values = clock.values()
    if values == clock.stored:
        return False
    if clock.stored is None:
        flush_writes(conn)  # kept writes first: they may be of an earlier clock of this key
        conn.execute(_c.insert(), {"entity": entity, "record_id": record_id, **values})
    else:  # may wait for the end of a batch (engine.storage.write_batch)
        key = {"k_entity": entity, "k_record_id": record_id, "k_milestone": clock.milestone}
        defer(conn, _SAVE, key | {f"v_{k}": v for k, v in values.items() if k != "milestone"})
    clock.stored = values
    return True


def delete_clock(conn: Any, entity: str, record_id: str, milestone: str) -> None:
    flush_writes(conn)
    conn.execute(_c.delete().where(_c.c.entity == entity, _c.c.record_id == record_id, _c.c.milestone == milestone))


def next_step(sla: Sla, clock: Clock) -> tuple[dt.datetime, Level | None] | None:
    """The clock's next instant: its breach (level None) or its next escalation level."""
    calendar = sla.calendar(clock)
    steps: list[tuple[dt.datetime, int, Level | None]] = []
    if clock.breached_at is None:
        steps.append((clock.at(calendar, clock.target), 0, None))
    level = sla.next_level(clock.milestone, clock.level)
    if level is not None:
        steps.append((clock.at(calendar, level.offset(clock.target)), 1, level))
    if not steps:
        return None
    instant, _, found = min(steps, key=lambda s: (s[0], s[1]))
    return instant, found


def state_of(clocks: list[Clock], unstarted: bool = False) -> str | None:
    """The record's SLA state over its clocks: a breach stays; met when every clock is."""
    if not clocks:
        return None
    if any(c.breached_at is not None for c in clocks):
        return "breached"
    running = [c for c in clocks if c.met_at is None]
    if not running and not unstarted:
        return "met"
    if any(c.paused_at is not None for c in running):
        return "paused"
    return "at_risk" if any(c.level for c in running) else "on_track"
