"""What the data-access layer tells automation about a write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.actor import Actor
from engine.meta.model import EntityDef

EVENT_KINDS = ("create", "update", "delete", "restore", "transition", "timer")


@dataclass
class Event:
    """One write (or timer) on one record, after validation, inside its transaction.

    ``new`` and ``old`` hold the record's stored column values (native Python values);
    ``changed`` names the fields whose value changed (every set field on create)."""

    kind: str
    entity: EntityDef
    record_id: str
    new: dict[str, Any] | None
    old: dict[str, Any] | None
    actor: Actor
    changed: frozenset[str] = frozenset()
    #: the transition's name (``transition``) or the timer's name (``timer``)
    name: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    #: the run's write count when the event was emitted: ``new`` is current while it holds
    writes: int = -1
    #: what tells this event from another of the same record version and kind (a timer
    #: firing: its row and due time): the outbox keys of its messages include it
    occurrence: str = ""

    @property
    def record(self) -> dict[str, Any]:
        return self.new if self.new is not None else (self.old or {})
