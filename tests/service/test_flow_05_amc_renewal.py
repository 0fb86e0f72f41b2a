"""Flow 5 (PACKS.md): an AMC contract tied to its account; the renewal opportunity is
created 90 days before the end (once), the account owner is alerted at 90/60/30/7 days,
the renewal makes the successor contract and triggers a feedback survey.

Walked through the REST API as the demo roles, on SQLite and PostgreSQL, with the
workspace clock and the job runner's pass (due timers, scheduled rules) at chosen instants.
"""

from __future__ import annotations

from tests.sales.rest import account, act, create, get, listing, ok, user_id
from tests.service.feedback import at, emails, reply_link, surveys, tick, utc


def test_flow_05_contract_renewal_opportunity_alerts_renewal_and_survey(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    lead = api_client(ws, "support_lead")
    surveys(lead)
    owner = user_id(admin, "sales_rep")
    customer = account(admin, "Hafen Hamburg Logistik AG", owner=owner)
    contact = create(
        rep,
        "contact",
        {"first_name": "Jan", "last_name": "Petersen", "email": "jan@hafen.test", "account": customer["id"]},
    )
    firewall = create(admin, "product", {"sku": "FW-1", "name": "Firewall", "category": "hardware", "oem": "Fortinet"})
    asset = create(lead, "asset", {"product": firewall["id"], "account": customer["id"], "serial_no": "FGT-1"})

    # the rep enters the contract; the manager activates it
    amc = create(
        rep,
        "amc_contract",
        {
            "account": customer["id"],
            "contact": contact["id"],
            "title": "Port network 24x7",
            "tier": "gold",
            "start_date": "2030-01-01",
            "value": 24000,
            "assets": [asset["id"]],
        },
    )
    assert (amc["end_date"], amc["status"]) == ("2030-12-31", "draft")
    ok(act(manager, "amc_contract", amc["id"], "activate"))
    at_account = ok(rep.get(f"/api/v1/account/{customer['id']}/related/amc_contract"))["data"]
    assert [c["id"] for c in at_account] == [amc["id"]]

    def alerts() -> list[str]:
        notices = ok(rep.get("/api/v1/me/notifications?limit=100"))["data"]
        return sorted(n["title"] for n in notices if amc["number"] in n["title"])

    # 91 days before the end: nothing yet
    tick(ws, utc(2030, 10, 1))
    assert get(rep, "amc_contract", amc["id"])["renewal_opportunity"] is None
    assert alerts() == []

    # 90 days before: expiring, the renewal opportunity (linked both ways), the first alert
    tick(ws, utc(2030, 10, 2))
    contract = get(rep, "amc_contract", amc["id"])
    assert contract["status"] == "expiring"
    renewal = get(rep, "opportunity", contract["renewal_opportunity"])
    assert (renewal["deal_type"], renewal["renewal_contract"], renewal["account"], renewal["owner"]) == (
        "renewal",
        amc["id"],
        customer["id"],
        owner,
    )
    assert (float(renewal["amount"]), renewal["expected_close"]) == (24000.0, "2030-12-31")
    assert alerts() == [f"AMC contract {amc['number']} ends on 2030-12-31"]
    assert len(emails(ws, to="sales_rep@test.dev", template="amc_expiring")) == 1

    # once: later nights make no second opportunity
    tick(ws, utc(2030, 10, 3))
    tick(ws, utc(2030, 10, 20))
    assert [o["id"] for o in listing(rep, "opportunity", deal_type="renewal")] == [renewal["id"]]
    assert len(alerts()) == 1

    # 60, 30 and 7 days before: one alert each
    for moment in (utc(2030, 11, 1), utc(2030, 12, 1), utc(2030, 12, 24)):
        tick(ws, moment)
    assert len(alerts()) == 4
    assert len(emails(ws, to="sales_rep@test.dev", template="amc_expiring")) == 4

    # the customer agrees: the rep renews; the successor runs the next term, active
    at(ws, utc(2030, 12, 28))
    old = ok(act(rep, "amc_contract", amc["id"], "renew", {"value": 25200}))
    assert old["status"] == "renewed"
    new = get(rep, "amc_contract", old["renewed_by"])
    assert (new["status"], new["start_date"], new["end_date"], new["renewal_of"]) == (
        "active",
        "2031-01-01",
        "2031-12-31",
        amc["id"],
    )
    assert (float(new["value"]), new["tier"], new["contact"], new["opportunity"]) == (
        25200.0,
        "gold",
        contact["id"],
        renewal["id"],
    )
    assert get(lead, "asset", asset["id"])["amc_contract"] == new["id"]  # coverage moves on

    # the renewal triggers a feedback survey (NPS, three days later, to the contract's contact)
    [survey] = listing(lead, "survey_response", related_id=amc["id"])
    assert (survey["kind"], survey["trigger"], survey["status"], survey["contact"]) == (
        "nps",
        "amc_renewed",
        "pending",
        contact["id"],
    )
    tick(ws, utc(2030, 12, 31, 9))
    assert get(lead, "survey_response", survey["id"])["status"] == "sent"
    [mail] = emails(ws, to="jan@hafen.test")
    assert "renewed" in str(mail.get_body(("plain",)).get_content())
    assert reply_link(mail).startswith("/api/v1/public/respond/")

    # the renewed contract is no longer tracked; the new one is, next autumn
    tick(ws, utc(2031, 1, 1))
    assert get(rep, "amc_contract", amc["id"])["status"] == "renewed"
    tick(ws, utc(2031, 10, 2))
    successor = get(rep, "amc_contract", new["id"])
    assert successor["status"] == "expiring" and successor["renewal_opportunity"] not in (None, renewal["id"])
