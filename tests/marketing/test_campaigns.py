"""The marketing pack: segments and target lists becoming campaign members, sending, the
tracking statuses and the campaign analytics, drip follow-ups, and who may do what. Walked
through the REST API as the demo roles, on SQLite and PostgreSQL; scheduled rules run with
``run_due(ws, now)``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.automation.schedules import run_due
from tests.sales.rest import account, act, create, get, listing, money, ok, patch
from tests.service.feedback import body, emails


def contact(api: Any, last: str, consent: bool, **values: Any) -> dict[str, Any]:
    return create(
        api,
        "contact",
        {
            "first_name": "Ada",
            "last_name": last,
            "email": f"{last.lower()}@example.com",
            "consent_marketing": consent,
            **values,
        },
    )


def template(api: Any, name: str = "Spring offer") -> dict[str, Any]:
    html = "<p>Hello {{ first_name }}</p><a href='{{ unsubscribe_url }}'>unsubscribe</a>"
    text = "Hello {{ first_name }} of {{ company }}"
    return create(
        api,
        "email_template",
        {"name": name, "subject": f"{name} for {{{{ name }}}}", "body_html": html, "body_text": text},
    )


def test_a_segment_and_a_list_fill_a_campaign_and_tracking_feeds_the_analytics(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    ads, rep = api_client(ws, "advertising_manager"), api_client(ws, "sales_rep")
    bank = account(rep, "Hanse Bank AG", industry="banking")
    shop = account(rep, "Elbe Retail GmbH", industry="retail")
    banker = contact(rep, "Banker", True, account=bank["id"])
    contact(rep, "Silent", False, account=bank["id"])  # no consent: never a member
    retailer = contact(rep, "Retailer", True, account=shop["id"])

    segment = create(ads, "segment", {"name": "Banks", "of": "contact", "condition": 'account.industry == "banking"'})
    campaign = create(
        ads,
        "campaign",
        {
            "name": "Spring 2030",
            "kind": "email",
            "channel": "email",
            "budget": 5000,
            "cost": 1200,
            "email_template": template(ads)["id"],
        },
    )
    ok(act(ads, "campaign", campaign["id"], "add_segment_members", {"segment": segment["id"]}))
    members = listing(ads, "campaign_member", campaign=campaign["id"])
    assert [m["contact"] for m in members] == [banker["id"]]
    # again: nobody twice
    ok(act(ads, "campaign", campaign["id"], "add_segment_members", {"segment": segment["id"]}))
    assert len(listing(ads, "campaign_member", campaign=campaign["id"])) == 1

    # a static list filled by a rep with add_to_list, then added to the campaign
    target = create(ads, "target_list", {"name": "Fair visitors"})
    ok(act(rep, "contact", retailer["id"], "add_to_list", {"list": target["id"]}))
    ok(act(rep, "contact", retailer["id"], "add_to_list", {"list": target["id"]}))
    lead = create(rep, "lead", {"last_name": "Lead", "email": "lead@example.com", "campaign": campaign["id"]})
    ok(act(rep, "lead", lead["id"], "add_to_list", {"list": target["id"]}))
    assert (
        get(ads, "target_list", target["id"])["contact_count"],
        get(ads, "target_list", target["id"])["lead_count"],
    ) == (1, 1)
    ok(act(ads, "campaign", campaign["id"], "add_list_members", {"list": target["id"]}))
    ok(act(ads, "campaign", campaign["id"], "add_list_members", {"list": target["id"]}))
    assert len(listing(ads, "campaign_member", campaign=campaign["id"])) == 3

    # sending marks every planned member sent and mails it
    sent = ok(act(ads, "campaign", campaign["id"], "send"))
    assert sent["status"] == "active"
    by_email = {m["email"]: m for m in listing(ads, "campaign_member", campaign=campaign["id"])}
    assert {m["status"] for m in by_email.values()} == {"sent"}
    # the campaign mail, its variables filled in for each member
    (mail,) = emails(ws, to="banker@example.com")
    assert mail["Subject"] == "Spring offer for Ada Banker"
    assert body(mail).strip() == "Hello Ada of Hanse Bank AG"
    assert len(emails(ws)) == 3
    # tracking (the e-mail plugin's pixel and redirect) writes the times; the status follows
    now = dt.datetime.now(dt.UTC).isoformat()
    patch(ads, "campaign_member", by_email["banker@example.com"]["id"], {"opened_at": now})
    patch(ads, "campaign_member", by_email["retailer@example.com"]["id"], {"opened_at": now, "clicked_at": now})
    assert get(ads, "campaign_member", by_email["retailer@example.com"]["id"])["status"] == "clicked"
    # the lead converts: its membership converts
    ok(act(rep, "lead", lead["id"], "convert", {}))
    assert get(ads, "campaign_member", by_email["lead@example.com"]["id"])["status"] == "converted"

    stats = get(ads, "campaign", campaign["id"])
    assert (stats["members"], stats["sent"], stats["opened"], stats["clicked"], stats["converted"]) == (3, 3, 2, 1, 1)
    assert (stats["leads"], money(stats["cost_per_lead"]), money(stats["open_rate"])) == (1, 1200, money("66.67"))
    assert get(rep, "lead", lead["id"])["source"] == "campaign"


def test_a_bad_segment_condition_writes_nothing(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    ads = api_client(ws, "advertising_manager")
    segment = create(ads, "segment", {"name": "Broken", "of": "contact", "condition": "nonsense ==="})
    campaign = create(ads, "campaign", {"name": "Broken run"})
    reply = act(ads, "campaign", campaign["id"], "add_segment_members", {"segment": segment["id"]})
    assert reply.status_code == 422
    assert "does not compile" in reply.get_json()["detail"]
    assert listing(ads, "campaign_member", campaign=campaign["id"]) == []


def test_drip_follow_up_and_permissions(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    ads, rep = api_client(ws, "advertising_manager"), api_client(ws, "sales_rep")
    banker = contact(rep, "Banker", True)
    follow = template(ads, "Reminder")
    campaign = create(
        ads, "campaign", {"name": "Drip", "email_template": template(ads)["id"], "follow_up_template": follow["id"]}
    )
    member = create(ads, "campaign_member", {"campaign": campaign["id"], "contact": banker["id"]})
    ok(act(ads, "campaign", campaign["id"], "send"))
    sent_at = dt.datetime.fromisoformat(get(ads, "campaign_member", member["id"])["sent_at"])
    run_due(ws, sent_at + dt.timedelta(days=3, hours=1))
    assert get(ads, "campaign_member", member["id"])["drip_step"] == 1
    assert [m["Subject"] for m in emails(ws, to="banker@example.com")] == [
        "Spring offer for Ada Banker",
        "Reminder for Ada Banker",
    ]
    run_due(ws, sent_at + dt.timedelta(days=3, hours=2))  # once per step
    assert get(ads, "campaign_member", member["id"])["drip_step"] == 1

    # reps read campaigns but do not run them; only advertising managers send
    assert rep.post("/api/v1/campaign", json={"name": "Mine"}).status_code == 403
    assert act(rep, "campaign", campaign["id"], "send").status_code == 403
    # an active marketing mail needs its unsubscribe link
    bad = ads.post("/api/v1/email_template", json={"name": "x", "subject": "x", "body_html": "<p>x</p>"})
    assert bad.status_code == 422


def test_lead_nurturing_mails_open_leads_until_they_convert(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    rep = api_client(ws, "sales_rep")
    warm = create(
        rep, "lead", {"first_name": "Nina", "last_name": "Open", "email": "nina@example.com", "consent_marketing": True}
    )
    create(rep, "lead", {"last_name": "NoConsent", "email": "no@example.com"})
    started = dt.datetime.fromisoformat(get(rep, "lead", warm["id"])["nurture_started_at"])
    run_due(ws, started + dt.timedelta(days=2, hours=1))
    assert get(rep, "lead", warm["id"])["nurture_step"] == 1
    assert [m["Subject"] for m in emails(ws, template="lead_nurture")] == ["Nina, ideas for your team"]
    ok(act(rep, "lead", warm["id"], "convert", {}))
    run_due(ws, started + dt.timedelta(days=9, hours=1))
    assert len(emails(ws, template="lead_nurture")) == 1  # a converted lead gets no more
    # replace() works in list filters too (SQL)
    assert [r["id"] for r in listing(rep, "lead", filter='replace(last_name, "pe", "PE") == "OPEn"')] == [warm["id"]]
