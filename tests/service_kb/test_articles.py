"""The knowledge base (``service_kb`` pack): search, the draft -> published -> archived
lifecycle with publishing reserved to the support lead, who reads what (a portal customer
only published public articles, enforced by the grant), votes, and the article that solved a
ticket. Through the REST API as the demo roles, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import act, create, get, listing, ok, patch, refused
from tests.service.ticketing import Desk, berlin, shown
from tests.service_kb.kb import MONDAY, article, library, published


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("service_kb"), api_client, MONDAY)


def titles(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(r["title"] for r in rows)


def test_search_finds_an_article_by_a_word_of_its_body_or_keywords(desk):
    vpn = article(desk, "Remote access", body="Install FortiClient, then import the SplitTunnel profile.")
    article(desk, "Printers", body="Add the printer from the print server.", keywords="spooler, driver")
    agent = desk.as_("support_agent")
    assert titles(listing(agent, "kb_article", q="splittunnel")) == ["Remote access"]
    assert titles(listing(agent, "kb_article", q="fortinet forticlient")) == []  # every word must match
    assert titles(listing(agent, "kb_article", q="SPOOLER")) == ["Printers"]
    assert titles(listing(agent, "kb_article", q=vpn["number"])) == ["Remote access"]


def test_an_agent_writes_drafts_and_only_the_support_lead_publishes(desk):
    draft = article(desk, "VPN setup", summary="")
    assert (draft["status"], draft["visibility"], draft["author"]) == ("draft", "internal", desk.user("support_agent"))
    assert draft["number"].startswith("KB-") and draft["published_at"] is None

    agent = desk.as_("support_agent")
    assert act(agent, "kb_article", draft["id"], "publish").status_code == 403
    assert act(desk.as_("technician"), "kb_article", draft["id"], "publish").status_code == 403
    assert agent.patch(f"/api/v1/kb_article/{draft['id']}", json={"status": "published"}).status_code == 422
    assert "published_at" in refused(
        agent.patch(f"/api/v1/kb_article/{draft['id']}", json={"published_at": "2027-01-01T00:00:00Z"})
    )
    assert patch(agent, "kb_article", draft["id"], {"body": "Install FortiClient."})["body"] == "Install FortiClient."

    # publishing needs a summary (the portal lists it); the transition stamps the time and the lead
    assert "summary" in refused(act(desk.lead, "kb_article", draft["id"], "publish"))
    desk.at(berlin(3, 1, 10))
    done = ok(act(desk.lead, "kb_article", draft["id"], "publish", {"summary": "Connect from home."}))
    assert (done["status"], done["published_at"]) == ("published", shown(berlin(3, 1, 10)))
    assert done["published_by"] == desk.user("support_lead")

    # a published article is the lead's to change
    assert refused(agent.patch(f"/api/v1/kb_article/{draft['id']}", json={"title": "VPN"})) == {
        "title": "Is read-only in this state."
    }
    assert patch(desk.lead, "kb_article", draft["id"], {"title": "VPN set-up"})["title"] == "VPN set-up"

    desk.at(berlin(3, 2, 8))
    archived = ok(act(desk.lead, "kb_article", draft["id"], "archive"))
    assert (archived["status"], archived["published_at"]) == ("archived", None)
    assert archived["archived_at"] == shown(berlin(3, 2, 8))
    assert act(agent, "kb_article", draft["id"], "restore").status_code == 403
    restored = ok(act(desk.lead, "kb_article", draft["id"], "restore"))
    assert (restored["status"], restored["archived_at"]) == ("draft", None)
    assert patch(agent, "kb_article", draft["id"], {"title": "VPN"})["title"] == "VPN"


def test_a_customer_reads_only_published_public_articles(desk):
    arts = library(desk)
    me = desk.as_("customer")
    assert titles(listing(me, "kb_article")) == ["VPN setup"]
    assert titles(listing(me, "kb_article", q="forticlient")) == ["VPN setup"]
    for hidden in ("internal", "draft", "archived"):
        assert me.get(f"/api/v1/kb_article/{arts[hidden]['id']}").status_code == 404, hidden
    seen = get(me, "kb_article", arts["public"]["id"])
    assert seen["body"].startswith("Install FortiClient") and not {"author", "helpful_count", "published_by"} & set(
        seen
    )
    counted = ok(me.post("/api/v1/kb_article/aggregate", json={"metrics": {"n": "count()"}}))["data"]
    assert counted == [{"n": 1}]
    # they read, nothing more
    assert me.post("/api/v1/kb_article", json={"title": "x", "body": "y"}).status_code == 403
    assert me.patch(f"/api/v1/kb_article/{arts['public']['id']}", json={"title": "y"}).status_code == 403

    # sales reads what is published (public or internal), the desk everything
    assert titles(listing(desk.as_("sales_rep"), "kb_article")) == ["Firewall firmware runbook", "VPN setup"]
    assert len(listing(desk.as_("technician"), "kb_article")) == 4


def test_readers_vote_on_published_articles(desk):
    arts = library(desk)
    me = desk.as_("customer")
    ok(act(me, "kb_article", arts["public"]["id"], "rate_helpful"))
    ok(act(me, "kb_article", arts["public"]["id"], "rate_helpful"))
    ok(act(desk.as_("sales_rep"), "kb_article", arts["public"]["id"], "rate_unhelpful"))
    assert act(me, "kb_article", arts["draft"]["id"], "rate_helpful").status_code == 404
    assert act(desk.lead, "kb_article", arts["draft"]["id"], "rate_helpful").status_code == 409
    counts = get(desk.lead, "kb_article", arts["public"]["id"])
    assert (counts["helpful_count"], counts["not_helpful_count"]) == (2, 1)
    assert float(counts["helpful_pct"]) == pytest.approx(66.67, abs=0.01)
    agent = desk.as_("support_agent")
    assert "helpful_count" in refused(
        agent.patch(f"/api/v1/kb_article/{arts['draft']['id']}", json={"helpful_count": 9})
    )


def test_a_ticket_names_the_article_that_solved_it(desk):
    fix = published(desk, "Printer driver rollout", visibility="public")
    account = desk.account("Klinikum Berlin", "gold")
    ticket = desk.ticket(account=account["id"], subject="Printer offline")
    patch(desk.lead, "ticket", ticket["id"], {"kb_article": fix["id"]})
    solved = ok(desk.lead.get(f"/api/v1/kb_article/{fix['id']}/related/ticket"))["data"]
    assert [t["subject"] for t in solved] == ["Printer offline"]
    assert create(desk.lead, "kb_article", {"title": "x", "body": "y"})["status"] == "draft"
