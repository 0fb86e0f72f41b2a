"""Durations in automation are at most ten years, checked when the metadata loads: a far
longer timer or schedule offset overflowed the calendar on the write that reached it (a
500, or a scheduler stuck on every tick). An SLA target that its calendar cannot place (too
little working time within reach) refuses the write with a 409 saying what to change,
not a 500, and writes nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.actor import SYSTEM
from engine.errors import MetadataError
from tests.conftest import pack_workspace

TICKET = """
entity: ticket
title: subject
fields:
  subject: {type: string, required: true}
  due: {type: datetime}
permissions:
  admin: {read: all, create: true, update: all, delete: all}
"""
#: one working hour a week: a year of working time is some 8,760 weeks away
CALENDAR = """
calendar: sparse
timezone: Europe/Berlin
working_hours:
  mon: ["09:00-10:00"]
"""
SLA = """
sla: answer
entity: ticket
milestones:
  - name: reply
    due_field: due
    done_when: 'subject == "done"'
policies:
  - name: sparse
    calendar: sparse
    targets:
      default: {reply: 365d}
"""


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (
            "rules:\n  - {name: arm, entity: ticket, on: create, do: [{start_timer: {name: t, after: 99999999d}}]}\n",
            "'99999999d' is longer",
        ),
        (
            "rules:\n  - {name: late, entity: ticket, schedule: {after: 3654d, field: due},"
            " do: [{set: {subject: late}}]}\n",
            "'3654d' is longer",
        ),
    ],
    ids=["timer", "schedule"],
)
def test_a_duration_longer_than_ten_years_is_refused_when_the_metadata_loads(
    database_url: str, tmp_path: Path, document: str, where: str
) -> None:
    files = {"entities/ticket.yaml": TICKET, "rules/long.yaml": document}
    with pytest.raises(MetadataError) as refused:
        pack_workspace(database_url, tmp_path, "longkit", files, {"admin": "Admin"})
    assert "is longer than ten years (3653d), the longest duration here" in str(refused.value.errors)
    assert where in str(refused.value.errors)


def test_an_sla_target_its_calendar_cannot_place_refuses_the_write(database_url: str, tmp_path: Path) -> None:
    files = {"entities/ticket.yaml": TICKET, "calendars/sparse.yaml": CALENDAR, "sla/answer.yaml": SLA}
    ws = pack_workspace(database_url, tmp_path, "sparsekit", files, {"admin": "Admin"})
    try:
        with pytest.raises(Exception) as refused:
            ws.records.create(SYSTEM, "ticket", {"subject": "Printer jam"})
        assert getattr(refused.value, "status", None) == 409
        assert "The SLA milestone 'reply' (policy 'sparse') cannot be placed" in str(refused.value)
        assert "widen its calendar's working hours" in str(refused.value)
        assert ws.records.list(SYSTEM, "ticket", {}).data == []
    finally:
        ws.close()
