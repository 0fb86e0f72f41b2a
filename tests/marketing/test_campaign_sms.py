"""The marketing pack's SMS campaigns (rule ``send_campaign_sms``): sending a campaign with an
SMS template texts every member with a mobile number, its variables filled in, through the
SMS plugin's gateway (a local fake); members without a mobile get none, and nothing is sent
twice. Walked through the REST API as the demo roles, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

from engine.automation.outbox import dispatch_due
from tests.plugins_sms.fake_gateway import FakeGateway, fake_gateway  # noqa: F401  (a fixture)
from tests.sales.rest import account, act, create, get, listing, ok

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)


def test_sending_an_sms_campaign_texts_each_member_with_a_mobile_once(
    sales_workspace,
    api_client,
    fake_gateway: FakeGateway,  # noqa: F811
):
    ws = sales_workspace("marketing", "sms")
    admin, ads, rep = api_client(ws, "admin"), api_client(ws, "advertising_manager"), api_client(ws, "sales_rep")
    gateway = create(
        admin,
        "sms_gateway",
        {
            "name": "main",
            "url": fake_gateway.url,
            "sender": "Tessera",
            "auth_header_name": "X-API-Key",
            "auth_header_value": "sms-key-123",
            "message_id_path": "messages.0.id",
        },
    )
    bank = account(rep, "Hanse Bank AG")
    target = create(ads, "target_list", {"name": "Fair visitors"})
    people = [
        ("Ada", "Banker", "0170 1234567"),
        ("Bo", "Nomobile", None),
    ]
    for first, last, mobile in people:
        person = create(
            rep,
            "contact",
            {
                "first_name": first,
                "last_name": last,
                "email": f"{last.lower()}@example.com",
                "mobile": mobile,
                "consent_marketing": True,
                "account": bank["id"],
            },
        )
        ok(act(rep, "contact", person["id"], "add_to_list", {"list": target["id"]}))
    text = create(
        ads, "sms_template", {"name": "Fair invite", "body": "Hi {{ first_name }}, see {{ company }} at booth 4"}
    )
    campaign = create(
        ads,
        "campaign",
        {"name": "Fair 2030", "kind": "event", "channel": "sms", "sms_template": text["id"]},
    )
    ok(act(ads, "campaign", campaign["id"], "add_list_members", {"list": target["id"]}))

    ok(act(ads, "campaign", campaign["id"], "send"))
    assert {m["status"] for m in listing(ads, "campaign_member", campaign=campaign["id"])} == {"sent"}
    dispatch_due(ws, LATER)
    (request,) = fake_gateway.requests
    assert request["headers"]["X-API-Key"] == "sms-key-123"
    assert json.loads(request["body"]) == {
        "to": "+491701234567",
        "text": "Hi Ada, see Hanse Bank AG at booth 4",
        "from": "Tessera",
    }
    (message,) = listing(admin, "sms_message")
    assert (message["status"], message["to"], message["gateway"]) == ("sent", "+491701234567", gateway["id"])

    # sending again texts nobody twice; the gateway's key shows nowhere in the API
    act(ads, "campaign", campaign["id"], "send")
    dispatch_due(ws, LATER + dt.timedelta(days=1))
    assert len(fake_gateway.requests) == 1
    assert get(ads, "campaign", campaign["id"])["sent"] == 2
    for path in (f"/api/v1/sms_gateway/{gateway['id']}", f"/api/v1/sms_message/{message['id']}"):
        assert "sms-key-123" not in admin.get(path).get_data(as_text=True)
