"""SLA clocks: due times in business time, policies, pauses, breaches and escalation levels.

The pack ``tests/packs/auto_sla`` tracks cases: a Berlin office calendar (weekdays
08:00-17:00, Thursday 2026-06-04 off), a round-the-clock ``gold`` policy for gold clients and
a ``standard`` one in office hours, a 75 % warning and a raise-priority level 2h after breach.
June 2026 in Berlin is UTC+2; 2026-06-01 is a Monday.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.app import create_app
from engine.automation.timers import fire_due, next_due
from engine.checking import check_packs
from engine.config import Config
from engine.errors import MetadataError
from engine.meta.catalog import Overlay
from engine.storage import system_tables as st
from engine.storage.database import write_transaction
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, Api, sign_in

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """An instant of June 2026 in Berlin."""
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=BERLIN)


def shown(moment: dt.datetime) -> str:
    """How the API shows an instant."""
    return moment.astimezone(dt.UTC).isoformat()


class Desk:
    """The support desk: the API as an agent, and the workspace clock."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.api: Api = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")

    def at(self, moment: dt.datetime) -> None:
        self.ws.records.clock = lambda: moment

    def open(self, when: dt.datetime, **values: Any) -> dict[str, Any]:
        self.at(when)
        response = self.api.post("case", {"subject": "Printer on fire", **values})
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def change(self, when: dt.datetime, case: dict[str, Any], **values: Any) -> dict[str, Any]:
        self.at(when)
        response = self.api.patch(f"case/{case['id']}", values)
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    def get(self, case: dict[str, Any]) -> dict[str, Any]:
        return dict(self.api.get(f"case/{case['id']}").get_json())

    def fire(self, when: dt.datetime) -> int:
        return fire_due(self.ws, when)


@pytest.fixture
def desk(auto_workspace: Any) -> Desk:
    return Desk(auto_workspace("auto_sla"))


def sla_view(case: dict[str, Any]) -> tuple[Any, ...]:
    return (case["sla_policy"], case["sla_state"], case["response_due"], case["resolution_due"])


# --- due times ---------------------------------------------------------------------------------
def test_due_times_are_stored_on_the_record_in_business_time(desk: Desk) -> None:
    # Friday 16:00: one office hour left this week, the rest from Monday 08:00
    case = desk.open(berlin(5, 16), priority="P1")
    assert sla_view(case) == ("standard", "on_track", shown(berlin(5, 17)), shown(berlin(8, 11)))
    # Wednesday 16:00 over the Thursday holiday: 1h on Wednesday, 3h on Friday
    other = desk.open(berlin(3, 16), priority="P1")
    assert other["resolution_due"] == shown(berlin(5, 11))
    history = desk.api.get(f"case/{case['id']}/history").get_json()["data"]
    assert history[0]["changes"]["resolution_due"] == [None, shown(berlin(8, 11))]
    # written with the case itself: one version, one entry in the history
    assert case["version"] == 1
    assert [entry["action"] for entry in history] == ["create"]


def test_the_first_policy_whose_condition_holds_applies(desk: Desk) -> None:
    gold = desk.api.post("client", {"name": "Goldfinch", "tier": "gold"}).get_json()
    silver = desk.api.post("client", {"name": "Silverline", "tier": "silver"}).get_json()
    # gold clients: round the clock, even on a Friday evening
    case = desk.open(berlin(5, 16), priority="P1", client=gold["id"])
    assert sla_view(case) == ("gold", "on_track", shown(berlin(5, 16, 15)), shown(berlin(5, 18)))
    # moving the case to a silver client recalculates from the same start in office hours
    moved = desk.change(berlin(5, 16, 5), case, client=silver["id"])
    assert sla_view(moved) == ("standard", "on_track", shown(berlin(5, 17)), shown(berlin(8, 11)))


def test_a_priority_change_recalculates_from_the_start(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P3")  # 4h / 16h office time
    assert (case["response_due"], case["resolution_due"]) == (shown(berlin(1, 13)), shown(berlin(2, 16)))
    raised = desk.change(berlin(1, 10), case, priority="P1")  # 1h / 4h from 09:00
    assert (raised["response_due"], raised["resolution_due"]) == (shown(berlin(1, 10)), shown(berlin(1, 13)))
    assert next_due(desk.ws) == berlin(1, 10)  # the response clock is due now
    # the new due times are written with the priority: one change in the history, one version
    assert raised["version"] == case["version"] + 1
    latest = desk.api.get(f"case/{case['id']}/history").get_json()["data"][0]
    assert latest["changes"]["priority"] == ["P3", "P1"]
    assert latest["changes"]["resolution_due"] == [shown(berlin(2, 16)), shown(berlin(1, 13))]


def test_a_pause_is_written_with_the_change_that_causes_it(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2")
    paused = desk.change(berlin(1, 10), case, status="waiting")
    assert paused["version"] == case["version"] + 1
    latest = desk.api.get(f"case/{case['id']}/history").get_json()["data"][0]
    assert latest["changes"]["status"][1] == "waiting"
    assert latest["changes"]["sla_state"] == ["on_track", "paused"]


def test_other_changes_leave_the_clocks_alone(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2")
    changed = desk.change(berlin(1, 10), case, subject="Printer still on fire")
    assert sla_view(changed) == sla_view(case)
    assert changed["version"] == case["version"] + 1  # only the user's change was written


def test_start_field_backdates_the_clocks_of_an_imported_case(desk: Desk) -> None:
    # opened Monday 09:00 in another system, imported Tuesday 09:00: already 9 office hours in
    case = desk.open(berlin(2, 9), priority="P2", opened_at=shown(berlin(1, 9)))
    assert (case["response_due"], case["resolution_due"]) == (shown(berlin(1, 11)), shown(berlin(1, 17)))
    assert desk.fire(berlin(2, 9)) >= 2  # both timers were due in the past: the runner catches up
    assert desk.get(case)["sla_state"] == "breached"
    # a start in the future counts from now
    later = desk.open(berlin(2, 9), priority="P2", opened_at=shown(berlin(5, 9)))
    assert later["response_due"] == shown(berlin(2, 11))


# --- pause, met, reopen ----------------------------------------------------------------------
def test_pausing_stops_the_clock_and_resuming_moves_the_due_times(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2")  # response 11:00, resolution 17:00
    paused = desk.change(berlin(1, 10), case, status="waiting")
    assert sla_view(paused)[1:] == ("paused", shown(berlin(1, 11)), shown(berlin(1, 17)))
    assert next_due(desk.ws) is None  # no escalation while paused
    assert desk.fire(berlin(3, 9)) == 0
    # Tuesday 10:00: 9 office hours later (7 on Monday, 2 on Tuesday)
    resumed = desk.change(berlin(2, 10), case, status="in_progress")
    assert sla_view(resumed)[1:] == ("on_track", shown(berlin(2, 11)), shown(berlin(2, 17)))
    assert next_due(desk.ws) == berlin(2, 11)


def test_a_pause_over_the_weekend_moves_nothing(desk: Desk) -> None:
    case = desk.open(berlin(5, 16), priority="P1")
    desk.change(berlin(5, 17, 30), case, status="waiting")
    resumed = desk.change(berlin(8, 7), case, status="in_progress")
    assert (resumed["sla_state"], resumed["resolution_due"]) == ("on_track", shown(berlin(8, 11)))


def test_meeting_a_milestone_stops_its_clock(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2")
    responded = desk.change(berlin(1, 9, 30), case, first_response_at=shown(berlin(1, 9, 30)))
    assert responded["sla_state"] == "on_track"  # resolution still runs
    assert next_due(desk.ws) == berlin(1, 15)  # the resolution warning at 75 %, no response timer
    resolved = desk.change(berlin(1, 12), case, status="resolved")
    assert resolved["sla_state"] == "met"
    assert resolved["resolution_due"] == shown(berlin(1, 17))  # the due time stays visible
    assert next_due(desk.ws) is None
    assert desk.fire(berlin(9, 9)) == 0
    assert desk.get(case)["version"] == resolved["version"]


def test_reopening_resumes_without_counting_the_time_it_stood_resolved(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2", first_response_at=shown(berlin(1, 9)))
    desk.change(berlin(1, 12), case, status="resolved")  # 3 of 8 hours used
    reopened = desk.change(berlin(2, 9), case, status="in_progress")  # 6 office hours later
    assert (reopened["sla_state"], reopened["resolution_due"]) == ("on_track", shown(berlin(2, 14)))


def test_a_timer_left_for_a_met_clock_does_nothing(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2", first_response_at=shown(berlin(1, 9)))
    resolved = desk.change(berlin(1, 10), case, status="resolved")
    with write_transaction(desk.ws.db) as conn:  # the cancelled timer comes back, as after a crash
        timer = st.timer
        revived = conn.execute(
            timer.update()
            .where(timer.c.record_id == case["id"], timer.c.name == "sla:case_support:resolution")
            .values(state="pending", due_at=berlin(1, 17))
        )
        assert revived.rowcount == 1
    assert desk.fire(berlin(2, 12)) == 1
    after = desk.get(case)
    assert (after["version"], after["sla_state"], after["escalation_level"] or 0) == (resolved["version"], "met", 0)


# --- timers and escalation -----------------------------------------------------------------------
def test_timers_move_the_case_to_at_risk_breached_then_escalate(desk: Desk) -> None:
    case = desk.open(berlin(1, 8), priority="P2", first_response_at=shown(berlin(1, 8)))
    assert case["resolution_due"] == shown(berlin(1, 16))
    assert next_due(desk.ws) == berlin(1, 14)  # 75 % of 8 office hours

    assert desk.fire(berlin(1, 13, 59)) == 0
    assert desk.fire(berlin(1, 14)) == 1
    warned = desk.get(case)
    assert (warned["sla_state"], warned["escalation_level"], warned["note"]) == ("at_risk", 1, "Resolution at risk")

    assert next_due(desk.ws) == berlin(1, 16)
    assert desk.fire(berlin(1, 16)) == 1
    breached = desk.get(case)
    assert (breached["sla_state"], breached["escalation_level"], breached["priority"]) == ("breached", 1, "P2")

    assert next_due(desk.ws) == berlin(2, 9)  # 2 office hours after the breach: 16-17, 08-09
    assert desk.fire(berlin(2, 9)) == 1
    escalated = desk.get(case)
    assert (escalated["sla_state"], escalated["escalation_level"], escalated["priority"]) == ("breached", 2, "P1")
    assert escalated["resolution_due"] == shown(berlin(1, 12))  # P1's 4h target, recalculated
    tasks = desk.api.get(f"task?case={case['id']}").get_json()["data"]
    assert [t["subject"] for t in tasks] == ["Breached: Printer on fire"]
    assert next_due(desk.ws) is None  # every level reached
    assert desk.fire(berlin(12, 9)) == 0


def test_a_late_sweep_reaches_every_level_due_in_order(desk: Desk) -> None:
    case = desk.open(berlin(1, 8), priority="P2", first_response_at=shown(berlin(1, 8)))
    assert desk.fire(berlin(3, 12)) == 1  # one timer, three instants behind
    caught_up = desk.get(case)
    assert (caught_up["sla_state"], caught_up["escalation_level"], caught_up["priority"]) == ("breached", 2, "P1")
    assert caught_up["note"] == "Resolution at risk"


def test_the_response_breach_alone_marks_the_case_breached(desk: Desk) -> None:
    case = desk.open(berlin(1, 8), priority="P2")
    assert next_due(desk.ws) == berlin(1, 10)  # response due before the resolution warning
    assert desk.fire(berlin(1, 10)) == 1
    late = desk.get(case)
    assert (late["sla_state"], late["escalation_level"] or 0) == ("breached", 0)
    # answering late does not undo the breach
    answered = desk.change(berlin(1, 11), case, first_response_at=shown(berlin(1, 11)))
    assert answered["sla_state"] == "breached"


def test_deleting_stops_the_timers_and_restoring_rearms_them(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P2")
    desk.at(berlin(1, 9, 30))
    assert desk.api.delete(f"case/{case['id']}").status_code == 204
    assert next_due(desk.ws) is None
    assert desk.api.post(f"case/{case['id']}/restore").status_code == 200
    assert next_due(desk.ws) == berlin(1, 11)


def test_escalate_action_reaches_the_next_level_now(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P3")
    first = desk.change(berlin(1, 9, 30), case, note="escalate")
    assert (first["sla_state"], first["escalation_level"], first["note"]) == ("at_risk", 1, "Resolution at risk")
    second = desk.change(berlin(1, 9, 40), case, note="escalate")
    assert (second["escalation_level"], second["priority"]) == (2, "P1")
    third = desk.change(berlin(1, 9, 50), case, note="escalate")  # no level left: nothing more
    assert (third["escalation_level"], third["priority"]) == (2, "P1")
    assert len(desk.api.get(f"task?case={case['id']}").get_json()["data"]) == 1
    # the automatic levels already reached do not run again; the breach still comes
    assert next_due(desk.ws) == berlin(1, 10)  # P1 response due
    desk.fire(berlin(2, 17))
    assert desk.get(case)["escalation_level"] == 2
    assert len(desk.api.get(f"task?case={case['id']}").get_json()["data"]) == 1


def test_escalate_action_can_name_the_level(desk: Desk) -> None:
    case = desk.open(berlin(1, 9), priority="P3")
    lead = desk.change(berlin(1, 9, 30), case, note="call the lead")
    assert (lead["escalation_level"], lead["priority"], lead["sla_state"]) == (2, "P1", "at_risk")


def test_only_entities_with_an_sla_are_tracked(desk: Desk) -> None:
    automation = desk.ws.snapshot().automation
    assert "case" in automation.listening
    assert set(automation.parts["sla"].by_entity) == {"case"}  # tasks and clients cost the SLA nothing


def test_overlays_replace_calendars_and_slas_and_are_checked(desk: Desk) -> None:
    around_the_clock = {"calendar": "berlin_office", "timezone": "Europe/Berlin", "working_hours": "24x7"}
    snap = desk.ws.build_snapshot(99, (Overlay("o1", "calendar", "berlin_office", around_the_clock),))
    assert snap.automation.calendars["berlin_office"].add(berlin(5, 16), dt.timedelta(hours=4)) == berlin(5, 20)
    broken = {
        "sla": "case_support",
        "entity": "case",
        "milestones": [{"name": "resolution", "done_when": 'status == "resolved"'}],
        "policies": [{"name": "any", "calendar": "nope", "targets": {"default": {"resolution": "4h"}}}],
    }
    with pytest.raises(MetadataError) as refused:
        desk.ws.build_snapshot(99, (Overlay("o2", "sla", "case_support", broken),))
    assert "overlay:sla:case_support" in str(refused.value)
    assert "unknown calendar 'nope'; calendars: berlin_office" in str(refused.value)


# --- the checker ---------------------------------------------------------------------------------
def write_pack(root: Path, files: dict[str, str]) -> None:
    pack = root / "support"
    pack.mkdir()
    (pack / "pack.yaml").write_text("name: support\nversion: 1.0.0\ndepends: [autokit]\n")
    for name, text in files.items():
        (pack / name).parent.mkdir(exist_ok=True)
        (pack / name).write_text(textwrap.dedent(text).lstrip())


def problems_of(root: Path) -> list[str]:
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, root))
    problems, _ = check_packs(config, [root])
    return [str(p) for p in problems.items]


def test_the_checker_reports_bad_definitions_at_their_place(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        {
            "calendars/office.yaml": """
                calendar: office
                timezone: Europe/Atlantis
                working_hours: {mon: ["09:00-17:00"]}
            """,
            "calendars/shifts.yaml": """
                calendar: shifts
                timezone: UTC
                working_hours:
                  mon: ["09:00-17:00", "18:00-17:30"]
            """,
            "sla/cases.yaml": """
                sla: cases
                entity: case
                priority_field: priority
                state_field: subject
                level_field: nope
                milestones:
                  - {name: resolution, done_when: 'status == "resolved"'}
                policies:
                  - name: standard
                    calendar: nine_to_five
                    targets:
                      P9: {resolution: 4h}
                      default: {response: 1h}
                escalation:
                  - {name: warn, at: 75%, do: [{set: {prio: P1}}]}
                  - {name: boss, after: 1h, do: [{escalate: {level: nobody}}]}
            """,
        },
    )
    problems = problems_of(tmp_path)
    root = tmp_path / "support"
    expected = [
        f"{root}/calendars/office.yaml:2:1: calendar office: unknown time zone 'Europe/Atlantis'",
        f"{root}/calendars/shifts.yaml:4:3: calendar shifts: mon: 18:00-17:30 ends before it starts",
        f"{root}/sla/cases.yaml:4:1: state_field needs a field of type enum; case.subject is string",
        f"{root}/sla/cases.yaml:5:1: case has no field 'nope'",
        f"{root}/sla/cases.yaml:10:5: unknown calendar 'nine_to_five'; calendars: office, shifts",
        f"{root}/sla/cases.yaml:12:7: targets are keyed by priority value: P1, P2, P3, P4, default",
        f"{root}/sla/cases.yaml:13:17: unknown milestone 'response'; milestones: resolution",
        f"{root}/sla/cases.yaml:15:39: case has no field 'prio'",
        f"{root}/sla/cases.yaml:16:46: SLA 'cases' has no escalation level 'nobody'",
    ]
    for message in expected:
        assert any(p.startswith(message) for p in problems), (message, problems)
    assert len(problems) == len(expected), problems
