"""The assign action: who gets a new case, and why the history says so."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.security.users import create_user
from engine.workspace import Workspace
from tests.conftest import Api, sign_in


@dataclass
class Desk:
    ws: Workspace
    api: Api
    users: dict[str, str]  # first name -> user id
    teams: dict[str, str]  # team name -> team id


@pytest.fixture
def desk(auto_workspace: Any) -> Desk:
    ws = auto_workspace("auto_assign")
    teams = {name: ws.records.create(SYSTEM, "team", {"name": name})["id"] for name in ("l1_support", "field")}
    people = {
        "ann": (["support_agent"], ["l1_support"], {}),
        "bob": (["support_agent"], ["l1_support"], {}),
        "cyd": (["support_agent"], ["l1_support"], {"active": False}),
        "eve": (["support_agent"], ["l1_support"], {"away": True}),
        "tom": (["technician"], ["field"], {"skills": ["network"], "territory": "Berlin"}),
        "tia": (["technician"], ["field"], {"skills": ["network", "printer"], "territory": "Hamburg"}),
        "ivy": (["technician"], ["field"], {"skills": ["printer"], "active": False}),
    }
    users = {
        name: create_user(
            ws, f"{name}@test.dev", name.title(), None, roles, teams=[teams[t] for t in team_names], **extra
        )["id"]
        for name, (roles, team_names, extra) in people.items()
    }
    api = sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")
    return Desk(ws, api, users, teams)


def _case(desk: Desk, **values: Any) -> dict[str, Any]:
    response = desk.api.post("case", {"subject": "Help", **values})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _assigned(desk: Desk, note: str, **values: Any) -> str | None:
    return _case(desk, note=note, **values)["assignee"]


def _who(desk: Desk, user_id: str | None) -> str | None:
    return next((name for name, uid in desk.users.items() if uid == user_id), user_id)


def _reasons(desk: Desk, case_id: str) -> list[str]:
    history = desk.api.get(f"case/{case_id}/history").get_json()["data"]
    return [h["changes"]["reason"][1] for h in history if h["action"] == "assign"]


def test_round_robin_cycles_through_the_working_candidates(desk: Desk) -> None:
    working = sorted(["ann", "bob"], key=lambda n: desk.users[n])  # cyd is inactive, eve away
    picked = [_who(desk, _assigned(desk, "round_robin")) for _ in range(5)]
    assert picked == [working[0], working[1], working[0], working[1], working[0]]


def test_concurrent_writes_take_turns(desk: Desk) -> None:
    # the cursor is locked while a write chooses: parallel writes never pick the same turn
    def create_cases(_: int) -> list[str]:
        return [desk.ws.records.create(SYSTEM, "lead", {"name": "Rush"})["assignee"] for _ in range(5)]

    with ThreadPoolExecutor(4) as pool:
        picked = [user for batch in pool.map(create_cases, range(4)) for user in batch]
    assert sorted(Counter(_who(desk, u) for u in picked).items()) == [("ann", 10), ("bob", 10)]


def test_least_loaded_counts_only_open_records(desk: Desk) -> None:
    ann, bob = desk.users["ann"], desk.users["bob"]
    for _ in range(2):
        _case(desk, assignee=ann)
    _case(desk, assignee=bob)
    for status in ("closed", "resolved", "closed"):
        _case(desk, assignee=bob, status=status)
    case = _case(desk, note="least_loaded")
    assert _who(desk, case["assignee"]) == "bob"  # 1 open against ann's 2; closed ones do not count
    assert _reasons(desk, case["id"]) == ["least loaded, 1 open case record (other candidates: 2)"]
    # now 2 each: a tie, taken in turn after bob
    tied = _case(desk, note="least_loaded")
    assert _who(desk, tied["assignee"]) == "ann"
    assert _reasons(desk, tied["id"]) == [
        "least loaded, 2 open case records (other candidates: 2); 2 tied, taken in turn"
    ]


def test_inactive_and_away_users_are_never_chosen(desk: Desk) -> None:
    # cyd and eve have no cases at all: least loaded would pick them if they were working
    chosen = {_who(desk, _assigned(desk, "least_loaded")) for _ in range(4)}
    assert chosen == {"ann", "bob"}
    desk.ws.records.update(SYSTEM, "user", desk.users["eve"], {"away": False})
    assert _who(desk, _assigned(desk, "least_loaded")) == "eve"


def test_the_reason_is_in_the_record_history(desk: Desk) -> None:
    case = _case(desk, note="round_robin")
    history = desk.api.get(f"case/{case['id']}/history").get_json()["data"]
    entry = next(h for h in history if h["action"] == "assign")
    assert entry["changes"] == {
        "assignee": [None, case["assignee"]],
        "reason": [None, "round robin, next of 2 candidates"],
    }
    assert any(h["action"] == "update" and "assignee" in h["changes"] for h in history)


def test_an_assignee_already_set_is_kept(desk: Desk) -> None:
    tom = desk.users["tom"]
    case = _case(desk, note="round_robin", assignee=tom)
    assert case["assignee"] == tom
    assert _reasons(desk, case["id"]) == []


def test_skill_picks_a_working_technician_with_the_skill(desk: Desk) -> None:
    # ivy has the printer skill too, but is inactive
    assert _who(desk, _assigned(desk, "skill", required_skill="printer")) == "tia"
    # both have network: the less loaded one (tom: 0, tia: 1 open case)
    case = _case(desk, note="skill", required_skill="network")
    assert _who(desk, case["assignee"]) == "tom"
    assert _reasons(desk, case["id"]) == [
        "skill ($record.required_skill in skills): least loaded, 0 open case records (other candidates: 1)"
    ]


def test_no_candidate_changes_nothing_and_says_so(desk: Desk) -> None:
    case = _case(desk, note="skill", required_skill="sap")
    assert case["assignee"] is None
    assert _reasons(desk, case["id"]) == [
        "assignee not assigned: no working candidate has the skill ($record.required_skill in skills)"
    ]


def test_territory_rules_apply_in_order(desk: Desk) -> None:
    api = desk.api
    bank = api.post("client", {"name": "Bank", "industry": "banking", "city": "Berlin"}).get_json()
    shop = api.post("client", {"name": "Shop", "city": "Berlin"}).get_json()
    far = api.post("client", {"name": "Far away", "city": "Oslo"}).get_json()
    banking = _case(desk, note="territory", client=bank["id"])
    assert banking["assignee"] == bank["owner"]  # the rep who owns the client
    assert _reasons(desk, banking["id"]) == ['rule 1 (client.industry == "banking"): =client.owner']
    assert _who(desk, _assigned(desk, "territory", client=shop["id"])) == "tom"  # covers Berlin
    # nobody covers Oslo: the next rule that gives a working user applies
    oslo = _case(desk, note="territory", client=far["id"])
    assert _who(desk, oslo["assignee"]) in ("ann", "bob")
    assert _reasons(desk, oslo["id"]) == ["rule 3 (always): round robin, next of 2 candidates"]


def test_team_field_narrows_the_candidates_to_the_record_team(desk: Desk) -> None:
    field_team = desk.teams["field"]
    picked = {_who(desk, _assigned(desk, "team", team=field_team)) for _ in range(3)}
    assert picked == {"tom", "tia"}  # ivy is inactive
    case = _case(desk, note="team", team=field_team)
    moved = desk.api.patch(f"case/{case['id']}", {"team": desk.teams["l1_support"]}).get_json()
    assert _who(desk, moved["assignee"]) in ("ann", "bob")  # only_if_empty: false reassigns


def test_a_bad_assign_action_is_reported_at_its_place(auto_workspace: Any) -> None:
    ws = auto_workspace()
    api = sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")
    rule = {
        "name": "broken_assign",
        "entity": "case",
        "on": "create",
        "do": [{"assign": {"field": "subject", "strategy": "least_loaded", "candidates": "nosuch == 1"}}],
    }
    response = api.post("meta/documents/rule", rule)
    assert response.status_code == 422
    messages = " | ".join(e["message"] for e in response.get_json()["errors"])
    assert "field needs a field of type user or link; case.subject is string" in messages
    rule["do"] = [{"assign": {"field": "assignee", "strategy": "skill", "skill": "nosuch == 1"}}]
    messages = " | ".join(e["message"] for e in api.post("meta/documents/rule", rule).get_json()["errors"])
    assert "overlay:rule:broken_assign:do[0].assign.skill: user has no field 'nosuch'" in messages


def test_candidates_from_takes_the_users_other_records_name(desk: Desk) -> None:
    # tom's network badge is valid, tia's expired, ivy's is valid but she is inactive
    badges = [("tom", "network", "2999-01-01"), ("tia", "network", "2000-01-01"), ("ivy", "network", None)]
    badges += [("tia", "printer", None), ("ann", "printer", "2999-01-01")]
    for name, skill, valid_until in badges:
        desk.ws.records.create(
            SYSTEM, "skill_badge", {"user": desk.users[name], "skill": skill, "valid_until": valid_until}
        )
    assert [_who(desk, _assigned(desk, "badge", required_skill="network")) for _ in range(2)] == ["tom", "tom"]
    printer = {_who(desk, _assigned(desk, "badge", required_skill="printer")) for _ in range(2)}
    assert printer == {"tia", "ann"}  # least loaded: one each
    nobody = _case(desk, note="badge", required_skill="sap")
    assert nobody["assignee"] is None
    assert _reasons(desk, nobody["id"]) == ["assignee not assigned: no working user among the candidates"]


def test_a_bad_candidates_from_is_reported_at_its_place(auto_workspace: Any) -> None:
    ws = auto_workspace("auto_assign")
    api = sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")
    source = {"entity": "nosuch", "field": "user"}
    rule = {
        "name": "b",
        "entity": "case",
        "on": "create",
        "do": [{"assign": {"field": "assignee", "candidates_from": source}}],
    }
    messages = " | ".join(e["message"] for e in api.post("meta/documents/rule", rule).get_json()["errors"])
    assert "candidates_from names an entity; 'nosuch' is none" in messages
    source.update(entity="skill_badge", field="skill")
    messages = " | ".join(e["message"] for e in api.post("meta/documents/rule", rule).get_json()["errors"])
    assert "field needs a field of type user or link; skill_badge.skill is string" in messages
    source.update(field="user", where="nosuch == 1")
    messages = " | ".join(e["message"] for e in api.post("meta/documents/rule", rule).get_json()["errors"])
    assert "skill_badge has no field 'nosuch'" in messages
