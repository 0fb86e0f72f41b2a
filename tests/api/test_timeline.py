"""``GET /api/v1/ENTITY/ID/timeline`` and the polymorphic reference behind it.

In the ``capture_kit`` pack, ``note`` declares ``timeline: {at: happened_at, via: [org,
people]}``: a note is on the timeline of the record its ``related_entity``/``related_id``
names, of its ``org`` and of each of its ``people``. Reps read their own notes, managers
all, portal customers the public notes of their own org.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.checking import check_packs
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_config(database_url, tmp_path, ("capture_kit",)), meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    yield workspace
    workspace.close()


@pytest.fixture
def world(ws: Workspace) -> dict[str, Any]:
    """Two orgs, a person, and the users: a rep, a manager and a portal customer of org A."""
    org_a = ws.records.create(SYSTEM, "org", {"name": "Org A"})
    org_b = ws.records.create(SYSTEM, "org", {"name": "Org B"})
    person = ws.records.create(SYSTEM, "person", {"last_name": "Pat", "org": org_a["id"]})
    create_user(ws, "rep@test.dev", "Rex", PASSWORD, ["sales_rep"])
    create_user(ws, "boss@test.dev", "Bea", PASSWORD, ["sales_manager"])
    create_user(ws, "portal@test.dev", "Cleo", PASSWORD, ["customer"], account=org_a["id"])
    client = create_app(ws.config, ws).test_client()
    return {
        "a": org_a["id"],
        "b": org_b["id"],
        "person": person["id"],
        "rep": sign_in(client, "rep@test.dev"),
        "boss": sign_in(client, "boss@test.dev"),
        "portal": sign_in(client, "portal@test.dev"),
        "anonymous": Api(client, None),
    }


def note(api: Api, subject: str, **values: Any) -> dict[str, Any]:
    reply = api.post("note", {"subject": subject, **values})
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def subjects(api: Api, path: str) -> list[str]:
    reply = api.get(path)
    assert reply.status_code == 200, reply.get_json()
    return [entry["record"]["subject"] for entry in reply.get_json()["data"]]


def test_entries_newest_first_through_the_pair_and_the_links(world):
    rep, a = world["rep"], world["a"]
    note(rep, "old call", related_entity="org", related_id=a, happened_at="2026-01-10T09:00:00Z")
    note(rep, "meeting", org=a, people=[world["person"]], happened_at="2026-03-01T09:00:00Z")
    # the person is the system's: reps cannot read it, so cannot point a note at it
    boss = world["boss"]
    note(boss, "about person", related_entity="person", related_id=world["person"], happened_at="2026-02-01T09:00:00Z")
    note(rep, "elsewhere", related_entity="org", related_id=world["b"], happened_at="2026-04-01T09:00:00Z")
    undated = note(rep, "undated", related_entity="org", related_id=a)  # sorted by its creation
    assert subjects(rep, f"org/{a}/timeline") == ["undated", "meeting", "old call"]
    assert subjects(boss, f"person/{world['person']}/timeline") == ["meeting", "about person"]
    entry = rep.get(f"org/{a}/timeline").get_json()["data"][0]
    assert entry["entity"] == "note" and entry["at"] == undated["created_at"]
    assert entry["record"]["id"] == undated["id"]


def test_pages_follow_the_cursor(world):
    rep, a = world["rep"], world["a"]
    for day in range(1, 6):
        note(rep, f"day {day}", org=a, happened_at=f"2026-05-0{day}T08:00:00Z")
    first = rep.get(f"org/{a}/timeline?limit=2").get_json()
    assert [e["record"]["subject"] for e in first["data"]] == ["day 5", "day 4"]
    second = rep.get(f"org/{a}/timeline?limit=2&cursor={first['next_cursor']}").get_json()
    third = rep.get(f"org/{a}/timeline?limit=2&cursor={second['next_cursor']}").get_json()
    assert [e["record"]["subject"] for e in second["data"] + third["data"]] == ["day 3", "day 2", "day 1"]
    assert "next_cursor" not in third


def test_the_timeline_shows_only_what_the_caller_may_read(ws, world):
    a = world["a"]
    note(world["rep"], "mine", org=a)
    note(world["boss"], "the manager's", org=a)
    note(world["boss"], "for the customer", org=a, visibility="public")
    note(world["boss"], "public, other org", org=world["b"], visibility="public", related_entity="org", related_id=a)
    assert subjects(world["rep"], f"org/{a}/timeline") == ["mine"]
    assert set(subjects(world["boss"], f"org/{a}/timeline")) == {
        "mine",
        "the manager's",
        "for the customer",
        "public, other org",
    }
    # the portal: public entries of the customer's own org only, internal notes never
    assert subjects(world["portal"], f"org/{a}/timeline") == ["for the customer"]
    assert world["portal"].get(f"org/{world['b']}/timeline").status_code == 404
    assert world["anonymous"].get(f"org/{a}/timeline").status_code == 401


def test_bad_requests_are_clear(world):
    rep, a = world["rep"], world["a"]
    assert rep.get(f"org/{a}/timeline?limit=0").status_code == 400
    assert rep.get(f"org/{a}/timeline?cursor=garbage").status_code == 400
    assert rep.get(f"org/{a}/timeline?sort=at").status_code == 400
    assert rep.get(f"org/{a}/timeline?entities=org").status_code == 400
    assert subjects(rep, f"org/{a}/timeline?entities=note") == []
    assert rep.get("org/01234567-0000-7000-8000-000000000000/timeline").status_code == 404
    assert rep.get(f"nothing/{a}/timeline").status_code == 404


def test_the_reference_must_name_a_live_record(world):
    rep, a = world["rep"], world["a"]
    cases = [
        ({"related_entity": "gizmo", "related_id": a}, "related_entity"),
        ({"related_entity": "org", "related_id": world["person"]}, "related_id"),
        ({"related_entity": "org", "related_id": "not-an-id"}, "related_id"),
        ({"related_entity": "org"}, "related_id"),
        ({"related_id": a}, "related_entity"),
    ]
    for values, field in cases:
        reply = rep.post("note", {"subject": "x", **values})
        assert reply.status_code == 422, values
        assert reply.get_json()["errors"][0]["field"] == field
    made = note(rep, "fine", related_entity="org", related_id=a)
    assert rep.patch(f"note/{made['id']}", {"related_id": world["b"]}).status_code == 200
    assert rep.patch(f"note/{made['id']}", {"related_entity": "person"}).status_code == 422


def test_a_record_the_writer_cannot_read_is_refused_like_a_made_up_one(ws, world):
    rep, hidden = world["rep"], world["person"]  # the system's person: reps read only their own
    made_up = "01234567-0000-7000-8000-000000000000"
    replies = [
        rep.post("note", {"subject": "probe", "related_entity": "person", "related_id": i}) for i in (hidden, made_up)
    ]
    assert [r.status_code for r in replies] == [422, 422]
    assert replies[0].get_json() == replies[1].get_json()
    assert replies[0].get_json()["errors"] == [{"field": "related_id", "message": "There is no person with this id."}]
    made = note(rep, "fine", related_entity="org", related_id=world["a"])
    moved = [rep.patch(f"note/{made['id']}", {"related_entity": "person", "related_id": i}) for i in (hidden, made_up)]
    assert [r.status_code for r in moved] == [422, 422]
    assert moved[0].get_json() == moved[1].get_json()
    # an entity the rep may not read at all is as unknown as one that does not exist
    entities = [
        rep.post("note", {"subject": "probe", "related_entity": e, "related_id": made_up}) for e in ("webhook", "gizmo")
    ]
    assert entities[0].get_json() == entities[1].get_json()
    assert entities[0].get_json()["errors"][0]["field"] == "related_entity"
    assert [n["subject"] for n in ws.records.list(SYSTEM, "note", {}).data] == ["fine"]
    assert ws.records.get(SYSTEM, "note", made["id"])["related_entity"] == "org"
    # a person the rep may read, the manager's wider scope and the system's writes still work
    own = rep.post("person", {"last_name": "Mine"}).get_json()
    assert rep.patch(f"note/{made['id']}", {"related_entity": "person", "related_id": own["id"]}).status_code == 200
    note(world["boss"], "the manager's", related_entity="person", related_id=hidden)
    ws.records.create(SYSTEM, "note", {"subject": "a rule's", "related_entity": "person", "related_id": hidden})


def test_tessera_check_names_a_bad_timeline(tmp_path):
    pack = tmp_path / "badline"
    (pack / "entities").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: badline\nversion: 1.0.0\n")
    (pack / "entities" / "entry.yaml").write_text(
        "entity: entry\ntimeline: {at: day, via: [title]}\nrelated: [ghost, timeline]\n"
        "fields:\n  title: {type: string}\n  day: {type: date}\n  related_entity: {type: int}\n"
    )
    config = make_config("sqlite://", tmp_path, ("badline",)).with_overrides(extra_pack_paths=(tmp_path,))
    problems, _ = check_packs(config, [pack])
    text = "\n".join(str(p) for p in problems.items)
    for expected in (
        "timeline field 'related_entity' must be a stored string field",
        "timeline field 'related_id' must be a stored string field",
        "timeline 'at' 'day' must be a stored datetime field",
        "timeline 'via' 'title' must be a link or links field",
        "related list 'ghost'",
    ):
        assert expected in text, (expected, text)
