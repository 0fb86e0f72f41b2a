"""Merging duplicates: ``merge: true`` on an entity, or the ``merge`` step in a pack's action.

The pack ``tests/packs/auto_actions`` has ``firm`` (merge: true) and every kind of reference
to it: ``person.firm`` (link), ``person.former_firms`` (links), ``order_sheet.rows[].firm``
(child rows), ``memo.related_entity/related_id`` (polymorphic), ``firm.parent`` and
``firm.partners`` (itself); and ``inquiry.merge``, a pack action using the merge step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from engine.app import create_app
from engine.workspace import Workspace
from tests.conftest import Api, sign_in


@dataclass
class Office:
    ws: Workspace
    admin: Api
    rep: Api


@pytest.fixture
def office(auto_workspace: Any) -> Office:
    ws = auto_workspace("auto_actions")
    client = create_app(ws.config, ws).test_client()
    return Office(ws, sign_in(client, "admin@test.dev"), sign_in(client, "rep@test.dev"))


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _new(api: Api, entity: str, **values: Any) -> dict[str, Any]:
    return _ok(api.post(entity, values), 201)


def _get(api: Api, entity: str, record_id: str) -> dict[str, Any]:
    return _ok(api.get(f"{entity}/{record_id}"))


def _merge(api: Api, keep: str, duplicate: Any, entity: str = "firm") -> Any:
    return api.post(f"{entity}/{keep}/actions/merge", {"duplicate": duplicate})


def test_merge_fills_blanks_repoints_every_reference_and_trashes_the_duplicate(office: Office) -> None:
    api = office.admin
    keep = _new(api, "firm", name="Acme GmbH", city="Berlin", email="info@acme.de", tags=["key"])
    dup = _new(api, "firm", name="ACME", city="Hamburg", phone="+49 30 123456", email="sales@acme.de", employees=40)
    other = _new(api, "firm", name="Other AG", parent=dup["id"], partners=[keep["id"], dup["id"]])
    _ok(api.patch(f"firm/{keep['id']}", {"parent": dup["id"]}))
    _ok(api.patch(f"firm/{dup['id']}", {"partners": [other["id"]]}))
    person = _new(api, "person", name="Pia", firm=dup["id"], former_firms=[dup["id"], other["id"]])
    bystander = _new(api, "person", name="Ben", firm=other["id"])
    memo = _new(api, "memo", subject="Call", related_entity="firm", related_id=dup["id"])
    unrelated_memo = _new(api, "memo", subject="Other", related_entity="person", related_id=dup["id"])
    sheet = _new(api, "order_sheet", title="Q1", rows=[{"firm": dup["id"], "qty": 2}, {"firm": other["id"]}])

    merged = _ok(_merge(api, keep["id"], dup["id"]))

    # the survivor wins where both have a value; its blanks come from the duplicate
    assert (merged["name"], merged["city"], merged["email"]) == ("Acme GmbH", "Berlin", "info@acme.de")
    assert (merged["phone"], merged["employees"], merged["tags"]) == ("+49 30 123456", 40, ["key"])
    assert merged["partners"] == [other["id"]]
    assert merged["parent"] is None  # it pointed at the duplicate: not at itself now
    assert _get(api, "person", person["id"])["firm"] == keep["id"]
    assert _get(api, "person", person["id"])["former_firms"] == [keep["id"], other["id"]]
    assert _get(api, "person", bystander["id"])["firm"] == other["id"]
    assert _get(api, "firm", other["id"])["parent"] == keep["id"]
    assert _get(api, "firm", other["id"])["partners"] == [keep["id"]]
    assert _get(api, "memo", memo["id"])["related_id"] == keep["id"]
    assert _get(api, "memo", unrelated_memo["id"])["related_id"] == dup["id"]  # another entity's record
    rows = _get(api, "order_sheet", sheet["id"])["rows"]
    assert [(r["firm"], r["qty"]) for r in rows] == [(keep["id"], 2), (other["id"], 1)]

    assert api.get(f"firm/{dup['id']}").status_code == 404  # in the trash
    kept_history = _ok(api.get(f"firm/{keep['id']}/history"))["data"]
    entry = next(h for h in kept_history if h["action"] == "merge")
    assert entry["changes"]["merged"] == [None, dup["id"]]
    assert entry["changes"]["filled"] == [None, ["employees", "partners", "phone"]]
    dup_history = _ok(api.get(f"firm/{dup['id']}/history"))["data"]
    assert [h["action"] for h in dup_history][:2] == ["delete", "merge"]
    assert dup_history[1]["changes"] == {"merged_into": [None, keep["id"]]}
    person_history = _ok(api.get(f"person/{person['id']}/history"))["data"]
    assert person_history[0]["changes"]["firm"] == [dup["id"], keep["id"]]
    assert _ok(api.post(f"firm/{dup['id']}/restore"))["name"] == "ACME"  # restorable


def test_merge_refuses_itself_other_entities_and_unknown_ids(office: Office) -> None:
    keep = _new(office.admin, "firm", name="Acme GmbH")
    person = _new(office.admin, "person", name="Pia", firm=keep["id"])
    for duplicate, field_message in (
        (keep["id"], "Must be another record than the one kept."),
        (person["id"], "Must be the id of another live firm."),
        ("0" * 26, "Must be the id of another live firm."),
        (None, "Required: the id of the firm to merge into this one."),
    ):
        refused = _merge(office.admin, keep["id"], duplicate)
        assert refused.status_code == 422, duplicate
        assert refused.get_json()["errors"] == [{"field": "duplicate", "message": field_message}]
    extra = office.admin.post(f"firm/{keep['id']}/actions/merge", {"duplicate": person["id"], "into": "x"})
    assert extra.status_code == 422
    assert _get(office.admin, "person", person["id"])["firm"] == keep["id"]


def test_merge_needs_the_right_to_change_everything_it_touches(office: Office) -> None:
    mine = _new(office.rep, "firm", name="Acme GmbH")
    my_dup = _new(office.rep, "firm", name="ACME")
    theirs = _new(office.admin, "firm", name="Acme Holding")
    # a firm the rep may not change (update: own) cannot be merged away ...
    assert _merge(office.rep, mine["id"], theirs["id"]).status_code == 403
    # ... nor a duplicate that a person of someone else points to
    person = _new(office.admin, "person", name="Pia", firm=my_dup["id"])
    assert _merge(office.rep, mine["id"], my_dup["id"]).status_code == 403
    assert _get(office.rep, "person", person["id"])["firm"] == my_dup["id"]
    assert _get(office.rep, "firm", my_dup["id"])["name"] == "ACME"  # nothing written
    _ok(office.admin.patch(f"person/{person['id']}", {"owner": _ok(office.rep.get("auth/me"))["id"]}))
    _ok(_merge(office.rep, mine["id"], my_dup["id"]))
    assert _get(office.rep, "person", person["id"])["firm"] == mine["id"]


def test_a_pack_action_merges_with_its_own_condition(office: Office) -> None:
    api = office.rep
    keep = _new(api, "inquiry", subject="Network refresh", company="Acme GmbH")
    dup = _new(api, "inquiry", subject="Network refresh (web form)", city="Berlin", email="it@acme.de")
    merged = _ok(_merge(api, keep["id"], dup["id"], "inquiry"))
    assert (merged["subject"], merged["city"], merged["email"]) == ("Network refresh", "Berlin", "it@acme.de")
    assert api.get(f"inquiry/{dup['id']}").status_code == 404

    converted = _new(api, "inquiry", subject="Done deal", company="Acme GmbH")
    _ok(api.post(f"inquiry/{converted['id']}/actions/convert"))
    refused = _merge(api, keep["id"], converted["id"], "inquiry")
    assert refused.status_code == 409
    assert refused.get_json()["detail"] == "A converted inquiry cannot be merged."
    assert _get(api, "inquiry", converted["id"])["status"] == "converted"
