"""Nothing is found through a field hidden from the reader (field permission ``none``):
no related list by a hidden link, no timeline entry through a hidden ``via`` link or a
hidden ``related_entity``/``related_id`` pair, no search in a hidden search field; and the
hidden field is not named in an error's hint nor in the entity's description (its search
fields, related lists, title and list columns).

``rep`` may not see ``deal.partner`` and ``deal.secret_note``, nor how a ``memo`` or a
``call`` points at its record; ``boss`` sees everything and shows the same requests do
find what they look for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.workspace import Workspace
from tests.conftest import Api, pack_workspace, sign_in

FIRM = """
entity: firm
title: name
fields:
  name: {type: string, required: true}
  code: {type: string}
search: [code]
related: [deal.firm, deal.partner]
permissions:
  rep:  {read: all, fields: {code: none}}
  boss: {read: all}
"""
DEAL = """
entity: deal
title: name
search: [name, secret_note]
fields:
  name:        {type: string, required: true}
  secret_note: {type: string}
  firm:        {type: link, to: firm}
  partner:     {type: link, to: firm}
permissions:
  rep:  {read: all, fields: {partner: none, secret_note: none}}
  boss: {read: all}
"""
#: on a deal's timeline through its ``deal`` link only (the pair is left empty)
MEMO = """
entity: memo
title: subject
timeline: {via: [deal]}
fields:
  subject: {type: string, required: true}
  related_entity: {type: string, max_length: 64}
  related_id: {type: string, max_length: 36}
  deal: {type: link, to: deal}
permissions:
  rep:  {read: all, fields: {deal: none}}
  boss: {read: all}
"""
#: on a deal's timeline through the (related_entity, related_id) pair only
CALL = """
entity: call
title: subject
timeline: {at: happened_at}
fields:
  subject: {type: string, required: true}
  happened_at: {type: datetime}
  related_entity: {type: string, max_length: 64}
  related_id: {type: string, max_length: 36}
permissions:
  rep:  {read: all, fields: {related_entity: none, related_id: none}}
  boss: {read: all}
"""
#: on a deal's timeline through a visible link, sorted by a datetime hidden from rep
VISIT = """
entity: visit
title: subject
timeline: {at: happened_at, via: [deal]}
fields:
  subject: {type: string, required: true}
  happened_at: {type: datetime}
  related_entity: {type: string, max_length: 64}
  related_id: {type: string, max_length: 36}
  deal: {type: link, to: deal}
permissions:
  rep:  {read: all, fields: {happened_at: none}}
  boss: {read: all}
"""

#: searched in its title (hidden from rep) and its body
NOTE = """
entity: note
title: subject
search: [subject, body]
list: {columns: [subject, body, created_at]}
fields:
  subject: {type: string, required: true}
  body:    {type: string}
permissions:
  rep:  {read: all, fields: {subject: none}}
  boss: {read: all}
"""


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    files = {
        "entities/firm.yaml": FIRM,
        "entities/deal.yaml": DEAL,
        "entities/memo.yaml": MEMO,
        "entities/call.yaml": CALL,
        "entities/visit.yaml": VISIT,
        "entities/note.yaml": NOTE,
    }
    workspace = pack_workspace(database_url, tmp_path, "hiddenkit", files, {"rep": "Rep", "boss": "Boss"})
    yield workspace
    workspace.close()


@pytest.fixture
def world(ws: Workspace) -> dict[str, Any]:
    acme = ws.records.create(SYSTEM, "firm", {"name": "Acme", "code": "ZQX-7"})
    other = ws.records.create(SYSTEM, "firm", {"name": "Other"})
    # Fleet's partner (hidden from rep) is Acme; its firm is Other
    fleet = ws.records.create(
        SYSTEM, "deal", {"name": "Fleet", "secret_note": "walnut", "firm": other["id"], "partner": acme["id"]}
    )
    ws.records.create(SYSTEM, "memo", {"subject": "Linked memo", "deal": fleet["id"]})
    ws.records.create(
        SYSTEM,
        "call",
        {
            "subject": "Paired call",
            "happened_at": "2024-05-01T10:00:00Z",
            "related_entity": "deal",
            "related_id": fleet["id"],
        },
    )
    ws.records.create(SYSTEM, "visit", {"subject": "Visit", "happened_at": "2001-02-03T04:05:06Z", "deal": fleet["id"]})
    client = create_app(ws.config, ws).test_client()
    return {
        "acme": acme["id"],
        "fleet": fleet["id"],
        "rep": sign_in(client, "rep@test.dev"),
        "boss": sign_in(client, "boss@test.dev"),
    }


def _detail(response: Any) -> str:
    return str(response.get_json().get("detail", ""))


# --- related lists -----------------------------------------------------------------------
def test_a_hidden_link_is_no_related_list(world: dict[str, Any]) -> None:
    rep, boss, acme = world["rep"], world["boss"], world["acme"]
    shown = boss.get(f"firm/{acme}/related/deal.partner?fields=name")
    assert shown.status_code == 200 and [r["name"] for r in shown.get_json()["data"]] == ["Fleet"]

    hidden = rep.get(f"firm/{acme}/related/deal.partner?fields=name")
    made_up = rep.get(f"firm/{acme}/related/deal.nosuch?fields=name")
    assert hidden.status_code == made_up.status_code == 404
    assert _detail(hidden) == _detail(made_up).replace("nosuch", "partner")
    assert "Fleet" not in hidden.get_data(as_text=True)


def test_the_hint_of_an_ambiguous_related_list_leaves_hidden_links_out(world: dict[str, Any]) -> None:
    rep, boss, acme = world["rep"], world["boss"], world["acme"]
    ambiguous = boss.get(f"firm/{acme}/related/deal")
    assert ambiguous.status_code == 404 and "deal.partner" in _detail(ambiguous)
    # for rep only deal.firm is left: the list is no longer ambiguous, and partner is not named
    answer = rep.get(f"firm/{acme}/related/deal")
    assert "partner" not in answer.get_data(as_text=True)
    assert answer.status_code == 200 and answer.get_json()["data"] == []  # Acme is no deal's firm


def test_the_description_offers_no_related_list_through_a_hidden_link(world: dict[str, Any]) -> None:
    assert world["boss"].get("meta/entities/firm").get_json()["related"] == ["deal.firm", "deal.partner"]
    assert world["rep"].get("meta/entities/firm").get_json()["related"] == ["deal.firm"]


# --- timeline ----------------------------------------------------------------------------
def _timeline(api: Api, deal: str) -> list[str]:
    response = api.get(f"deal/{deal}/timeline")
    assert response.status_code == 200, response.get_json()
    return sorted(entry["record"]["subject"] for entry in response.get_json()["data"])


def test_the_timeline_does_not_follow_a_hidden_via_link(world: dict[str, Any]) -> None:
    assert "Linked memo" in _timeline(world["boss"], world["fleet"])
    assert "Linked memo" not in _timeline(world["rep"], world["fleet"])


def test_the_timeline_does_not_follow_a_hidden_reference_pair(world: dict[str, Any]) -> None:
    assert "Paired call" in _timeline(world["boss"], world["fleet"])
    assert "Paired call" not in _timeline(world["rep"], world["fleet"])


def test_a_timeline_entry_does_not_show_a_hidden_at_field(world: dict[str, Any]) -> None:
    def at(api: Api) -> str:
        entries = api.get(f"deal/{world['fleet']}/timeline").get_json()["data"]
        return str(next(e["at"] for e in entries if e["entity"] == "visit"))

    assert at(world["boss"]).startswith("2001-02-03")
    assert not at(world["rep"]).startswith("2001")  # created_at instead


# --- search ------------------------------------------------------------------------------
def _found(api: Api, entity: str, q: str) -> Any:
    return api.get(f"{entity}?q={q}&fields=name")


def test_search_leaves_hidden_search_fields_out(world: dict[str, Any]) -> None:
    rep, boss = world["rep"], world["boss"]
    assert [r["name"] for r in _found(boss, "deal", "walnut").get_json()["data"]] == ["Fleet"]
    by_name = _found(rep, "deal", "fleet")
    assert by_name.status_code == 200, by_name.get_json()
    assert [r["name"] for r in by_name.get_json()["data"]] == ["Fleet"]
    by_secret = _found(rep, "deal", "walnut")
    assert by_secret.status_code == 200 and by_secret.get_json()["data"] == []
    assert "secret_note" not in by_secret.get_data(as_text=True)


def test_search_with_every_search_field_hidden_is_as_without_search_fields(world: dict[str, Any]) -> None:
    rep, boss = world["rep"], world["boss"]
    assert [r["name"] for r in _found(boss, "firm", "zqx").get_json()["data"]] == ["Acme"]
    answer = _found(rep, "firm", "zqx")
    assert answer.status_code == 400
    assert _detail(answer) == "firm has no search fields to look in"


def test_the_description_names_no_hidden_search_field(world: dict[str, Any]) -> None:
    rep, boss = world["rep"], world["boss"]
    assert boss.get("meta/entities/deal").get_json()["search"] == ["name", "secret_note"]
    assert rep.get("meta/entities/deal").get_json()["search"] == ["name"]
    assert boss.get("meta/entities/firm").get_json()["search"] == ["code"]
    assert rep.get("meta/entities/firm").get_json()["search"] == []


def test_search_ranks_by_no_hidden_field(ws: Workspace, world: dict[str, Any]) -> None:
    # matches whose title starts with the word come first: for rep the title is hidden, and
    # ranking by it would tell which hidden subject starts with "zebra"
    ws.records.create(SYSTEM, "note", {"subject": "apple", "body": "zebra apple"})
    ws.records.create(SYSTEM, "note", {"subject": "zebra crossing", "body": "apple zebra"})
    ranked = world["boss"].get("note?q=zebra&fields=body").get_json()["data"]
    assert [r["body"] for r in ranked] == ["apple zebra", "zebra apple"]  # by the subject
    ranked = world["rep"].get("note?q=zebra&fields=body").get_json()["data"]
    assert [r["body"] for r in ranked] == ["zebra apple", "apple zebra"]  # by the body, rep's first field


def test_the_description_names_no_hidden_title_or_list_column(world: dict[str, Any]) -> None:
    described = {who: world[who].get("meta/entities/note").get_json() for who in ("rep", "boss")}
    assert (described["boss"]["title"], described["boss"]["list_columns"]) == (
        "subject",
        ["subject", "body", "created_at"],
    )
    assert (described["rep"]["title"], described["rep"]["list_columns"]) == (None, ["body", "created_at"])
