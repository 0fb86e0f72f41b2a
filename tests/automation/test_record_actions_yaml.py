"""Record actions written in packs (``actions/*.yaml``): bindings, find_or_create, for_each.

The documents under test are in ``tests/packs/auto_actions``: ``inquiry.convert`` finds or
creates a client, creates a deal and one task per item row, tag and watcher, and marks the
inquiry converted; ``break_down`` fails in its second step; ``peek`` needs read access only;
the rule ``file_inquiry_under_its_client`` uses the same steps from a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.app import create_app
from engine.checking import check_packs
from engine.config import Config
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, Api, sign_in


@dataclass
class Desk:
    ws: Workspace
    admin: Api
    rep: Api


@pytest.fixture
def desk(auto_workspace: Any) -> Desk:
    ws = auto_workspace("auto_actions")
    client = create_app(ws.config, ws).test_client()
    return Desk(ws, sign_in(client, "admin@test.dev"), sign_in(client, "rep@test.dev"))


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _inquiry(api: Api, **values: Any) -> dict[str, Any]:
    return _ok(api.post("inquiry", {"subject": "Need a network refresh", **values}), 201)


def _act(api: Api, record_id: str, name: str, body: Any = None) -> Any:
    return api.post(f"inquiry/{record_id}/actions/{name}", body)


def _all(api: Api, entity: str, query: str = "") -> list[dict[str, Any]]:
    return _ok(api.get(f"{entity}?limit=500{query}"))["data"]


def _tasks(api: Api) -> list[str]:
    return sorted(t["subject"] for t in _all(api, "task"))


def test_convert_creates_bound_records_and_links_them(desk: Desk) -> None:
    watcher = _ok(desk.rep.post("client", {"name": "Watcher Ltd"}), 201)
    inquiry = _inquiry(
        desk.rep,
        company="Acme GmbH",
        city="Berlin",
        tags=["hardware", "services"],
        items=[{"label": "Switch", "qty": 4}, {"label": "Firewall"}],
        watchers=[watcher["id"]],
    )
    converted = _ok(_act(desk.rep, inquiry["id"], "convert", {"amount": "12500.00"}))

    clients = {c["name"]: c for c in _all(desk.rep, "client")}
    assert set(clients) == {"Acme GmbH", "Watcher Ltd"}
    assert clients["Acme GmbH"]["city"] == "Berlin"
    deal = _ok(desk.rep.get(f"deal/{converted['converted_deal']}"))
    assert (deal["name"], deal["client"], deal["amount"]) == (
        "Acme GmbH deal",
        clients["Acme GmbH"]["id"],
        Decimal("12500.00"),
    )
    assert converted["status"] == "converted"
    assert converted["converted_client"] == clients["Acme GmbH"]["id"]
    assert _tasks(desk.rep) == [
        "Firewall x1 for Acme GmbH",
        "Switch x4 for Acme GmbH",
        "tag hardware",
        "tag services",
        "tell Watcher Ltd",
    ]
    assert {(t["related_entity"], t["related_id"]) for t in _all(desk.rep, "task")} == {("deal", deal["id"])}


def test_find_or_create_reuses_the_named_record_then_a_match(desk: Desk) -> None:
    named = _ok(desk.rep.post("client", {"name": "Chosen AG"}), 201)
    same_name = _ok(desk.rep.post("client", {"name": "ACME GMBH"}), 201)
    first = _inquiry(desk.rep, company="Acme GmbH")
    second = _inquiry(desk.rep, company="Acme GmbH")
    third = _inquiry(desk.rep, company="Brand New KG")

    assert _ok(_act(desk.rep, first["id"], "convert", {"client": named["id"]}))["converted_client"] == named["id"]
    assert _ok(_act(desk.rep, second["id"], "convert"))["converted_client"] == same_name["id"]
    created = _ok(_act(desk.rep, third["id"], "convert"))["converted_client"]
    assert sorted(c["name"] for c in _all(desk.rep, "client")) == ["ACME GMBH", "Brand New KG", "Chosen AG"]
    assert created not in (named["id"], same_name["id"])


def test_for_each_with_a_false_when_creates_nothing(desk: Desk) -> None:
    watcher = _ok(desk.rep.post("client", {"name": "Watcher Ltd"}), 201)
    inquiry = _inquiry(desk.rep, company="Acme GmbH", watchers=[watcher["id"]])
    _ok(_act(desk.rep, inquiry["id"], "convert"))  # no amount: '$deal.amount > 0' is not true
    assert _tasks(desk.rep) == []


def test_when_refuses_a_second_conversion_with_the_message(desk: Desk) -> None:
    inquiry = _inquiry(desk.rep, company="Acme GmbH")
    _ok(_act(desk.rep, inquiry["id"], "convert"))
    again = _act(desk.rep, inquiry["id"], "convert")
    assert again.status_code == 409
    assert again.get_json()["detail"] == "This inquiry is already converted."
    assert len(_all(desk.rep, "deal")) == 1


def test_input_is_validated_like_a_record(desk: Desk) -> None:
    inquiry = _inquiry(desk.rep, company="Acme GmbH")
    bad = _act(desk.rep, inquiry["id"], "convert", {"amount": -5, "client": "01" + "0" * 24, "colour": "red"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"colour"}
    bad = _act(desk.rep, inquiry["id"], "convert", {"amount": -5, "deal_name": "x" * 101})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.get_json()["errors"]} == {"amount", "deal_name"}
    missing = _act(desk.rep, inquiry["id"], "convert", {"client": "0" * 26})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.get_json()["errors"]] == ["client"]
    assert _all(desk.rep, "deal") == [] and _all(desk.rep, "client") == []


def test_roles_and_record_permissions_are_checked(desk: Desk) -> None:
    mine = _inquiry(desk.rep, company="Acme GmbH")
    theirs = _inquiry(desk.admin, company="Other AG")
    assert _act(desk.rep, theirs["id"], "convert").status_code == 403  # update: own
    assert _ok(_act(desk.rep, theirs["id"], "peek"))["note"] == "peeked"  # permission: read
    assert _act(desk.rep, mine["id"], "nothing").status_code == 404
    # roles: [sales_rep]; an admin always may
    assert _ok(_act(desk.admin, theirs["id"], "convert"))["status"] == "converted"


def test_a_failing_step_rolls_back_the_whole_action(desk: Desk) -> None:
    inquiry = _inquiry(desk.rep, company="Acme GmbH")
    failed = _act(desk.rep, inquiry["id"], "break_down")
    assert failed.status_code == 422
    assert [e["field"] for e in failed.get_json()["errors"]] == ["name"]
    assert _tasks(desk.rep) == []
    history = _ok(desk.rep.get(f"inquiry/{inquiry['id']}/history"))["data"]
    assert [h["action"] for h in history] == ["create"]


def test_the_history_records_the_action_its_input_and_comment(desk: Desk) -> None:
    inquiry = _inquiry(desk.rep, company="Acme GmbH")
    _ok(_act(desk.rep, inquiry["id"], "convert", {"deal_name": "Big one", "comment": "Qualified on the phone"}))
    entries = _ok(desk.rep.get(f"inquiry/{inquiry['id']}/history"))["data"]
    action = next(h for h in entries if h["action"] == "action")
    assert action["changes"] == {
        "action": [None, "convert"],
        "input.deal_name": [None, "Big one"],
        "comment": [None, "Qualified on the phone"],
    }
    update = next(h for h in entries if h["action"] == "update")
    assert update["changes"]["status"] == ["new", "converted"]


def test_rules_bind_names_and_iterate_too(desk: Desk) -> None:
    first = _inquiry(desk.rep, company="Rule Co", note="rule")
    second = _inquiry(desk.rep, company="rule co", note="rule")
    clients = _all(desk.rep, "client")
    assert [c["name"] for c in clients] == ["Rule Co"]
    for inquiry in (first, second):
        assert _ok(desk.rep.get(f"inquiry/{inquiry['id']}"))["converted_client"] == clients[0]["id"]
    assert _tasks(desk.rep) == [
        "Call Rule Co",
        "Call Rule Co",
        "first follow-up of Call Rule Co",
        "first follow-up of Call Rule Co",
        "second follow-up of Call Rule Co",
        "second follow-up of Call Rule Co",
    ]


# --- overlays: actions created, changed and removed at run time ------------------------------------
NOTE_ACTION = {
    "name": "note_it",
    "entity": "inquiry",
    "input": {"text": {"type": "string", "required": True}},
    "do": [
        {"create": {"entity": "task", "as": "todo", "values": {"subject": "=$input.text"}}},
        {"set": {"note": '=concat("see ", $todo.subject)'}},
    ],
}


def test_an_admin_adds_changes_and_removes_an_action_at_run_time(desk: Desk) -> None:
    inquiry = _inquiry(desk.rep, company="Acme GmbH")
    added = _ok(desk.admin.post("meta/documents/action", NOTE_ACTION), 201)
    assert (added["kind"], added["name"], added["source"]) == ("action", "inquiry.note_it", "overlay")
    assert _ok(_act(desk.rep, inquiry["id"], "note_it", {"text": "Call back"}))["note"] == "see Call back"
    assert _act(desk.rep, inquiry["id"], "note_it", {}).status_code == 422  # text is required

    changed = {**NOTE_ACTION, "roles": ["director"]}
    _ok(desk.admin.put("meta/documents/action/inquiry.note_it", changed))
    assert _act(desk.rep, inquiry["id"], "note_it", {"text": "Again"}).status_code == 403
    assert _ok(desk.admin.delete("meta/documents/action/inquiry.note_it"), 204) is None
    assert _act(desk.rep, inquiry["id"], "note_it", {"text": "Gone"}).status_code == 404
    kinds = {d["name"] for d in _ok(desk.admin.get("meta/documents/action"))["data"]}
    assert {"inquiry.convert", "inquiry.peek"} <= kinds and "inquiry.note_it" not in kinds


def test_a_bad_overlay_action_is_refused_with_the_checker_messages(desk: Desk) -> None:
    bad = {
        **NOTE_ACTION,
        "do": [
            {"create": {"entity": "task", "values": {"subject": "=$todo.subject"}}},
            {"set": {"note": "=$input.nope"}},
        ],
    }
    refused = desk.admin.post("meta/documents/action", bad)
    assert refused.status_code == 422
    messages = " | ".join(e["message"] for e in refused.get_json()["errors"])
    assert "unknown variable $todo" in messages
    assert "$input has no field 'nope'" in messages or "has no field 'nope'" in messages
    assert desk.admin.get("meta/documents/action/inquiry.note_it").status_code == 404


# --- the checker ----------------------------------------------------------------------------------
def _bad_pack(root: Path, actions: list[dict[str, Any]]) -> Config:
    (root / "bad" / "actions").mkdir(parents=True)
    manifest = {"name": "bad", "version": "1.0.0", "depends": ["autokit", "auto_actions"]}
    (root / "bad" / "pack.yaml").write_text(yaml.safe_dump(manifest))
    (root / "bad" / "actions" / "a.yaml").write_text(yaml.safe_dump({"actions": actions}, sort_keys=False))
    return Config(
        database_url="sqlite://", packs=("autokit", "auto_actions", "bad"), extra_pack_paths=(TEST_PACKS, root)
    )


def test_the_checker_types_variables_and_reports_them_where_they_are(tmp_path: Path) -> None:
    actions = [
        {
            "name": "wrong",
            "entity": "inquiry",
            "input": {"when_due": {"type": "date"}, "odd": {"type": "table", "of": "inquiry_item"}},
            "do": [
                {"create": {"entity": "task", "values": {"subject": "=$later.subject"}}},
                {"create": {"entity": "task", "as": "later", "values": {"subject": "=$input.when_due + 1"}}},
                {"create": {"entity": "task", "for_each": "subject", "values": {"subject": "=$item"}}},
                {"create": {"entity": "task", "values": {"subject": "=$item"}}},
                {"find_or_create": {"entity": "client", "as": "input", "match": "name == 1"}},
                {"set": {"note": "=$later.nope"}},
            ],
        },
        {"name": "convert", "entity": "inquiry", "do": [{"set": {"note": "twice"}}]},
    ]
    problems, _ = check_packs(_bad_pack(tmp_path, actions), [])
    found = [(str(p.location).split("bad/")[1], p.message.splitlines()[0]) for p in problems.items]
    assert found == [
        (
            "actions/a.yaml:35:3",
            f"action 'inquiry.convert' is already defined at {TEST_PACKS}/auto_actions/actions/inquiry.yaml:4:5",
        ),
        ("actions/a.yaml:8:7", f"an input field has one of the types {_INPUT_TYPES}"),
        ("actions/a.yaml:14:9", f"unknown variable $later; use one of {_VARIABLES} (line 1, column 1)"),
        ("actions/a.yaml:19:9", "cannot apply '+' to date and int (add a duration such as 3d) (line 1, column 17)"),
        ("actions/a.yaml:22:7", "for_each takes child rows, links or a list, not string (line 1, column 1)"),
        ("actions/a.yaml:28:9", f"unknown variable $item; use one of {_VARIABLES}, $later (line 1, column 1)"),
        ("actions/a.yaml:31:7", "'as' takes a name such as client (not input, item, now, record, today, user)"),
        ("actions/a.yaml:34:7", f"task has no field 'nope' (fields: {_TASK_FIELDS}) (line 1, column 1)"),
    ]


_VARIABLES = "$record, $user, $now, $today, $input"
_TASK_FIELDS = "case, done, kind, related_entity, related_id, subject"
_INPUT_TYPES = (
    "string, text, int, decimal, money, percent, bool, date, datetime, duration, email, phone, url, enum, "
    "multi_enum, link, links, json, file, user, team, rating"
)


def test_the_openapi_document_describes_pack_actions_for_the_roles_that_may_run_them(desk: Desk) -> None:
    paths = _ok(desk.rep.get("openapi.json"))["paths"]
    convert = paths["/api/v1/inquiry/{id}/actions/convert"]["post"]
    body = convert["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"comment", "client", "amount", "deal_name"}
    assert body["additionalProperties"] is False
    assert convert["summary"] == "Convert"
    merge = paths["/api/v1/firm/{id}/actions/merge"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert merge["required"] == ["duplicate"]
    assert "/api/v1/inquiry/{id}/actions/peek" in paths
