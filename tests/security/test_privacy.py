"""GDPR: export everything about a person; erase on request, the trail redacted."""

from __future__ import annotations

import sqlalchemy as sa


def test_export_gathers_the_person_links_and_history(admin):
    person = admin.post("person", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.dev"}).get_json()
    admin.post("person_note", {"person": person["id"], "text": "Met at the fair"})
    admin.patch(f"person/{person['id']}", {"city": "London"})
    exported = admin.get(f"privacy/people/{person['id']}/export")
    assert exported.status_code == 200
    body = exported.get_json()
    assert body["record"]["email"] == "ada@x.dev"
    assert [n["text"] for n in body["related"]["person_note"]] == ["Met at the fair"]
    assert [h["action"] for h in body["history"]] == ["update", "create"]


def test_erase_blanks_personal_fields_and_redacts_the_trail(admin, workspace):
    person = admin.post(
        "person", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.dev", "city": "London"}
    ).get_json()
    erased = admin.post(f"privacy/people/{person['id']}/erase")
    assert erased.status_code == 200
    assert erased.get_json()["erased_fields"] == ["birthday", "email", "first_name", "last_name"]
    record = admin.get(f"person/{person['id']}").get_json()
    assert record["last_name"] == "(erased)" and record["email"] is None and record["first_name"] is None
    assert record["city"] == "London"  # not personal: kept for aggregates
    with workspace.db.connect() as conn:
        trail = " ".join(
            str(c)
            for c in conn.execute(
                sa.text("SELECT changes FROM tessera_audit WHERE record_id = :id"), {"id": person["id"]}
            ).scalars()
        )
    assert "Lovelace" not in trail and "ada@x.dev" not in trail
    actions = [h["action"] for h in admin.get(f"person/{person['id']}/history").get_json()["data"]]
    assert actions == ["erase", "create"]


def test_privacy_tools_are_for_admins_and_known_collections(admin, rep):
    person = admin.post("person", {"last_name": "X"}).get_json()
    assert rep.get(f"privacy/people/{person['id']}/export").status_code == 403
    assert rep.post(f"privacy/people/{person['id']}/erase").status_code == 403
    assert admin.get(f"privacy/gadgets/{person['id']}/export").status_code == 404
    assert admin.post("privacy/people/01a20c15-81e9-731a-b6b1-197857feef58/erase").status_code == 404
