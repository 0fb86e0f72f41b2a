"""Permissions declared in metadata, enforced on every read and write path.

The test pack grants (tests/packs/testkit/entities/gadget.yaml):
  sales_rep     read own, create, update own; price read-only, api_key hidden
  sales_manager read/update/delete team
  executive     read all
  customer      read and create within their account (gadget.maker == user.account)
  support_agent read and update all where status != "retired"; email hidden
  presales      nothing (default deny)
Expected answers below come from a plain model of those grants, not from the engine.
"""

from __future__ import annotations

import pytest

from engine.actor import SYSTEM
from engine.security.users import create_user, role_ids
from tests.conftest import PASSWORD, sign_in

USERS = {  # name: (role, team)
    "rep1": ("sales_rep", "north"),
    "rep2": ("sales_rep", "north"),
    "rep3": ("sales_rep", "south"),
    "boss": ("sales_manager", None),
    "exec": ("executive", None),
    "cust": ("customer", None),
    "agent": ("support_agent", None),
    "pre": ("presales", None),
}


@pytest.fixture
def world(workspace, client):
    ws = workspace
    makers = {name: ws.records.create(SYSTEM, "maker", {"name": name})["id"] for name in ("Alpha", "Beta")}
    ids: dict[str, str] = {}
    for name, (role, _team) in USERS.items():
        extra = {"account": makers["Alpha"]} if role == "customer" else {}
        ids[name] = create_user(ws, f"{name}@test.dev", name, PASSWORD, [role], **extra)["id"]
    north = ws.records.create(SYSTEM, "team", {"name": "north", "manager": ids["boss"]})["id"]
    south = ws.records.create(SYSTEM, "team", {"name": "south"})["id"]
    for name, (_role, team) in USERS.items():
        if team:
            ws.records.update(SYSTEM, "user", ids[name], {"teams": [north if team == "north" else south]})
    assert role_ids(ws)
    spec = {  # gadget: owner, responsible, maker, status
        "g1": ("rep1", None, None, "draft"),
        "g2": ("rep2", None, "Beta", "live"),
        "g3": ("rep3", None, None, "draft"),
        "g4": ("rep3", "rep1", "Beta", "live"),
        "g5": (None, None, "Alpha", "draft"),
        "g6": ("rep1", None, "Alpha", "retired"),
    }
    gadgets = {}
    for name, (owner, responsible, maker, status) in spec.items():
        gadgets[name] = ws.records.create(
            SYSTEM,
            "gadget",
            {
                "name": name,
                "owner": ids[owner] if owner else None,
                "status": status,
                "email": f"{name}@x.dev",
                "responsible": ids[responsible] if responsible else None,
                "maker": makers[maker] if maker else None,
                "price": "10.00",
                "api_key": f"key-{name}",
            },
        )["id"]
    apis = {name: sign_in(client, f"{name}@test.dev") for name in USERS}
    return {"users": ids, "gadgets": gadgets, "makers": makers, "api": apis, "spec": spec}


def expected_readable(world, who: str) -> set[str]:
    role, _team = USERS[who]
    north = {u for u, (_, t) in USERS.items() if t == "north"} | {"boss"}
    out = set()
    for name, (owner, responsible, maker, status) in world["spec"].items():
        mine = who in (owner, responsible)
        allowed = {
            "sales_rep": mine,
            "sales_manager": owner in north or responsible in north,
            "executive": True,
            "customer": maker == "Alpha",
            "support_agent": status != "retired",
        }.get(role, False)
        if allowed:
            out.add(name)
    return out


@pytest.mark.parametrize("who", list(USERS))
def test_lists_gets_and_counts_agree_with_the_grants(world, who):
    api, gadgets = world["api"][who], world["gadgets"]
    expected = expected_readable(world, who)
    names = {v: k for k, v in gadgets.items()}
    response = api.get("gadget?limit=100&count=true")
    if who == "pre":
        assert response.status_code == 404  # an entity the role may not read does not exist for it
        assert all(api.get(f"gadget/{i}").status_code == 404 for i in gadgets.values())
        return
    body = response.get_json()
    assert {names[r["id"]] for r in body["data"]} == expected
    assert body["total"] == len(expected)
    for name, record_id in gadgets.items():
        assert api.get(f"gadget/{record_id}").status_code == (200 if name in expected else 404), name
    aggregate = api.post("gadget/aggregate", {"metrics": {"n": "count()"}}).get_json()["data"]
    assert aggregate == [{"n": len(expected)}]


def test_writes_respect_scope_before_and_after(world):
    api, g, u, m = world["api"], world["gadgets"], world["users"], world["makers"]
    assert api["rep1"].patch(f"gadget/{g['g1']}", {"name": "mine"}).status_code == 200
    assert api["rep1"].patch(f"gadget/{g['g2']}", {"name": "theirs"}).status_code == 404
    assert api["exec"].patch(f"gadget/{g['g1']}", {"name": "x"}).status_code == 403
    moved = api["rep1"].patch(f"gadget/{g['g1']}", {"owner": u["rep2"]})
    assert moved.status_code == 403  # no moving a record out of your own scope
    assert api["agent"].patch(f"gadget/{g['g6']}", {"name": "x"}).status_code == 404  # retired: outside the rule
    assert api["agent"].patch(f"gadget/{g['g1']}", {"status": "retired"}).status_code == 403
    assert api["boss"].delete(f"gadget/{g['g2']}").status_code == 204
    assert api["rep1"].delete(f"gadget/{g['g1']}").status_code == 403
    assert api["rep1"].post("gadget", {"name": "new"}).status_code == 201
    assert api["exec"].post("gadget", {"name": "new"}).status_code == 403
    assert api["pre"].post("gadget", {"name": "new"}).status_code == 404
    assert api["cust"].post("gadget", {"name": "ok", "maker": m["Alpha"]}).status_code == 201
    assert api["cust"].post("gadget", {"name": "no", "maker": m["Beta"]}).status_code == 403
    assert api["rep1"].get(f"gadget/{g['g1']}").get_json()["name"] == "mine"


def test_field_access_hides_and_protects_fields(world):
    rep, agent, g = world["api"]["rep1"], world["api"]["agent"], world["gadgets"]
    record = rep.get(f"gadget/{g['g1']}").get_json()
    assert "api_key" not in record and record["price"] is not None
    assert "email" not in agent.get(f"gadget/{g['g1']}").get_json()
    assert rep.patch(f"gadget/{g['g1']}", {"price": 12}).get_json()["errors"] == [
        {"field": "price", "message": "Is read-only for your role."}
    ]
    assert rep.patch(f"gadget/{g['g1']}", {"api_key": "x"}).get_json()["errors"] == [
        {"field": "api_key", "message": "Unknown field."}
    ]
    for url in (
        "gadget?fields=api_key",
        "gadget?sort=api_key",
        "gadget?api_key=x",
        "gadget?filter=api_key%20!%3D%20null",
    ):
        response = rep.get(url)
        assert response.status_code == 400 and "api_key" in response.get_json()["detail"], url
    assert agent.get("gadget", query_string={"filter": 'email ~ "g1"'}).status_code == 400
    # a filter's mistakes say nothing of a hidden field: not in the list of fields, nor its type
    unknown = rep.get("gadget", query_string={"filter": "nope == 1"}).get_json()["detail"]
    assert "has no field 'nope'" in unknown and "api_key" not in unknown
    for expression in ("not api_key", "api_key.x == 1"):
        detail = rep.get("gadget", query_string={"filter": expression}).get_json()["detail"]
        assert "gadget has no field 'api_key'" in detail and "string" not in detail, detail
    fields = [f["name"] for f in rep.get("meta/entities/gadget").get_json()["fields"]]
    assert "api_key" not in fields and "price" in fields
    schema = rep.get("openapi.json").get_json()["components"]["schemas"]["Gadget"]["properties"]
    assert "api_key" not in schema


def test_nothing_leaks_across_teams(world):
    south, g, m = world["api"]["rep3"], world["gadgets"], world["makers"]
    secret = g["g1"]  # rep1's, team north
    assert south.get(f"gadget/{secret}").status_code == 404
    assert south.get(f"gadget/{secret}/history").status_code == 404
    assert south.patch(f"gadget/{secret}", {"name": "x"}).status_code == 404
    assert south.delete(f"gadget/{secret}").status_code == 404
    related = south.get(f"maker/{m['Alpha']}/related/gadget.maker?count=true").get_json()
    assert related["data"] == [] and related["total"] == 0  # g5/g6 hang off Alpha but are not rep3's
    assert south.get("gadget", query_string={"filter": 'name == "g1"', "count": "true"}).get_json()["total"] == 0
    assert south.get("gadget?name=g1&count=true").get_json()["total"] == 0
    groups = south.post("gadget/aggregate", {"group_by": ["status"], "metrics": {"n": "count()"}}).get_json()["data"]
    assert sum(row["n"] for row in groups) == 2  # g3 and g4 only
    body = south.get(f"gadget/{secret}").get_data(as_text=True)
    assert "g1" not in body.replace(secret, "")


def test_expand_keeps_unreadable_links_as_bare_ids(world, workspace):
    boss, rep3, g = world["api"]["boss"], world["api"]["rep3"], world["gadgets"]
    # a manager's record linking to a maker is expanded; customers only see their own maker
    cust = world["api"]["cust"]
    listed = cust.get("gadget?expand=maker").get_json()["data"]
    assert all(isinstance(r["maker"], dict) for r in listed if r["maker"])
    assert boss.get(f"gadget/{g['g4']}?expand=maker").get_json()["maker"]["name"] == "Beta"
    assert rep3.get(f"gadget/{g['g4']}?expand=maker").get_json()["maker"]["name"] == "Beta"


def test_customer_sees_only_their_account(world):
    cust, m = world["api"]["cust"], world["makers"]
    makers = {r["name"] for r in cust.get("maker").get_json()["data"]}
    assert makers == {"Alpha"}
    assert cust.get(f"maker/{m['Beta']}").status_code == 404


def test_meta_and_openapi_list_only_readable_entities(world):
    pre = world["api"]["pre"]
    names = {e["name"] for e in pre.get("meta/entities").get_json()["data"]}
    assert "gadget" not in names and "maker" not in names and "user" in names
    assert pre.get("meta/entities/gadget").status_code == 404
    assert "/api/v1/gadget" not in pre.get("openapi.json").get_json()["paths"]


def test_bulk_on_an_entity_the_role_cannot_read_does_not_reveal_it(world):
    assert world["api"]["pre"].post("gadget/bulk", [{"name": "x"}]).status_code == 404
    assert world["api"]["pre"].post("gadget/bulk", []).status_code == 404


def test_admins_change_grants_at_run_time(world, admin):
    exec_, g = world["api"]["exec"], world["gadgets"]
    assert exec_.patch(f"gadget/{g['g1']}", {"name": "x"}).status_code == 403
    changed = admin.put(
        "meta/entities/gadget/permissions/executive", {"read": "all", "update": "all", "fields": {"price": "none"}}
    )
    assert changed.status_code == 200, changed.get_json()
    assert exec_.patch(f"gadget/{g['g1']}", {"name": "by exec"}).status_code == 200
    assert "price" not in exec_.get(f"gadget/{g['g1']}").get_json()
    assert admin.put("meta/entities/gadget/permissions/executive", {"read": "sometimes"}).status_code == 422
    assert world["api"]["rep1"].put("meta/entities/gadget/permissions/sales_rep", {"read": "all"}).status_code == 403
    assert admin.delete("meta/entities/gadget/permissions/executive").status_code == 204
    assert exec_.patch(f"gadget/{g['g1']}", {"name": "again"}).status_code == 403  # the pack's grant again
    assert admin.delete("meta/entities/gadget/permissions/executive").status_code == 404
