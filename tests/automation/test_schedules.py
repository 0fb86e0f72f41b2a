"""Scheduled rules: relative-date alerts and cron rules, once per record and period.

The pack ``tests/packs/auto_schedules`` creates a task 90, 60, 30 and 7 days before a deal's
``end_date`` (unless it is rejected) and 3 days after its ``closed_at``, and counts the
mornings (07:00 in Berlin, 06:00 UTC in January) on each new case. The clock is passed to
``run_due``; records are created through the API with a fixed clock.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from engine.automation.schedules import run_due
from engine.checking import check_packs
from engine.config import Config
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, Api, sign_in


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def shown(moment: dt.datetime) -> str:
    """How the API shows an instant."""
    return moment.isoformat()


@pytest.fixture
def setup(auto_workspace: Any) -> tuple[Workspace, Api]:
    ws = auto_workspace("auto_schedules")
    ws.records.clock = lambda: utc(2027, 1, 1)
    return ws, sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")


def at(ws: Workspace, moment: dt.datetime) -> None:
    """Make the API's writes happen at ``moment``."""
    ws.records.clock = lambda: moment


def tasks_of(api: Api, record_id: str) -> list[dict[str, Any]]:
    tasks = api.get(f"task?related_id={record_id}&limit=100").get_json()["data"]
    return sorted(tasks, key=lambda t: t["created_at"])


# --- relative dates ----------------------------------------------------------------------------
def test_before_alerts_fire_once_each_as_the_clock_moves(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    deal = api.post("deal", {"name": "Renewal", "end_date": "2027-12-31"}).get_json()
    lost = api.post("deal", {"name": "Lost", "end_date": "2027-12-31", "status": "rejected"}).get_json()
    ticks = [
        (utc(2027, 9, 1), 0),
        (utc(2027, 10, 1, 23, 59), 0),
        (utc(2027, 10, 2), 1),  # 90 days before
        (utc(2027, 10, 2, 12), 0),  # a second tick sends nothing twice
        (utc(2027, 10, 20), 0),
        (utc(2027, 11, 1), 1),  # 60 days
        (utc(2027, 11, 1), 0),
        (utc(2027, 12, 1), 1),  # 30 days
        (utc(2027, 12, 24), 1),  # 7 days
        (utc(2027, 12, 30), 0),
        (utc(2028, 1, 10), 0),  # the date has passed
    ]
    assert [run_due(ws, now) for now, _ in ticks] == [ran for _, ran in ticks]
    tasks = tasks_of(api, deal["id"])
    assert [t["subject"] for t in tasks] == ["Ends soon: Renewal"] * 4
    assert [t["created_at"] for t in tasks] == [
        shown(utc(2027, 10, 2)),
        shown(utc(2027, 11, 1)),
        shown(utc(2027, 12, 1)),
        shown(utc(2027, 12, 24)),
    ]
    assert tasks_of(api, lost["id"]) == []  # its when does not hold


def test_after_a_gap_only_the_most_recent_due_alert_fires(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    deal = api.post("deal", {"name": "Renewal", "end_date": "2027-12-31"}).get_json()
    assert run_due(ws, utc(2027, 10, 5)) == 1  # 90 days (three days late)
    # no tick while the 60-day alert fell due; created now, a deal ending in 5 days
    at(ws, utc(2027, 12, 5))
    soon = api.post("deal", {"name": "Soon", "end_date": "2027-12-10"}).get_json()
    assert run_due(ws, utc(2027, 12, 5)) == 2  # the 30-day alert of one, the 7-day of the other
    assert run_due(ws, utc(2027, 12, 6)) == 0
    assert [t["created_at"] for t in tasks_of(api, deal["id"])] == [shown(utc(2027, 10, 5)), shown(utc(2027, 12, 5))]
    assert [t["created_at"] for t in tasks_of(api, soon["id"])] == [shown(utc(2027, 12, 5))]
    # a deal entered after it ended gets no reminder
    api.post("deal", {"name": "Old", "end_date": "2027-12-01"})
    assert run_due(ws, utc(2027, 12, 7)) == 0


def test_a_changed_date_rearms_the_alerts_and_when_is_checked_each_time(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    deal = api.post("deal", {"name": "Renewal", "end_date": "2027-12-31"}).get_json()
    assert run_due(ws, utc(2027, 10, 2)) == 1
    api.patch(f"deal/{deal['id']}", {"end_date": "2028-03-31"})
    assert run_due(ws, utc(2027, 10, 3)) == 0  # the new date is more than 90 days away
    assert run_due(ws, utc(2028, 1, 1)) == 1  # 90 days before 2028-03-31
    api.patch(f"deal/{deal['id']}", {"status": "rejected"})
    assert run_due(ws, utc(2028, 1, 31)) == 0  # 60 days before, but rejected
    api.patch(f"deal/{deal['id']}", {"status": "draft"})
    assert run_due(ws, utc(2028, 2, 1)) == 1  # the 60-day alert it has not had yet
    assert len(tasks_of(api, deal["id"])) == 3


def test_after_alerts_fire_once_when_due_and_never_for_old_history(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    deal = api.post("deal", {"name": "Won", "closed_at": "2027-03-01T10:00:00Z"}).get_json()
    earlier = api.post("deal", {"name": "Earlier", "closed_at": "2027-02-25T10:00:00Z"}).get_json()
    history = api.post("deal", {"name": "History", "closed_at": "2026-01-01T10:00:00Z"}).get_json()
    assert run_due(ws, utc(2027, 3, 4, 9, 59)) == 1  # Earlier, due 4 days ago: caught up
    assert run_due(ws, utc(2027, 3, 4, 10)) == 1  # Won, 3 days after
    assert run_due(ws, utc(2027, 3, 5)) == 0
    assert [t["subject"] for t in tasks_of(api, deal["id"])] == ["How was it? Won"]
    assert len(tasks_of(api, earlier["id"])) == 1
    assert tasks_of(api, history["id"]) == []
    api.patch(f"deal/{deal['id']}", {"closed_at": "2027-03-10T08:00:00Z"})  # reopened and closed again
    assert run_due(ws, utc(2027, 3, 13, 8)) == 1
    assert len(tasks_of(api, deal["id"])) == 2


# --- cron --------------------------------------------------------------------------------------
def counters(api: Api, *cases: dict[str, Any]) -> list[int]:
    return [api.get(f"case/{case['id']}").get_json()["counter"] for case in cases]


def test_a_cron_rule_runs_once_per_period_and_once_after_a_gap(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    first = api.post("case", {"subject": "First"}).get_json()
    second = api.post("case", {"subject": "Second"}).get_json()
    closed = api.post("case", {"subject": "Done", "status": "closed"}).get_json()
    assert run_due(ws, utc(2027, 1, 5, 6)) == 2  # 07:00 in Berlin
    assert run_due(ws, utc(2027, 1, 5, 6, 30)) == 0
    assert run_due(ws, utc(2027, 1, 6, 5, 59)) == 0
    assert run_due(ws, utc(2027, 1, 6, 6)) == 2
    assert counters(api, first, second, closed) == [2, 2, 0]
    at(ws, utc(2027, 1, 6, 10))
    late = api.post("case", {"subject": "Late"}).get_json()
    assert run_due(ws, utc(2027, 1, 6, 12)) == 0  # today's run is over: it waits for tomorrow
    assert run_due(ws, utc(2027, 1, 10, 12)) == 3  # four mornings missed: one run each
    assert run_due(ws, utc(2027, 1, 10, 13)) == 0
    assert counters(api, first, second, closed, late) == [3, 3, 0, 1]
    history = api.get(f"case/{first['id']}/history").get_json()["data"]
    counted = [h["changes"]["counter"] for h in history if "counter" in (h["changes"] or {})]
    assert counted == [[2, 3], [1, 2], [0, 1], [None, 0]]  # newest first


def test_a_cron_rule_first_catches_up_at_most_one_day(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    case = api.post("case", {"subject": "First"}).get_json()
    assert run_due(ws, utc(2027, 1, 5, 5)) == 1  # yesterday's 07:00 is within a day
    assert run_due(ws, utc(2027, 1, 5, 5, 30)) == 0
    assert counters(api, case) == [1]


def test_a_failing_record_is_rolled_back_and_reported_while_the_others_run(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    good = api.post("case", {"subject": "Good"}).get_json()
    bad = api.post("case", {"subject": "explode"}).get_json()
    assert run_due(ws, utc(2027, 1, 5, 6)) == 1
    assert counters(api, good, bad) == [1, 0]
    failed = [h for h in api.get(f"case/{bad['id']}/history").get_json()["data"] if h["action"] == "schedule_failed"]
    assert len(failed) == 1
    assert failed[0]["changes"]["rule"] == [None, "schedule:count_days_new"]
    assert "subject" in failed[0]["changes"]["reason"][1]
    assert run_due(ws, utc(2027, 1, 5, 7)) == 0  # not retried every tick
    assert run_due(ws, utc(2027, 1, 6, 6)) == 1  # the next morning it fails again, the other runs


def test_workers_ticking_at_once_run_each_record_once(setup: tuple[Workspace, Api]) -> None:
    ws, api = setup
    cases = [api.post("case", {"subject": f"Case {i}"}).get_json() for i in range(6)]
    results: list[int] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            results.append(run_due(ws, utc(2027, 1, 5, 6), batch=2))
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=tick) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sum(results) == 6
    assert counters(api, *cases) == [1] * 6


# --- the checker -------------------------------------------------------------------------------
BAD_RULES = """
rules:
  - name: unknown_field
    entity: deal
    schedule: {before: 7d, field: ends}
    do: [{set: {name: x}}]
  - name: not_a_date
    entity: deal
    schedule: {after: 3d, field: name}
    do: [{set: {name: x}}]
  - name: bad_cron
    entity: case
    schedule: {cron: "0 25 * * *"}
    do: [{set: {counter: 1}}]
  - name: six_fields
    entity: case
    schedule: {cron: "0 0 7 * * *"}
    do: [{set: {counter: 1}}]
  - name: bad_duration
    entity: deal
    schedule: {before: [90d, 1 fortnight], field: end_date}
    do: [{set: {name: x}}]
  - name: both_ways
    entity: deal
    schedule: {before: 1d, after: 1d, field: end_date}
    do: [{set: {name: x}}]
  - name: nowhere
    entity: case
    schedule: {cron: "0 7 * * *", timezone: Mars/Olympus}
    do: [{set: {counter: 1}}]
  - name: same_twice
    entity: deal
    schedule: {before: [1d, 24h], field: end_date}
    do: [{set: {name: x}}]
  - name: no_field
    entity: deal
    schedule: {before: 1d}
    do: [{set: {name: x}}]
  - name: never
    entity: deal
    schedule: {before: 0d, field: end_date}
    do: [{set: {name: x}}]
  - name: not_in_sql
    entity: deal
    schedule: {before: 1d, field: end_date}
    when: 'matches(name, "^A")'
    do: [{set: {name: x}}]
"""


def test_the_checker_reports_bad_schedules_at_their_place(tmp_path: Path) -> None:
    pack = tmp_path / "bad_schedules"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: bad_schedules\nversion: 1.0.0\ndepends: [autokit]\n")
    (pack / "rules" / "bad.yaml").write_text(textwrap.dedent(BAD_RULES).lstrip())
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, tmp_path))
    problems, _ = check_packs(config, [tmp_path])
    messages = [str(p) for p in problems.items]
    where = f"{pack}/rules/bad.yaml"
    expected = [
        f"{where}:4:28: deal has no field 'ends'",
        f"{where}:8:27: deal.name is a string; a schedule counts from a date or datetime",
        f"{where}:12:16: cron '0 25 * * *' is not valid: [0 25 * * *] is not acceptable, out of range",
        f"{where}:16:16: cron '0 0 7 * * *' needs five fields: minute hour day-of-month month day-of-week",
        f"{where}:20:30: '1 fortnight' is not a duration like 90d, 4h or 1h30m",
        f"{where}:24:28: a schedule takes before or after, not both",
        f"{where}:28:35: unknown time zone 'Mars/Olympus'",
        f"{where}:32:29: before: 24h is the same offset as 1d",
        f"{where}:36:5: before needs field: the date or datetime field it counts from",
        f"{where}:40:16: before: 0d is the moment itself; use after: 0s",
        f"{where}:45:5: a scheduled rule's when must be computable in SQL: matches() cannot be used here",
    ]
    assert len(messages) == len(expected), messages
    for message in expected:
        assert any(m.startswith(message) for m in messages), (message, messages)
