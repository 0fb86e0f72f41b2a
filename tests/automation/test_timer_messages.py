"""A timer that fires again on an unchanged record sends its messages again: each firing's
e-mail and webhook are their own outbox rows (their keys once named only the record's
version, so the second and later reminders were dropped as repeats). SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.automation.timers import fire_due
from engine.storage import system_tables as st
from tests.conftest import pack_workspace

T0 = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)
TICKET = """
entity: ticket
title: subject
fields:
  subject: {type: string, required: true}
permissions:
  admin: {read: all, create: true, update: all, delete: all}
"""
RULES = """
rules:
  - name: arm
    entity: ticket
    on: create
    do:
      - start_timer: {name: remind, after: 1h}
  - name: remind
    entity: ticket
    on: timer
    timer: remind
    do:
      - notify: {to: someone@example.com, channel: email, title: '=concat("Reminder: ", subject)', body: ping}
      - webhook: {subscription: desk, event: ticket.remind}
      - start_timer: {name: remind, after: 1h}
"""


def test_every_firing_of_a_repeating_timer_sends_its_messages(database_url: str, tmp_path: Path) -> None:
    files = {"entities/ticket.yaml": TICKET, "rules/remind.yaml": RULES}
    ws = pack_workspace(database_url, tmp_path, "remindkit", files, {"admin": "Admin"})
    try:
        ws.records.create(SYSTEM, "webhook", {"name": "desk", "url": "https://desk.example.com/hook"})
        ws.records.clock = lambda: T0
        ws.records.create(SYSTEM, "ticket", {"subject": "Printer jam"})
        fired = [fire_due(ws, T0 + dt.timedelta(hours=hours, minutes=1)) for hours in (1, 2, 3)]
        assert fired == [1, 1, 1]
        with ws.db.connect() as conn:
            channels = conn.execute(sa.select(st.outbox.c.channel)).scalars().all()
        assert sorted(channels) == ["email"] * 3 + ["webhook"] * 3
    finally:
        ws.close()
