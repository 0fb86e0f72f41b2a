"""Rules run inside the write that triggers them: all or nothing, guarded against loops."""

from __future__ import annotations

from typing import Any

import pytest

from engine.app import create_app
from tests.conftest import Api, sign_in


@pytest.fixture
def api(auto_workspace: Any) -> Api:
    ws = auto_workspace("auto_rules")
    return sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")


def _tasks(api: Api, case_id: str) -> list[dict[str, Any]]:
    return api.get(f"task?case={case_id}").get_json()["data"]


def test_create_rule_sets_fields_and_creates_a_linked_record(api: Api) -> None:
    case = api.post("case", {"subject": "Server down", "priority": "P1"}).get_json()
    assert case["note"] == "Raised at Server down"
    assert case["escalation_level"] == 1
    tasks = _tasks(api, case["id"])
    assert [(t["subject"], t["kind"], t["related_entity"], t["related_id"]) for t in tasks] == [
        ("Call the customer", "call", "case", case["id"])
    ]
    history = api.get(f"case/{case['id']}/history").get_json()["data"]
    assert any(h["action"] == "update" and "note" in h["changes"] for h in history)


def test_update_rule_fires_only_when_a_named_field_changes(api: Api) -> None:
    case = api.post("case", {"subject": "Printer", "priority": "P3"}).get_json()
    assert case["note"] is None
    api.patch(f"case/{case['id']}", {"subject": "Printer jam"})
    assert _tasks(api, case["id"]) == []
    changed = api.patch(f"case/{case['id']}", {"priority": "P1"}).get_json()
    assert changed["escalation_level"] == 1
    assert len(_tasks(api, case["id"])) == 1
    # still P1, but priority did not change: the rule does not run again
    api.patch(f"case/{case['id']}", {"subject": "Printer on fire"})
    assert len(_tasks(api, case["id"])) == 1


def test_update_action_follows_a_link_and_a_filter(api: Api) -> None:
    client = api.post("client", {"name": "Acme"}).get_json()
    case = api.post("case", {"subject": "A", "client": client["id"], "priority": "P1"}).get_json()
    api.post("case", {"subject": "B", "client": client["id"]})
    refreshed = api.get(f"client/{client['id']}").get_json()
    assert (refreshed["open_cases"], refreshed["last_case_subject"]) == (2, "B")
    api.patch(f"case/{case['id']}", {"status": "closed"})
    assert [t["done"] for t in _tasks(api, case["id"])] == [True]


def test_loop_guard_cuts_a_self_triggering_rule_off_and_says_so(api: Api) -> None:
    case = api.post("case", {"subject": "Loop"}).get_json()
    response = api.patch(f"case/{case['id']}", {"counter": 1})
    assert response.status_code == 200
    assert response.get_json()["counter"] == 4  # 1 from the user, then the rule three times
    history = api.get(f"case/{case['id']}/history").get_json()["data"]
    cutoffs = [h for h in history if h["action"] == "automation_cutoff"]
    assert len(cutoffs) == 1
    assert cutoffs[0]["changes"]["rule"] == [None, "rule:runaway"]


def test_a_failing_action_rolls_back_the_triggering_write(api: Api) -> None:
    case = api.post("case", {"subject": "Fine"}).get_json()
    response = api.patch(f"case/{case['id']}", {"subject": "explode"})
    assert response.status_code == 422
    assert "subject" in str(response.get_json()["errors"])
    assert api.get(f"case/{case['id']}").get_json()["subject"] == "Fine"
    assert api.get("task").get_json()["data"] == []


def test_a_rule_timer_fires_once_at_its_due_time(auto_workspace: Any) -> None:
    import datetime as dt

    from engine.automation.timers import fire_due, next_due

    ws = auto_workspace("auto_rules")
    api = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")
    before = dt.datetime.now(dt.UTC)
    deal = api.post("deal", {"name": "Big one"}).get_json()
    due = next_due(ws)
    assert due is not None and dt.timedelta(days=2) <= due - before < dt.timedelta(days=2, minutes=1)
    assert fire_due(ws, due - dt.timedelta(seconds=1)) == 0
    assert fire_due(ws, due) == 1
    assert fire_due(ws, due + dt.timedelta(days=1)) == 0  # fired once
    tasks = api.get(f"task?related_id={deal['id']}").get_json()["data"]
    assert [t["subject"] for t in tasks] == ["Follow up Big one"]
    assert next_due(ws) is None
