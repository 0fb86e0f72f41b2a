"""The ``calendar:`` key of an entity (its records on the UI's calendar) is checked at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.checking import check_packs
from engine.config import Config

ENTITY = """entity: meeting
fields:
  subject: {type: string}
  kind: {type: enum, options: [call, visit]}
  starts_at: {type: datetime}
  ends_at: {type: datetime}
  day: {type: date}
  later: {type: datetime, compute: 'starts_at + 1h'}
"""


def problems_of(tmp_path: Path, calendar: str) -> str:
    pack = tmp_path / "alpha"
    (pack / "entities").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: alpha\nversion: 1.0.0\n")
    (pack / "entities" / "meeting.yaml").write_text(ENTITY + calendar)
    problems, _ = check_packs(Config(database_url="sqlite://", extra_pack_paths=(tmp_path,)), [tmp_path])
    return "\n".join(f"{p.location}: {p.message}" for p in problems.items)


@pytest.mark.parametrize(
    "calendar",
    [
        "calendar: {start: starts_at, end: ends_at, title: subject, color_by: kind}\n",
        "calendar: {start: day}\n",
    ],
)
def test_a_good_calendar_passes(tmp_path, calendar):
    assert problems_of(tmp_path, calendar) == ""


@pytest.mark.parametrize(
    ("calendar", "message"),
    [
        ("calendar: {start: subject}\n", "calendar start 'subject' must be a stored date or datetime field"),
        ("calendar: {start: later}\n", "calendar start 'later' must be a stored date or datetime field"),
        ("calendar: {start: starts_at, end: day}\n", "calendar end 'day' must be a stored field of the start"),
        ("calendar: {start: starts_at, title: nope}\n", "calendar title 'nope' is not a field of meeting"),
        ("calendar: {start: starts_at, color_by: subject}\n", "calendar color_by 'subject' must be an enum field"),
        ("calendar: {start: starts_at, colour: red}\n", "colour"),
        ("calendar: {end: ends_at}\n", "start"),
    ],
)
def test_a_bad_calendar_is_a_check_problem(tmp_path, calendar, message):
    text = problems_of(tmp_path, calendar)
    assert message in text, text
    assert "alpha/entities/meeting.yaml:" in text
