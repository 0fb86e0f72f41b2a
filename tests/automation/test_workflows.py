"""Workflows and approvals: states change by transitions only; approvals go step by step.

The documents under test are in ``tests/packs/auto_workflows``: ``case_lifecycle`` (with
rules reacting to and running its transitions) and ``deal_approval`` (a two-level
discount approval: the owner's manager, then a director when the discount is over 20 %).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.actor import SYSTEM
from engine.app import create_app
from engine.checking import check_packs
from engine.config import Config
from engine.security.users import create_user, find_user
from engine.workspace import Workspace
from tests.conftest import PASSWORD, TEST_PACKS, Api, sign_in

START = dt.datetime(2031, 5, 6, 9, 0, tzinfo=dt.UTC)


@dataclass
class Crew:
    ws: Workspace
    clock: list[dt.datetime]
    ids: dict[str, str]
    admin: Api
    rep: Api  # a sales rep whose manager is boss
    boss: Api
    director: Api
    agent: Api  # a support agent (may start cases)

    def tick(self, minutes: int = 1) -> None:
        self.clock[0] += dt.timedelta(minutes=minutes)


@pytest.fixture
def crew(auto_workspace: Any) -> Crew:
    ws = auto_workspace("auto_workflows")
    clock = [START]
    ws.records.clock = lambda: clock[0]
    boss = create_user(ws, "boss@test.dev", "Bea Boss", PASSWORD, ["sales_rep"])
    director = create_user(ws, "director@test.dev", "Dina Director", PASSWORD, ["sales_rep", "director"])
    agent = create_user(ws, "agent@test.dev", "Alf Agent", PASSWORD, ["sales_rep", "support_agent"])
    rep, admin = find_user(ws, "rep@test.dev"), find_user(ws, "admin@test.dev")
    assert rep is not None and admin is not None
    ws.records.update(SYSTEM, "user", rep["id"], {"manager": boss["id"]})
    client = create_app(ws.config, ws).test_client()
    ids = {"rep": rep["id"], "admin": admin["id"], "boss": boss["id"], "director": director["id"], "agent": agent["id"]}
    return Crew(
        ws,
        clock,
        ids,
        *(sign_in(client, f"{who}@test.dev") for who in ("admin", "rep", "boss", "director", "agent")),
    )


def _act(api: Api, entity: str, record_id: str, name: str, body: Any = None) -> Any:
    return api.post(f"{entity}/{record_id}/actions/{name}", body)


def _history(api: Api, entity: str, record_id: str) -> list[dict[str, Any]]:
    return api.get(f"{entity}/{record_id}/history").get_json()["data"]


def _tasks(api: Api, case_id: str) -> list[str]:
    return sorted(t["subject"] for t in api.get(f"task?case={case_id}").get_json()["data"])


def _steps(api: Api, deal_id: str) -> list[tuple[str, str]]:
    response = api.get(f"deal/{deal_id}/approvals")
    assert response.status_code == 200, response.get_json()
    return [(s["step"], s["state"]) for s in response.get_json()["data"]]


# --- transitions ---------------------------------------------------------------------------------------
def test_a_transition_runs_only_from_its_states_and_for_its_roles(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "Printer"}).get_json()
    assert case["status"] == "new"

    wrong_state = _act(crew.rep, "case", case["id"], "wait")
    assert wrong_state.status_code == 409
    assert "'new'" in wrong_state.get_json()["detail"] and "in_progress" in wrong_state.get_json()["detail"]

    wrong_role = _act(crew.rep, "case", case["id"], "start")
    assert wrong_role.status_code == 403
    assert "support_agent" in wrong_role.get_json()["detail"]

    crew.tick()
    started = _act(crew.agent, "case", case["id"], "start")
    assert started.status_code == 200, started.get_json()
    assert started.get_json()["status"] == "in_progress"
    assert started.headers["ETag"] == f'"{started.get_json()["version"]}"'
    # the state change is an ordinary update: the rule on status changes saw it
    assert started.get_json()["first_response_at"] == "2031-05-06T09:01:00+00:00"

    entry = next(h for h in _history(crew.rep, "case", case["id"]) if h["action"] == "transition")
    assert entry["actor"] == crew.ids["agent"]
    assert entry["changes"] == {"status": ["new", "in_progress"], "transition": [None, "start"]}

    # an admin may run any transition
    assert _act(crew.admin, "case", case["id"], "wait").get_json()["status"] == "waiting"


def test_a_guard_and_required_fields_are_checked_and_the_body_may_fill_them(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "Mail down"}).get_json()
    guarded = _act(crew.rep, "case", case["id"], "assign")
    assert guarded.status_code == 422
    assert guarded.get_json()["detail"] == "Set an assignee first"
    assert crew.rep.get(f"case/{case['id']}").get_json()["status"] == "new"

    _act(crew.agent, "case", case["id"], "start")
    missing = _act(crew.rep, "case", case["id"], "resolve")
    assert missing.status_code == 422
    assert [e["field"] for e in missing.get_json()["errors"]] == ["resolution"]

    unknown = _act(crew.rep, "case", case["id"], "resolve", {"resolution": "x", "priority": "P1"})
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.get_json()["errors"]] == ["priority"]

    resolved = _act(crew.rep, "case", case["id"], "resolve", {"resolution": "Restarted", "comment": "Works again"})
    assert resolved.status_code == 200, resolved.get_json()
    record = resolved.get_json()
    assert (record["status"], record["resolution"], record["note"]) == ("resolved", "Restarted", "Resolved: Restarted")
    entry = next(h for h in _history(crew.rep, "case", case["id"]) if h["action"] == "transition")
    assert entry["changes"]["comment"] == [None, "Works again"]


def test_the_state_field_cannot_be_written_directly(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "Locked"}).get_json()
    for api in (crew.rep, crew.admin):
        refused = api.patch(f"case/{case['id']}", {"status": "closed"})
        assert refused.status_code == 422
        errors = refused.get_json()["errors"]
        assert errors[0]["field"] == "status"
        assert "assign or start" in errors[0]["message"]
    # writing the state it already has changes nothing, so it is fine (forms send every field)
    assert crew.rep.patch(f"case/{case['id']}", {"status": "new", "subject": "Still new"}).status_code == 200

    created = crew.rep.post("case", {"subject": "Born closed", "status": "closed"})
    assert created.status_code == 422
    assert created.get_json()["errors"][0]["field"] == "status"
    assert crew.rep.post("case", {"subject": "Born new", "status": "new"}).status_code == 201
    assert [c["subject"] for c in crew.rep.get("case?sort=subject").get_json()["data"]] == ["Born new", "Still new"]


def test_unknown_actions_and_records_are_not_found(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "Any"}).get_json()
    assert _act(crew.rep, "case", case["id"], "explode").status_code == 404
    assert _act(crew.rep, "case", "01890a5d-ac96-774b-bcce-b302099a8057", "assign").status_code == 404
    assert _act(crew.rep, "nothing", case["id"], "assign").status_code == 404
    assert _act(crew.rep, "client", case["id"], "assign").status_code == 404


def test_rules_react_to_transitions_and_run_them(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "VPN", "priority": "P4"}).get_json()
    # a rule runs the 'assign' transition when the assignee is set
    assigned = crew.rep.patch(f"case/{case['id']}", {"assignee": crew.ids["agent"]}).get_json()
    assert assigned["status"] == "assigned"

    _act(crew.agent, "case", case["id"], "start")
    _act(crew.rep, "case", case["id"], "wait")
    assert _tasks(crew.rep, case["id"]) == []
    assert _act(crew.agent, "case", case["id"], "start").status_code == 409  # not from waiting
    # resolving a P4 closes it (a rule on the 'resolve' transition); on_exit and on_enter actions ran
    closed = _act(crew.rep, "case", case["id"], "resolve", {"resolution": "Reset token"}).get_json()
    assert closed["status"] == "closed"
    assert _tasks(crew.rep, case["id"]) == ["Customer answered", "Survey for VPN"]
    transitions = [
        h["changes"]["transition"][1] for h in _history(crew.rep, "case", case["id"]) if h["action"] == "transition"
    ]
    assert transitions == ["close", "resolve", "wait", "start", "assign"]

    reopened = _act(crew.rep, "case", case["id"], "reopen").get_json()
    assert (reopened["status"], reopened["counter"]) == ("in_progress", 1)


def test_a_rule_transition_whose_guard_fails_undoes_the_change(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "Force it"}).get_json()
    refused = crew.rep.patch(f"case/{case['id']}", {"note": "force"})
    assert refused.status_code == 422
    assert "Set an assignee first" in refused.get_json()["detail"]
    after = crew.rep.get(f"case/{case['id']}").get_json()
    assert (after["note"], after["status"]) == (None, "new")


def test_a_workflow_defined_at_run_time_takes_over_its_field(crew: Crew) -> None:
    tiering = {
        "workflow": "tiering",
        "entity": "client",
        "field": "tier",
        "transitions": [{"name": "downgrade", "from": ["gold"], "to": "silver"}, {"name": "fly", "to": "platinum"}],
    }
    bad = crew.admin.post("meta/documents/workflow", tiering)
    assert bad.status_code == 422
    assert any("unknown state 'platinum'" in e["message"] for e in bad.get_json()["errors"])

    before = crew.rep.post("client", {"name": "Old", "tier": "bronze"}).get_json()
    tiering["transitions"] = tiering["transitions"][:1]
    assert crew.admin.post("meta/documents/workflow", tiering).status_code == 201
    client = crew.rep.post("client", {"name": "Acme"}).get_json()
    assert client["tier"] == "gold"  # no default on the field: the initial state is its first option
    assert crew.rep.patch(f"client/{client['id']}", {"tier": "bronze"}).status_code == 422
    assert _act(crew.rep, "client", client["id"], "downgrade").get_json()["tier"] == "silver"
    assert _act(crew.rep, "client", before["id"], "downgrade").status_code == 409  # bronze: not from there

    assert crew.admin.delete("meta/documents/workflow/tiering").status_code == 204
    assert _act(crew.rep, "client", client["id"], "downgrade").status_code == 404
    assert crew.rep.patch(f"client/{client['id']}", {"tier": "bronze"}).status_code == 200


def test_the_engine_loading_data_may_write_any_state(crew: Crew) -> None:
    """Seed documents load records as they are (the SYSTEM actor), closed cases included."""
    case = crew.ws.records.create(SYSTEM, "case", {"subject": "Historic", "status": "closed"})
    assert case["status"] == "closed"
    assert crew.ws.records.update(SYSTEM, "case", case["id"], {"status": "resolved"})["status"] == "resolved"


# --- approvals -----------------------------------------------------------------------------------------
def _deal(crew: Crew, discount: int, api: Api | None = None) -> str:
    response = (api or crew.rep).post("deal", {"name": f"Deal {discount}", "amount": "1000", "discount_pct": discount})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "draft"
    return str(response.get_json()["id"])


def _notified(api: Api, deal_id: str) -> list[str]:
    return [n["title"] for n in api.get(f"notification?related_id={deal_id}").get_json()["data"]]


def test_a_two_level_approval_goes_to_the_manager_then_to_a_director(crew: Crew) -> None:
    deal_id = _deal(crew, 25)
    submitted = _act(crew.rep, "deal", deal_id, "submit", {"comment": "Strategic customer"})
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["status"] == "pending_approval"
    assert _steps(crew.rep, deal_id) == [("manager", "pending"), ("director", "waiting")]
    assert _notified(crew.boss, deal_id) == ["Approval requested (Manager): Deal 25"]
    assert _notified(crew.director, deal_id) == []

    # locked while pending: for the owner and for an admin
    for api in (crew.rep, crew.admin):
        locked = api.patch(f"deal/{deal_id}", {"name": "Changed"})
        assert locked.status_code == 409
        assert "awaits approval" in locked.get_json()["detail"]
    deleted = crew.admin.delete(f"deal/{deal_id}")  # nor deleted, even by an admin
    assert deleted.status_code == 409, deleted.get_json()
    assert "awaits approval" in deleted.get_json()["detail"]
    assert crew.rep.get(f"deal/{deal_id}").status_code == 200  # still there, unchanged
    assert _act(crew.rep, "deal", deal_id, "submit").status_code == 409

    # only the current step's approver decides it
    assert _act(crew.rep, "deal", deal_id, "approve").status_code == 403
    assert _act(crew.director, "deal", deal_id, "approve").status_code == 403
    crew.tick()
    first = _act(crew.boss, "deal", deal_id, "approve", {"comment": "Fine by me"})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["status"] == "pending_approval"
    assert _steps(crew.rep, deal_id) == [("manager", "approved"), ("director", "pending")]
    assert _notified(crew.director, deal_id) == ["Approval requested (Director): Deal 25"]
    assert _act(crew.boss, "deal", deal_id, "approve").status_code == 403

    crew.tick()
    final = _act(crew.director, "deal", deal_id, "approve")
    assert final.get_json()["status"] == "approved"
    tasks = crew.rep.get(f"task?related_id={deal_id}").get_json()["data"]
    assert [t["subject"] for t in tasks] == ["Send Deal 25"]
    assert _notified(crew.rep, deal_id) == ["Discount approval approved: Deal 25"]

    steps = crew.rep.get(f"deal/{deal_id}/approvals").get_json()["data"]
    assert [(s["decided_by"], s["decided_at"], s["comment"]) for s in steps] == [
        (crew.ids["boss"], "2031-05-06T09:01:00+00:00", "Fine by me"),
        (crew.ids["director"], "2031-05-06T09:02:00+00:00", None),
    ]
    assert {(s["process"], s["submitted_by"], s["submitted_at"]) for s in steps} == {
        ("discount", crew.ids["rep"], "2031-05-06T09:00:00+00:00")
    }
    assert (steps[0]["approver"], steps[1]["approver_role"]) == (crew.ids["boss"], "director")
    # entries made at the same time have no order among themselves
    actions = sorted((h["at"], h["action"]) for h in _history(crew.rep, "deal", deal_id))
    assert actions == [
        ("2031-05-06T09:00:00+00:00", "create"),
        ("2031-05-06T09:00:00+00:00", "transition"),
        ("2031-05-06T09:00:00+00:00", "update"),
        ("2031-05-06T09:01:00+00:00", "approve"),
        ("2031-05-06T09:02:00+00:00", "approve"),
        ("2031-05-06T09:02:00+00:00", "transition"),
        ("2031-05-06T09:02:00+00:00", "update"),
    ]
    # approved: the deal can be changed again
    assert crew.rep.patch(f"deal/{deal_id}", {"name": "Deal 25 (approved)"}).status_code == 200


def test_a_step_whose_threshold_is_not_reached_is_skipped(crew: Crew) -> None:
    deal_id = _deal(crew, 15)
    _act(crew.rep, "deal", deal_id, "submit")
    assert _steps(crew.rep, deal_id) == [("manager", "pending"), ("director", "skipped")]
    assert _act(crew.boss, "deal", deal_id, "approve").get_json()["status"] == "approved"


def test_a_rejection_closes_the_request_and_the_deal_can_be_revised_and_resubmitted(crew: Crew) -> None:
    deal_id = _deal(crew, 25)
    _act(crew.rep, "deal", deal_id, "submit")
    crew.tick()
    rejected = _act(crew.boss, "deal", deal_id, "reject", {"comment": "Too generous"})
    assert rejected.get_json()["status"] == "rejected"
    assert _steps(crew.rep, deal_id) == [("manager", "rejected"), ("director", "skipped")]
    assert _notified(crew.rep, deal_id) == ["Discount approval rejected: Deal 25"]
    assert _act(crew.rep, "deal", deal_id, "submit").status_code == 409  # from draft only

    crew.rep.post(f"deal/{deal_id}/actions/revise")
    crew.rep.patch(f"deal/{deal_id}", {"discount_pct": 12})
    crew.tick()
    _act(crew.rep, "deal", deal_id, "submit")
    # newest submission first
    assert _steps(crew.rep, deal_id) == [
        ("manager", "pending"),
        ("director", "skipped"),
        ("manager", "rejected"),
        ("director", "skipped"),
    ]


def test_the_submitter_recalls_a_pending_request(crew: Crew) -> None:
    deal_id = _deal(crew, 25)
    _act(crew.rep, "deal", deal_id, "submit")
    assert _act(crew.boss, "deal", deal_id, "recall").status_code == 403
    recalled = _act(crew.rep, "deal", deal_id, "recall", {"comment": "Wrong amount"})
    assert recalled.status_code == 200, recalled.get_json()
    assert recalled.get_json()["status"] == "draft"  # the state it was submitted from
    assert _steps(crew.rep, deal_id) == [("manager", "recalled"), ("director", "recalled")]
    assert _act(crew.rep, "deal", deal_id, "recall").status_code == 409
    assert crew.rep.patch(f"deal/{deal_id}", {"amount": "900"}).status_code == 200


def test_an_admin_may_decide_any_step(crew: Crew) -> None:
    deal_id = _deal(crew, 30)
    _act(crew.rep, "deal", deal_id, "submit")
    assert _act(crew.admin, "deal", deal_id, "approve").get_json()["status"] == "pending_approval"
    assert _act(crew.admin, "deal", deal_id, "approve").get_json()["status"] == "approved"
    steps = crew.rep.get(f"deal/{deal_id}/approvals").get_json()["data"]
    assert [s["decided_by"] for s in steps] == [crew.ids["admin"], crew.ids["admin"]]


def test_a_deal_below_the_criteria_is_approved_as_it_is_submitted(crew: Crew) -> None:
    deal_id = _deal(crew, 5)
    submitted = _act(crew.rep, "deal", deal_id, "submit")
    assert submitted.get_json()["status"] == "approved"
    assert _steps(crew.rep, deal_id) == []
    entry = next(h for h in _history(crew.rep, "deal", deal_id) if h["action"] == "transition")
    assert entry["changes"]["status"] == ["draft", "approved"]


def test_a_step_without_an_approver_refuses_the_submission(crew: Crew) -> None:
    deal_id = _deal(crew, 15, crew.admin)  # the admin has no manager
    refused = _act(crew.admin, "deal", deal_id, "submit")
    assert refused.status_code == 422
    assert "'manager' has no approver" in refused.get_json()["detail"]
    assert crew.admin.get(f"deal/{deal_id}").get_json()["status"] == "draft"
    assert _steps(crew.admin, deal_id) == []


def test_approvals_of_a_record_the_caller_cannot_read_are_not_found(crew: Crew) -> None:
    case = crew.rep.post("case", {"subject": "No approvals"}).get_json()
    assert crew.rep.get(f"case/{case['id']}/approvals").get_json() == {"data": []}
    assert crew.rep.get("deal/01890a5d-ac96-774b-bcce-b302099a8057/approvals").status_code == 404


# --- the checker ---------------------------------------------------------------------------------------
def _bad_pack(root: Path, documents: dict[str, Any]) -> Config:
    (root / "bad").mkdir()
    (root / "bad" / "pack.yaml").write_text(yaml.safe_dump({"name": "bad", "version": "1.0.0", "depends": ["autokit"]}))
    for folder, (name, doc) in documents.items():
        (root / "bad" / folder).mkdir()
        (root / "bad" / folder / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return Config(database_url="sqlite://", packs=("autokit", "bad"), extra_pack_paths=(TEST_PACKS, root))


def test_the_checker_reports_a_bad_workflow_where_it_is(tmp_path: Path) -> None:
    workflow = {
        "workflow": "case_flow",
        "entity": "case",
        "field": "status",
        "transitions": [
            {"name": "go", "from": ["new", "flying"], "to": "landed", "require": ["nothing"]},
            {"name": "go", "to": "closed"},
        ],
        "approvals": [
            {
                "name": "check",
                "submit_to": "waiting",
                "steps": [{"name": "boss", "approver": "=subject"}, {"name": "x", "approver": "=client"}],
                "on_approve": {"to": "resolved"},
                "on_reject": {"to": "new"},
            }
        ],
    }
    rules = {"rules": [{"name": "go_on", "entity": "case", "on": "create", "do": [{"transition": "fly"}]}]}
    problems, _ = check_packs(_bad_pack(tmp_path, {"workflows": ("case_flow", workflow), "rules": ("r", rules)}), [])
    found = sorted((str(p.location).split("bad/")[1], p.message) for p in problems.items)
    states = "the states are new, assigned, in_progress, waiting, resolved, closed"
    assert found == [
        ("rules/r.yaml:6:5", "case has no transition 'fly'; its transitions: go"),
        ("workflows/case_flow.yaml:11:5", "case.nothing: no such field"),
        ("workflows/case_flow.yaml:12:3", "the transition 'go' is defined twice"),
        ("workflows/case_flow.yaml:21:5", "approver must name a user; 'client' is link to client"),
        ("workflows/case_flow.yaml:8:5", f"unknown state 'flying'; {states}"),
        ("workflows/case_flow.yaml:9:3", f"unknown state 'landed'; {states}"),
    ]


def test_the_checker_refuses_a_workflow_on_a_field_that_is_not_an_enum(tmp_path: Path) -> None:
    workflow = {"workflow": "names", "entity": "client", "field": "name", "transitions": []}
    problems, _ = check_packs(_bad_pack(tmp_path, {"workflows": ("names", workflow)}), [])
    assert [(str(p.location).split("bad/")[1], p.message) for p in problems.items] == [
        ("workflows/names.yaml:3:1", "a workflow runs on a stored enum field; client.name is of type string")
    ]
