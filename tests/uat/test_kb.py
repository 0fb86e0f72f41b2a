"""UAT of the knowledge base (docs/uat/kb.md, the service_kb pack): writing and publishing,
what customers find, votes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import act, create, get, listing, ok, patch, refused
from tests.service.ticketing import Desk, berlin, shown

MONDAY = berlin(3, 1, 9)  # Monday 1 March 2027, 09:00 Berlin


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("service_kb"), api_client, MONDAY)


def write(desk: Desk, title: str, visibility: str, body: str) -> dict[str, Any]:
    values = {"title": title, "summary": f"{title} in five minutes.", "category": "network", "body": body}
    return create(desk.as_("support_agent"), "kb_article", {**values, "visibility": visibility})


def publish(desk: Desk, article: dict[str, Any]) -> dict[str, Any]:
    return dict(ok(act(desk.lead, "kb_article", article["id"], "publish")))


@pytest.mark.uat("UAT-KB-01")
def test_uat_kb_01_an_agent_writes_and_only_the_support_lead_publishes(desk):
    agent = desk.as_("support_agent")
    draft = write(desk, "Set up the VPN", "public", "Install FortiClient and import the company profile.")
    assert draft["number"].startswith("KB-") and draft["status"] == "draft"
    assert draft["author"] == desk.user("support_agent")
    assert create(agent, "kb_article", {"title": "Notes", "body": "x"})["visibility"] == "internal"
    assert act(agent, "kb_article", draft["id"], "publish").status_code == 403

    desk.at(berlin(3, 1, 10))
    done = publish(desk, draft)
    assert (done["status"], done["published_at"]) == ("published", shown(berlin(3, 1, 10)))
    assert done["published_by"] == desk.user("support_lead")
    assert refused(agent.patch(f"/api/v1/kb_article/{draft['id']}", json={"title": "VPN"})) == {
        "title": "Is read-only in this state."
    }


@pytest.mark.uat("UAT-KB-02")
def test_uat_kb_02_a_customer_finds_published_public_articles_only(desk):
    vpn = publish(desk, write(desk, "Set up the VPN", "public", "Install FortiClient."))
    runbook = publish(desk, write(desk, "Firewall firmware runbook", "internal", "Upgrade FortiClient gateways."))
    draft = write(desk, "Register the authenticator app", "public", "Then open FortiClient.")
    me = desk.as_("customer")
    assert [a["title"] for a in listing(me, "kb_article", q="forticlient")] == ["Set up the VPN"]
    assert get(me, "kb_article", vpn["id"])["title"] == "Set up the VPN"
    assert me.get(f"/api/v1/kb_article/{runbook['id']}").status_code == 404
    assert me.get(f"/api/v1/kb_article/{draft['id']}").status_code == 404
    found = listing(desk.as_("sales_rep"), "kb_article", q="forticlient")
    assert sorted(a["title"] for a in found) == ["Firewall firmware runbook", "Set up the VPN"]


@pytest.mark.uat("UAT-KB-03")
def test_uat_kb_03_readers_vote_and_the_support_lead_sees_the_result(desk):
    vpn = publish(desk, write(desk, "Set up the VPN", "public", "Install FortiClient."))
    me = desk.as_("customer")
    ok(act(me, "kb_article", vpn["id"], "rate_helpful"))
    ok(act(me, "kb_article", vpn["id"], "rate_helpful"))
    ok(act(desk.as_("sales_rep"), "kb_article", vpn["id"], "rate_unhelpful"))
    seen = get(desk.lead, "kb_article", vpn["id"])
    assert (seen["helpful_count"], seen["not_helpful_count"]) == (2, 1)
    assert f"{float(seen['helpful_pct']):.2f}" == "66.67"
    assert patch(desk.lead, "kb_article", vpn["id"], {"keywords": "vpn, remote"})["helpful_count"] == 2
