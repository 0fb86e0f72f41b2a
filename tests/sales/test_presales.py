"""The presales pack: RFPs (documents, deadlines, status following the proposal and the deal,
reminders), proposals (lifecycle, frozen content, versions, the quote, rendering), effort
logs (validation, defaults, rollups) and the default grants of the presales role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from engine.automation.schedules import run_due
from tests.sales.pipeline import (
    account,
    create,
    day,
    get,
    listing,
    money,
    ok,
    opportunity,
    patch,
    refused,
    today,
    user_id,
)


def act(api, entity, record_id, action, body=None):
    return api.post(f"/api/v1/{entity}/{record_id}/actions/{action}", json=body or {})


def _setup(sales_workspace, api_client, *roles):
    ws = sales_workspace("presales")
    clients = {r: api_client(ws, r) for r in ("admin", "sales_rep", "presales", *roles)}
    rep, admin = clients["sales_rep"], clients["admin"]
    deal = opportunity(rep, account(rep)["id"], stage="solution_design", presales_owner=user_id(admin, "presales"))
    return ws, clients, deal


def _proposal(api, deal, **values):
    sections = [{"order": 1, "title": "Solution", "body": "Two firewalls in a cluster.", "effort_hours": "12"}]
    return create(
        api, "proposal", {"title": "Firewall consolidation", "opportunity": deal["id"], "sections": sections, **values}
    )


# --- effort logs ---------------------------------------------------------------------------
def test_effort_logs_are_validated_and_default_to_me_today(sales_workspace, api_client):
    _, clients, deal = _setup(sales_workspace, api_client)
    presales, admin = clients["presales"], clients["admin"]

    def errors(**values):
        body = {"opportunity": deal["id"], "hours": "2", "activity": "demo", **values}
        return refused(presales.post("/api/v1/effort_log", json=body))

    assert errors(hours="0") == {"hours": "Log more than 0 hours."}
    assert errors(hours="-1") == {"hours": "Log more than 0 hours."}
    assert set(errors(hours="24.5")) == {"hours"}
    assert errors(date=day(1)) == {"date": "Effort cannot be logged for a future date."}
    assert set(errors(activity="lunch")) == {"activity"}
    assert set(errors(opportunity=None)) == {"opportunity"}  # on a deal or an RFP
    other = opportunity(clients["sales_rep"], deal["account"], name="Other deal")
    rfp = create(presales, "rfp", {"title": "Wi-Fi", "opportunity": other["id"], "due_on": day(9)})
    assert set(errors(rfp=rfp["id"])) == {"rfp"}  # the RFP of another deal

    log = create(presales, "effort_log", {"opportunity": deal["id"], "hours": "24", "activity": "poc"})
    assert log["user"] == user_id(admin, "presales") and log["date"] == day(0)
    assert log["number"].startswith("EFF-")
    assert set(refused(presales.patch(f"/api/v1/effort_log/{log['id']}", json={"hours": "30"}))) == {"hours"}


def test_effort_rolls_up_to_the_rfp_the_proposal_and_the_deal(sales_workspace, api_client):
    _, clients, deal = _setup(sales_workspace, api_client)
    presales, rep = clients["presales"], clients["sales_rep"]
    rfp = create(presales, "rfp", {"title": "Firewall tender", "opportunity": deal["id"], "due_on": day(20)})
    proposal = _proposal(presales, deal, rfp=rfp["id"])
    first = create(presales, "effort_log", {"rfp": rfp["id"], "hours": "3.25", "activity": "discovery"})
    assert first["opportunity"] == deal["id"]  # from the RFP
    create(presales, "effort_log", {"proposal": proposal["id"], "hours": "5", "activity": "proposal_writing"})
    assert money(get(presales, "rfp", rfp["id"])["total_effort_hours"]) == Decimal("3.25")
    assert money(get(presales, "proposal", proposal["id"])["logged_hours"]) == Decimal("5")
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("8.25")

    ok(presales.delete(f"/api/v1/effort_log/{first['id']}"), 204)
    assert money(get(presales, "rfp", rfp["id"])["total_effort_hours"]) == Decimal("0")
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("5")
    ok(presales.post(f"/api/v1/effort_log/{first['id']}/restore"))
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("8.25")
    # rollups are the engine's: nobody writes them
    assert set(refused(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"total_effort_hours": 1}))) == {
        "total_effort_hours"
    }
    described = ok(rep.get("/api/v1/meta/entities/opportunity"))
    assert {"rfp.opportunity", "proposal.opportunity", "effort_log.opportunity"} <= set(described["related"])


# --- RFPs ----------------------------------------------------------------------------------
def test_rfp_dates_reasons_and_owner_are_checked(sales_workspace, api_client):
    _, clients, deal = _setup(sales_workspace, api_client)
    presales, rep = clients["presales"], clients["sales_rep"]
    base = {"title": "Data centre refresh", "opportunity": deal["id"], "received_on": day(-2), "due_on": day(10)}
    assert set(refused(presales.post("/api/v1/rfp", json={**base, "due_on": day(-5)}))) == {"due_on"}
    assert set(refused(presales.post("/api/v1/rfp", json={**base, "questions_due_on": day(11)}))) == {
        "questions_due_on"
    }
    assert set(refused(presales.post("/api/v1/rfp", json={**base, "due_on": None}))) == {"due_on"}
    rfp = create(presales, "rfp", base)
    assert rfp["kind"] == "rfp" and rfp["days_left"] == 10
    assert set(refused(presales.patch(f"/api/v1/rfp/{rfp['id']}", json={"status": "no_bid"}))) == {"no_bid_reason"}
    declined = patch(presales, "rfp", rfp["id"], {"status": "no_bid", "no_bid_reason": "deadline"})
    assert declined["decided_on"] == day(0) and declined["days_left"] is None

    # without a deal: an RFP straight from a tender portal, on an account
    tender = create(
        rep, "rfp", {"title": "Tender 4711", "account": deal["account"], "kind": "tender", "due_on": day(30)}
    )
    assert tender["presales_owner"] is None
    assert set(refused(rep.patch(f"/api/v1/rfp/{tender['id']}", json={"status": "in_progress"}))) == {"presales_owner"}
    submitted = patch(rep, "rfp", tender["id"], {"status": "submitted", "presales_owner": user_id(rep, "presales")})
    assert submitted["submitted_on"] == day(0)


def test_rfps_follow_their_deal_and_remind_before_the_deadline(sales_workspace, api_client):
    ws, clients, deal = _setup(sales_workspace, api_client)
    presales, rep = clients["presales"], clients["sales_rep"]
    rfp = create(rep, "rfp", {"title": "SD-WAN", "opportunity": deal["id"], "due_on": day(10)})
    done = create(rep, "rfp", {"title": "Old RFI", "opportunity": deal["id"], "kind": "rfi", "due_on": day(3)})
    patch(presales, "rfp", done["id"], {"status": "cancelled"})
    assert get(rep, "opportunity", deal["id"])["open_rfp_count"] == 1

    run_due(ws, dt.datetime.combine(today() + dt.timedelta(days=3), dt.time(8), tzinfo=dt.UTC))
    for api in (presales, rep):  # the presales owner and the RFP's owner
        notes = ok(api.get("/api/v1/me/notifications"))["data"]
        assert [n["related_id"] for n in notes] == [rfp["id"]]
        assert notes[0]["title"].startswith("RFP due") and "SD-WAN" in notes[0]["title"]

    rival = create(rep, "competitor", {"name": "Orbital"})
    patch(
        rep, "opportunity", deal["id"], {"stage": "closed_lost", "loss_reason": "price", "competitors": [rival["id"]]}
    )
    assert get(rep, "rfp", rfp["id"])["status"] == "lost"
    assert get(rep, "rfp", done["id"])["status"] == "cancelled"  # decided RFPs stay as they are
    assert get(rep, "opportunity", deal["id"])["open_rfp_count"] == 0


def test_an_rfp_belongs_to_the_account_of_its_deal(sales_workspace, api_client):
    _, clients, deal = _setup(sales_workspace, api_client)
    presales, rep = clients["presales"], clients["sales_rep"]
    other = account(rep, "Elbe Kliniken gGmbH")
    reply = presales.post(
        "/api/v1/rfp", json={"title": "x", "opportunity": deal["id"], "account": other["id"], "due_on": day(5)}
    )
    assert refused(reply) == {"account": "The RFP must be for the account of its opportunity."}
    rfp = create(presales, "rfp", {"title": "Wi-Fi", "opportunity": deal["id"], "due_on": day(9)})
    # a proposal for another deal cannot answer it
    elsewhere = opportunity(rep, other["id"], name="Clinic Wi-Fi")
    assert set(
        refused(
            presales.post("/api/v1/proposal", json={"title": "x", "opportunity": elsewhere["id"], "rfp": rfp["id"]})
        )
    ) == {"rfp"}


# --- proposals -----------------------------------------------------------------------------
def test_the_proposal_lifecycle_freezes_content_after_draft(sales_workspace, api_client):
    _, clients, deal = _setup(sales_workspace, api_client)
    presales = clients["presales"]
    empty = create(presales, "proposal", {"title": "Empty", "opportunity": deal["id"]})
    assert empty["account"] == deal["account"] and empty["valid_until"] == day(60)
    reply = ok(act(presales, "proposal", empty["id"], "review"), 422)
    assert reply["detail"] == "Add at least one section before the review."

    proposal = _proposal(presales, deal)
    assert set(refused(presales.patch(f"/api/v1/proposal/{proposal['id']}", json={"status": "submitted"}))) == {
        "status"
    }
    assert ok(act(presales, "proposal", proposal["id"], "new_version"), 409)["status"] == 409  # a draft: edit it
    ok(act(presales, "proposal", proposal["id"], "review"))
    frozen = refused(
        presales.patch(f"/api/v1/proposal/{proposal['id']}", json={"sections": [{"title": "New"}], "title": "New"})
    )
    assert frozen == {"sections": "Is read-only in this state.", "title": "Is read-only in this state."}
    ok(act(presales, "proposal", proposal["id"], "rework"))
    ok(act(presales, "proposal", proposal["id"], "review"))
    ok(act(presales, "proposal", proposal["id"], "submit"))
    reply = ok(act(presales, "proposal", proposal["id"], "supersede"), 422)  # only through new_version
    assert "new_version" in reply["detail"]
    declined = ok(act(presales, "proposal", proposal["id"], "decline"))
    assert declined["status"] == "rejected" and declined["decided_at"]
    assert ok(act(clients["sales_rep"], "proposal", proposal["id"], "accept"), 403)["status"] == 403

    # a declined proposal gets a new version; accepting that one closes the series
    old = ok(act(presales, "proposal", proposal["id"], "new_version"))
    latest = get(presales, "proposal", old["superseded_by"])
    assert (old["status"], latest["status"], latest["version_no"]) == ("superseded", "draft", 2)
    for step in ("review", "submit", "accept"):
        latest = ok(act(presales, "proposal", latest["id"], step))
    assert latest["status"] == "accepted" and latest["decided_at"]
    assert ok(act(presales, "proposal", latest["id"], "new_version"), 409)["status"] == 409
    history = ok(presales.get(f"/api/v1/proposal/{old['id']}/history"))["data"]
    assert any(h["changes"].get("action") == [None, "new_version"] for h in history)


def test_a_proposal_without_a_services_product_creates_an_empty_draft_quote(sales_workspace, api_client):
    _, clients, deal = _setup(sales_workspace, api_client, "sales_manager")
    presales, rep, manager = clients["presales"], clients["sales_rep"], clients["sales_manager"]
    proposal = _proposal(presales, deal)
    linked = ok(act(presales, "proposal", proposal["id"], "create_quote"))
    quote = get(rep, "quote", linked["quote"])  # the deal's owner owns it
    assert quote["lines"] == [] and quote["status"] == "draft" and quote["owner"] == user_id(rep, "sales_rep")
    assert ok(act(manager, "proposal", proposal["id"], "create_quote"), 409)["status"] == 409
    # the rep may link an existing quote of the deal by hand instead; not another deal's one
    second = _proposal(presales, deal, title="Alternative with managed service")
    foreign = create(rep, "quote", {"opportunity": opportunity(rep, deal["account"], name="Other")["id"]})
    assert set(refused(presales.patch(f"/api/v1/proposal/{second['id']}", json={"quote": foreign["id"]}))) == {"quote"}
    assert patch(presales, "proposal", second["id"], {"quote": quote["id"]})["quote"] == quote["id"]


def test_the_proposal_renders_for_whoever_may_read_it(sales_workspace, api_client):
    ws, clients, deal = _setup(sales_workspace, api_client)
    presales = clients["presales"]
    proposal = _proposal(presales, deal, summary="Fewer boxes.\n\nOne console.")
    page = presales.get(f"/api/v1/proposal/{proposal['id']}/render/proposal").get_data(as_text=True)
    assert "Firewall consolidation" in page and "<p>Fewer boxes.</p>" in page and "<p>One console.</p>" in page
    assert "Version 1" in page
    assert ok(presales.get(f"/api/v1/proposal/{proposal['id']}/render/proposal?format=doc"), 400)
    for role in ("customer", "support_agent"):
        assert api_client(ws, role).get(f"/api/v1/proposal/{proposal['id']}/render/proposal").status_code == 404


# --- grants --------------------------------------------------------------------------------
def test_presales_grants(sales_workspace, api_client):
    ws, clients, deal = _setup(sales_workspace, api_client, "sales_manager")
    presales, rep, manager, admin = (clients[r] for r in ("presales", "sales_rep", "sales_manager", "admin"))
    # another rep's deal without presales: presales cannot read it, yet work its RFP
    other_deal = opportunity(manager, deal["account"], name="Managed firewall")
    assert presales.get(f"/api/v1/opportunity/{other_deal['id']}").status_code == 404
    assert get(presales, "opportunity", deal["id"])["id"] == deal["id"]  # the presales owner reads it
    rfp = create(manager, "rfp", {"title": "Firewall RFP", "opportunity": other_deal["id"], "due_on": day(9)})
    assert patch(presales, "rfp", rfp["id"], {"status": "qualifying"})["status"] == "qualifying"
    proposal = _proposal(presales, other_deal, rfp=rfp["id"])

    # the rep sees the RFPs, proposals and effort of their own deals only
    mine = create(rep, "rfp", {"title": "Own RFP", "opportunity": deal["id"], "due_on": day(9)})
    assert {r["id"] for r in listing(rep, "rfp")} == {mine["id"]}
    assert rep.get(f"/api/v1/proposal/{proposal['id']}").status_code == 404
    assert rep.post("/api/v1/proposal", json={"title": "x", "opportunity": deal["id"]}).status_code == 403
    own_proposal = _proposal(presales, deal)
    assert ok(act(rep, "proposal", own_proposal["id"], "new_version"), 403)["status"] == 403
    assert rep.patch(f"/api/v1/proposal/{own_proposal['id']}", json={"summary": "x"}).status_code == 403
    log = create(presales, "effort_log", {"opportunity": other_deal["id"], "hours": "2", "activity": "discovery"})
    assert listing(rep, "effort_log") == []
    assert {p["id"] for p in listing(manager, "proposal")} == {proposal["id"], own_proposal["id"]}
    assert [e["id"] for e in listing(manager, "effort_log")] == [log["id"]]
    assert manager.patch(f"/api/v1/effort_log/{log['id']}", json={"hours": "3"}).status_code == 403

    # presales change their own effort logs only, and read the quotes of their deals only
    theirs = create(
        admin,
        "effort_log",
        {"opportunity": deal["id"], "hours": "1", "activity": "demo", "user": user_id(admin, "admin")},
    )
    assert presales.patch(f"/api/v1/effort_log/{theirs['id']}", json={"hours": "2"}).status_code == 403
    quote = create(manager, "quote", {"opportunity": other_deal["id"]})
    assert presales.get(f"/api/v1/quote/{quote['id']}").status_code == 404
    for role in ("customer", "support_agent", "finance"):
        assert api_client(ws, role).get("/api/v1/rfp").status_code == 404
