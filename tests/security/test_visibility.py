"""Internal notes never reach customers, through any read path; the audit trail is append-only."""

from __future__ import annotations

import pytest

from engine.security.users import create_user
from tests.conftest import PASSWORD, sign_in


@pytest.fixture
def portal(workspace, client, admin):
    create_user(workspace, "cust@test.dev", "Customer", PASSWORD, ["customer"])
    person = admin.post("person", {"last_name": "Client"}).get_json()
    internal = admin.post("person_note", {"person": person["id"], "text": "INTERNAL margin talk"}).get_json()
    public = admin.post(
        "person_note", {"person": person["id"], "text": "Your order shipped", "visibility": "public"}
    ).get_json()
    return sign_in(client, "cust@test.dev"), person, internal, public


def test_customers_see_public_notes_only(portal):
    customer, person, internal, public = portal
    paths = [
        "person_note?limit=100",
        f"person/{person['id']}/related/person_note",
        f"person/{person['id']}/related/person_note?count=true",
        "person_note?filter=text%20~%20%22margin%22",
    ]
    for path in paths:
        body = customer.get(path).get_data(as_text=True)
        assert "INTERNAL" not in body and internal["id"] not in body, path
    assert public["id"] in customer.get("person_note").get_data(as_text=True)
    assert customer.get(f"person_note/{internal['id']}").status_code == 404
    assert customer.get(f"person_note/{internal['id']}/history").status_code == 404
    counts = customer.post("person_note/aggregate", {"metrics": {"n": "count()"}}).get_json()["data"]
    assert counts == [{"n": 1}]
    assert customer.patch(f"person_note/{internal['id']}", {"text": "x"}).status_code == 404
    assert "INTERNAL" not in customer.get(f"person/{person['id']}?expand=").get_data(as_text=True)


def test_customer_notes_start_internal_and_cannot_be_hidden_from_staff(portal):
    customer, person, _internal, _public = portal
    mine = customer.post("person_note", {"person": person["id"], "text": "question", "visibility": "public"})
    assert mine.status_code == 201
    # a customer cannot create what they then could not read
    assert customer.post("person_note", {"person": person["id"], "text": "hidden"}).status_code == 403


def test_the_audit_trail_cannot_be_changed_through_the_api(admin):
    created = admin.post("person", {"last_name": "Kept"}).get_json()
    entry = admin.get(f"person/{created['id']}/history").get_json()["data"][0]
    for method in ("patch", "delete"):
        assert getattr(admin, method)(f"person/{created['id']}/history").status_code == 405
        assert getattr(admin, method)("admin/audit", json={}).status_code in (404, 405)
    assert admin.post("admin/audit", {"id": entry["id"]}).status_code in (404, 405)
    assert admin.get("tessera_audit").status_code == 404
    assert admin.get(f"person/{created['id']}/history").get_json()["data"][0] == entry
