"""The ``core`` pack: its entities and fields, default grants, duplicate rules, settings,
badges and the activity timeline, through the public REST API as each demo role."""

from __future__ import annotations

from typing import Any

import pytest

PACKS_FIELDS = {
    "account": "name industry segment tier parent_account website domain phone email billing_street billing_city "
    "billing_postcode billing_country shipping_street shipping_city shipping_postcode shipping_country city "
    "country employees annual_revenue tax_id legal_form credit_limit payment_terms tags health_score source",
    "contact": "salutation first_name last_name email email_secondary phone mobile mobile_secondary title "
    "department role account reports_to gender birthday language timezone preferred_channel linkedin twitter "
    "city country consent_marketing consent_processing do_not_sell referred_by source",
    "activity": "kind subject body due_at done duration_minutes outcome direction attendees visibility "
    "related_entity related_id",
    "product": "sku name category oem list_price cost unit service_tier service_months woo_id",
    "notification": "user title body related_entity related_id read_at",
    "user_badge": "title rank icon",
    "crm_setting": "default_phone_region phone_number_format lead_uniqueness_rule lead_reassignment_timeout "
    "email_queue_limit_per_hour sms_queue_limit_per_hour",
}


@pytest.fixture
def ws(sales_workspace):
    return sales_workspace("core")


@pytest.fixture
def as_role(ws, api_client):
    clients: dict[str, Any] = {}

    def get(role: str) -> Any:
        if role not in clients:
            clients[role] = api_client(ws, role)
        return clients[role]

    return get


def created(reply: Any) -> dict[str, Any]:
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def test_every_entity_holds_the_fields_packs_md_names(as_role):
    admin = as_role("admin")
    for entity, names in PACKS_FIELDS.items():
        reply = admin.get(f"/api/v1/meta/entities/{entity}")
        assert reply.status_code == 200, entity
        fields = {f["name"] for f in reply.get_json()["fields"]}
        assert set(names.split()) <= fields, (entity, set(names.split()) - fields)
    enums = {f["name"]: f for f in admin.get("/api/v1/meta/entities/account").get_json()["fields"]}
    assert [o["value"] for o in enums["tier"]["options"]] == ["platinum", "gold", "silver", "bronze"]
    badge = {f["name"]: f for f in admin.get("/api/v1/meta/entities/user").get_json()["fields"]}["badge"]
    assert badge["to"] == "user_badge"  # shown beside the user's name in lists


# --- default grants ------------------------------------------------------------------


def test_sales_reps_create_accounts_and_change_only_their_own(as_role):
    rep, manager = as_role("sales_rep"), as_role("sales_manager")
    mine = created(rep.post("/api/v1/account", json={"name": "Rep's Account"}))
    theirs = created(manager.post("/api/v1/account", json={"name": "Manager's Account"}))
    assert rep.patch(f"/api/v1/account/{mine['id']}", json={"city": "Berlin"}).status_code == 200
    assert rep.patch(f"/api/v1/account/{theirs['id']}", json={"city": "Berlin"}).status_code == 403
    assert rep.get(f"/api/v1/account/{theirs['id']}").status_code == 200  # reads all accounts
    assert rep.delete(f"/api/v1/account/{mine['id']}").status_code == 403
    created(rep.post("/api/v1/contact", json={"last_name": "Doe", "account": theirs["id"]}))
    assert rep.post("/api/v1/product", json={"sku": "X", "name": "X", "category": "hardware"}).status_code == 403
    assert rep.get("/api/v1/product").status_code == 200


def test_read_only_and_portal_roles(as_role):
    admin = as_role("admin")
    account = created(admin.post("/api/v1/account", json={"name": "Anyone"}))
    executive = as_role("executive")
    assert executive.get(f"/api/v1/account/{account['id']}").status_code == 200
    assert executive.post("/api/v1/account", json={"name": "No"}).status_code == 403
    assert executive.get("/api/v1/crm_setting").status_code == 200
    assert as_role("customer").get("/api/v1/product").status_code == 404  # the portal sees no catalog
    assert as_role("technician").get(f"/api/v1/account/{account['id']}").status_code == 200


# --- duplicate rules -----------------------------------------------------------------


def test_account_names_are_unique_whatever_their_legal_form(as_role):
    rep, manager = as_role("sales_rep"), as_role("sales_manager")
    first = created(rep.post("/api/v1/account", json={"name": "Müller Maschinenbau GmbH"}))
    assert rep.post("/api/v1/account", json={"name": "Müller Maschinenbau Süd GmbH"}).status_code == 201
    refused = rep.post("/api/v1/account", json={"name": "müller maschinenbau ag"})
    assert refused.status_code == 409
    assert refused.get_json()["duplicates"][0]["matches"][0]["id"] == first["id"]
    assert rep.post("/api/v1/account?allow_duplicates=true", json={"name": "Müller Maschinenbau AG"}).status_code == 403
    override = manager.post("/api/v1/account?allow_duplicates=true", json={"name": "Müller Maschinenbau AG"})
    assert override.status_code == 201 and override.get_json()["_warnings"][0]["overridden"] is True
    history = as_role("admin").get(f"/api/v1/account/{override.get_json()['id']}/history").get_json()["data"]
    assert "duplicate_override" in [h["action"] for h in history]


def test_an_account_name_with_a_dotted_legal_form_is_the_same_name(as_role):
    rep = as_role("sales_rep")
    first = created(rep.post("/api/v1/account", json={"name": "Epsilon SA"}))
    refused = rep.post("/api/v1/account", json={"name": "Epsilon S.A."})
    assert refused.status_code == 409
    assert refused.get_json()["duplicates"][0]["matches"][0]["id"] == first["id"]
    created(rep.post("/api/v1/account", json={"name": "Eta G.m.b.H."}))
    assert rep.post("/api/v1/account", json={"name": "Eta GmbH"}).status_code == 409


def test_a_shared_web_domain_is_flagged_not_refused(as_role):
    rep = as_role("sales_rep")
    group = created(rep.post("/api/v1/account", json={"name": "Contoso Group", "domain": "contoso.com"}))
    branch = created(rep.post("/api/v1/account", json={"name": "Contoso Retail", "website": "https://www.contoso.com"}))
    assert branch["_warnings"][0]["rule"] == "account_domain"
    assert branch["_warnings"][0]["matches"][0]["id"] == group["id"]


def test_one_email_address_is_one_contact(as_role):
    rep = as_role("sales_rep")
    jane = created(rep.post("/api/v1/contact", json={"last_name": "Doe", "email": "jane.doe@example.com"}))
    twin = rep.post("/api/v1/contact", json={"last_name": "Doe", "email_secondary": "Jane.Doe@Example.com"})
    assert twin.status_code == 409 and jane["id"] in twin.get_json()["errors"][0]["message"]
    other = created(rep.post("/api/v1/contact", json={"last_name": "Roe", "email": "roe@example.com"}))
    moved = rep.patch(f"/api/v1/contact/{other['id']}", json={"email": "JANE.DOE@example.com"})
    assert moved.status_code == 409


def test_phone_numbers_are_compared_in_the_workspace_region(as_role):
    admin, rep = as_role("admin"), as_role("sales_rep")
    created(admin.post("/api/v1/crm_setting", json={"default_phone_region": "DE"}))
    first = created(rep.post("/api/v1/contact", json={"last_name": "Berlin", "phone": "+49 30 2345678"}))
    second = created(rep.post("/api/v1/contact", json={"last_name": "Office", "mobile": "030 234 56 78"}))
    assert second["_warnings"][0]["rule"] == "contact_phone"
    assert second["_warnings"][0]["matches"][0]["id"] == first["id"]


# --- settings, badges -----------------------------------------------------------------


def test_settings_are_one_record_admins_change(as_role):
    admin = as_role("admin")
    settings = created(admin.post("/api/v1/crm_setting", json={}))
    assert settings["default_phone_region"] == "DE" and settings["lead_reassignment_timeout"] == 172800
    assert admin.post("/api/v1/crm_setting", json={}).status_code == 409  # one record
    assert as_role("sales_manager").patch(f"/api/v1/crm_setting/{settings['id']}", json={}).status_code in (403, 404)
    changed = admin.patch(f"/api/v1/crm_setting/{settings['id']}", json={"lead_reassignment_timeout": "36h"})
    assert changed.get_json()["lead_reassignment_timeout"] == 36 * 3600


def test_badges_are_awarded_to_users(as_role):
    admin = as_role("admin")
    badge = created(admin.post("/api/v1/user_badge", json={"title": "Closer", "rank": 3, "icon": "target"}))
    me = admin.get("/api/v1/user?email=sales_rep@test.dev").get_json()["data"][0]
    assert admin.patch(f"/api/v1/user/{me['id']}", json={"badge": badge["id"]}).status_code == 200
    listed = as_role("sales_manager").get("/api/v1/user?expand=badge&email=sales_rep@test.dev").get_json()["data"][0]
    assert listed["badge"]["title"] == "Closer"


# --- the activity timeline -------------------------------------------------------------


def test_activities_build_the_timeline_of_any_record(as_role):
    rep = as_role("sales_rep")
    account = created(rep.post("/api/v1/account", json={"name": "Timeline AG"}))
    contact = created(rep.post("/api/v1/contact", json={"last_name": "Lin", "account": account["id"]}))
    base = {"related_entity": "contact", "related_id": contact["id"]}
    created(
        rep.post(
            "/api/v1/activity", json={"kind": "call", "subject": "Intro call", **base, "due_at": "2026-03-01T10:00:00Z"}
        )
    )
    created(
        rep.post(
            "/api/v1/activity",
            json={
                "kind": "meeting",
                "subject": "Workshop",
                "account": account["id"],
                "attendees": [contact["id"]],
                "due_at": "2026-04-01T10:00:00Z",
            },
        )
    )
    created(
        rep.post(
            "/api/v1/activity",
            json={
                "kind": "note",
                "subject": "Budget approved",
                "related_entity": "account",
                "related_id": account["id"],
            },
        )
    )
    on_contact = [
        e["record"]["subject"] for e in rep.get(f"/api/v1/contact/{contact['id']}/timeline").get_json()["data"]
    ]
    assert on_contact == ["Workshop", "Intro call"]
    on_account = [
        e["record"]["subject"] for e in rep.get(f"/api/v1/account/{account['id']}/timeline").get_json()["data"]
    ]
    assert on_account[-1] == "Workshop" and set(on_account) == {"Budget approved", "Workshop"}
    bad = rep.post(
        "/api/v1/activity",
        json={"kind": "note", "subject": "x", "related_entity": "account", "related_id": contact["id"]},
    )
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "related_id"


def test_portal_users_see_public_activities_of_their_own_account(sales_workspace, api_client):
    ws = sales_workspace("core")
    admin = api_client(ws, "admin")
    mine = created(admin.post("/api/v1/account", json={"name": "Portal Customer"}))
    other = created(admin.post("/api/v1/account", json={"name": "Someone Else"}))
    portal_user = admin.get("/api/v1/user?email=customer@test.dev").get_json()["data"][0]
    assert admin.patch(f"/api/v1/user/{portal_user['id']}", json={"account": mine["id"]}).status_code == 200
    for subject, account, visibility in (
        ("Summary sent", mine, "public"),
        ("Internal: margin is thin", mine, "internal"),
        ("Other customer's summary", other, "public"),
    ):
        created(
            admin.post(
                "/api/v1/activity",
                json={
                    "kind": "note",
                    "subject": subject,
                    "account": account["id"],
                    "visibility": visibility,
                    "related_entity": "account",
                    "related_id": account["id"],
                },
            )
        )
    customer = api_client(ws, "customer")
    timeline = customer.get(f"/api/v1/account/{mine['id']}/timeline").get_json()["data"]
    assert [e["record"]["subject"] for e in timeline] == ["Summary sent"]
    assert [a["subject"] for a in customer.get("/api/v1/activity").get_json()["data"]] == ["Summary sent"]
    assert customer.get(f"/api/v1/account/{other['id']}/timeline").status_code == 404
