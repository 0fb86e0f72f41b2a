"""UAT of the marketing module (docs/uat/marketing.md): segments, target lists, sending with
the template's variables, drip follow-ups, permissions."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.automation.schedules import run_due
from tests.marketing.test_campaigns import contact, template
from tests.sales.rest import account, act, create, get, listing, ok
from tests.service.feedback import body, emails


@pytest.mark.uat("UAT-MARKETING-01")
def test_uat_marketing_01_a_segment_fills_a_campaign_with_consenting_contacts(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    ads, rep = api_client(ws, "advertising_manager"), api_client(ws, "sales_rep")
    bank = account(rep, "Hanse Bank AG", industry="banking")
    banker = contact(rep, "Banker", True, account=bank["id"])
    contact(rep, "Silent", False, account=bank["id"])
    segment = create(ads, "segment", {"name": "Banks", "of": "contact", "condition": 'account.industry == "banking"'})
    campaign = create(ads, "campaign", {"name": "Spring 2030", "email_template": template(ads)["id"]})
    for _ in range(2):
        ok(act(ads, "campaign", campaign["id"], "add_segment_members", {"segment": segment["id"]}))
    assert [m["contact"] for m in listing(ads, "campaign_member", campaign=campaign["id"])] == [banker["id"]]


@pytest.mark.uat("UAT-MARKETING-02")
def test_uat_marketing_02_sending_mails_each_member_with_their_details(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    ads, rep = api_client(ws, "advertising_manager"), api_client(ws, "sales_rep")
    banker = contact(rep, "Banker", True, account=account(rep, "Hanse Bank AG")["id"])
    target = create(ads, "target_list", {"name": "Fair visitors"})
    ok(act(rep, "contact", banker["id"], "add_to_list", {"list": target["id"]}))
    campaign = create(ads, "campaign", {"name": "Spring 2030", "email_template": template(ads)["id"]})
    ok(act(ads, "campaign", campaign["id"], "add_list_members", {"list": target["id"]}))
    assert ok(act(ads, "campaign", campaign["id"], "send"))["status"] == "active"
    assert {m["status"] for m in listing(ads, "campaign_member", campaign=campaign["id"])} == {"sent"}
    (mail,) = emails(ws, to="banker@example.com")
    assert mail["Subject"] == "Spring offer for Ada Banker"
    assert body(mail).strip() == "Hello Ada of Hanse Bank AG"


@pytest.mark.uat("UAT-MARKETING-03")
def test_uat_marketing_03_a_drip_follow_up_goes_out_once_and_reps_do_not_send(sales_workspace, api_client):
    ws = sales_workspace("marketing")
    ads, rep = api_client(ws, "advertising_manager"), api_client(ws, "sales_rep")
    banker = contact(rep, "Banker", True)
    values = {
        "name": "Drip",
        "email_template": template(ads)["id"],
        "follow_up_template": template(ads, "Reminder")["id"],
    }
    campaign = create(ads, "campaign", values)
    member = create(ads, "campaign_member", {"campaign": campaign["id"], "contact": banker["id"]})
    assert act(rep, "campaign", campaign["id"], "send").status_code == 403
    ok(act(ads, "campaign", campaign["id"], "send"))
    sent_at = dt.datetime.fromisoformat(get(ads, "campaign_member", member["id"])["sent_at"])
    run_due(ws, sent_at + dt.timedelta(days=3, hours=1))
    run_due(ws, sent_at + dt.timedelta(days=3, hours=2))
    assert get(ads, "campaign_member", member["id"])["drip_step"] == 1
    assert [m["Subject"] for m in emails(ws, to="banker@example.com")] == [
        "Spring offer for Ada Banker",
        "Reminder for Ada Banker",
    ]
