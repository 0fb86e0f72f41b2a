"""The deals pack through the REST API: stages and their defaults, stage history, the rules
of each stage, the kanban definition, activity tracking and the default grants."""

from __future__ import annotations

from tests.sales.pipeline import (
    account,
    advance,
    competitor,
    create,
    day,
    get,
    listing,
    lose,
    money,
    ok,
    opportunity,
    patch,
    refused,
    today,
    user_id,
)

STAGE_PROBABILITY = {
    "prospecting": 10,
    "qualification": 20,
    "solution_design": 40,
    "proposal": 60,
    "negotiation": 80,
    "closed_won": 100,
    "closed_lost": 0,
}


def test_a_new_deal_takes_probability_and_forecast_category_from_its_stage(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    acc = account(rep)
    deal = opportunity(rep, acc["id"])
    assert deal["stage"] == "prospecting"
    assert money(deal["probability"]) == 10
    assert deal["forecast_category"] == "pipeline"
    assert deal["owner"] == user_id(api_client(ws, "admin"), "sales_rep")
    assert deal["stage_changed_at"] is not None and deal["closed_at"] is None
    assert deal["days_in_stage"] == 0 and deal["is_closed"] is False
    for stage, probability in STAGE_PROBABILITY.items():
        if stage in ("solution_design", "proposal", "negotiation", "closed_won"):
            extra = {"presales_owner": user_id(api_client(ws, "admin"), "presales")}
        elif stage == "closed_lost":
            extra = {"loss_reason": "price", "competitors": [competitor(rep, f"Rival {stage}")["id"]]}
        else:
            extra = {}
        other = opportunity(rep, acc["id"], stage=stage, **extra)
        assert money(other["probability"]) == probability, stage
    # the probability given with the deal wins over the stage's
    assert money(opportunity(rep, acc["id"], stage="qualification", probability=35)["probability"]) == 35
    expected_close = opportunity(rep, acc["id"], expected_close=None)
    assert expected_close["expected_close"] is None  # prospecting may leave it open
    assert opportunity(rep, acc["id"], name="No date given")["expected_close"] == day(45)


def test_probability_and_category_follow_the_stage_unless_the_same_write_sets_them(sales_workspace, api_client):
    ws = sales_workspace("deals")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    presales = user_id(admin, "presales")
    deal = opportunity(rep, account(rep)["id"])
    deal = advance(rep, deal, "qualification")
    assert money(deal["probability"]) == 20 and deal["forecast_category"] == "pipeline"
    deal = advance(rep, deal, "solution_design", presales_owner=presales)
    assert money(deal["probability"]) == 40
    deal = patch(rep, "opportunity", deal["id"], {"stage": "proposal", "probability": 55})
    assert money(deal["probability"]) == 55 and deal["forecast_category"] == "best_case"
    deal = patch(rep, "opportunity", deal["id"], {"probability": 65})  # a later manual change stays
    assert money(deal["probability"]) == 65 and deal["stage"] == "proposal"
    deal = patch(rep, "opportunity", deal["id"], {"stage": "negotiation", "forecast_category": "pipeline"})
    assert money(deal["probability"]) == 80 and deal["forecast_category"] == "pipeline"
    # a form that sends the whole record with the old value unchanged gets the stage's value
    deal = patch(
        rep, "opportunity", deal["id"], {"stage": "proposal", "probability": 80, "forecast_category": "pipeline"}
    )
    assert money(deal["probability"]) == 60 and deal["forecast_category"] == "best_case"
    deal = advance(rep, deal, "negotiation")
    deal = advance(rep, deal, "closed_won")
    assert money(deal["probability"]) == 100 and deal["forecast_category"] == "closed"
    assert deal["closed_at"] == today().isoformat() and deal["is_won"] is True
    assert deal["closed_quarter"] == today().replace(month=(today().month - 1) // 3 * 3 + 1, day=1).isoformat()
    deal = advance(rep, deal, "negotiation")  # reopened
    assert deal["closed_at"] is None and deal["forecast_category"] == "commit" and deal["is_closed"] is False


def test_every_stage_change_is_recorded_with_who_when_and_days_in_the_stage_left(sales_workspace, api_client):
    ws = sales_workspace("deals")
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    deal = opportunity(rep, account(rep)["id"])
    deal = advance(rep, deal, "qualification")
    deal = advance(rep, deal, "solution_design", presales_owner=user_id(admin, "presales"))
    history = listing(admin, "stage_history", filter=f'opportunity == "{deal["id"]}"', sort="changed_at")
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [
        (None, "prospecting"),
        ("prospecting", "qualification"),
        ("qualification", "solution_design"),
    ]
    assert {h["changed_by"] for h in history} == {user_id(admin, "sales_rep")}
    assert [h["days_in_stage"] for h in history] == [None, 0, 0]
    assert [money(h["probability"]) for h in history] == [10, 20, 40]
    assert get(rep, "opportunity", deal["id"])["stage_changes"] == 2
    # the related list on the deal, and history nobody may edit
    related = ok(rep.get(f"/api/v1/opportunity/{deal['id']}/related/stage_history.opportunity"))["data"]
    assert len(related) == 3
    assert rep.patch(f"/api/v1/stage_history/{history[0]['id']}", json={"to_stage": "proposal"}).status_code == 403
    assert (
        manager.post("/api/v1/stage_history", json={"opportunity": deal["id"], "to_stage": "proposal"}).status_code
        == 403
    )
    # a write that does not change the stage records nothing
    patch(rep, "opportunity", deal["id"], {"amount": "120000"})
    assert len(listing(admin, "stage_history", filter=f'opportunity == "{deal["id"]}"')) == 3


def test_stage_rules_presales_owner_loss_reason_and_competitors(sales_workspace, api_client):
    ws = sales_workspace("deals")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"], stage="qualification")
    errors = refused(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "solution_design"}))
    assert errors == {"presales_owner": "A presales owner is required from solution design on."}
    assert get(rep, "opportunity", deal["id"])["stage"] == "qualification"  # nothing written
    deal = advance(rep, deal, "solution_design", presales_owner=user_id(admin, "presales"))
    errors = refused(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"presales_owner": None}))
    assert set(errors) == {"presales_owner"}

    errors = refused(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "closed_lost"}))
    assert errors == {
        "loss_reason": "A lost deal needs a loss reason.",
        "competitors": "A lost deal needs the competitors it was lost to.",
    }
    rival = competitor(rep, "Rival Networks AG")
    deal = lose(rep, deal, [rival["id"]], "price")
    assert deal["closed_at"] == today().isoformat() and money(deal["probability"]) == 0
    assert deal["forecast_category"] == "omitted"
    errors = refused(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"expected_close": None, "stage": "proposal"}))
    assert set(errors) == {"expected_close"}
    # a close date given with the change (a correction, an import) is kept
    won = opportunity(rep, deal["account"], stage="negotiation", presales_owner=user_id(admin, "presales"))
    won = patch(rep, "opportunity", won["id"], {"stage": "closed_won", "closed_at": day(-2)})
    assert won["closed_at"] == day(-2)
    imported = opportunity(
        rep, deal["account"], stage="closed_won", presales_owner=user_id(admin, "presales"), closed_at=day(-400)
    )
    assert imported["closed_at"] == day(-400)


def test_the_pipeline_board_is_published_with_the_entity(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    meta = ok(rep.get("/api/v1/meta/entities/opportunity"))
    assert meta["board"] == {
        "field": "stage",
        "card": ["name", "account.name", "amount", "probability", "expected_close", "owner", "risk_rating"],
        "sum": "amount",
        "sort": "expected_close",
    }
    stage = next(f for f in meta["fields"] if f["name"] == "stage")
    assert [o["value"] for o in stage["options"]] == list(STAGE_PROBABILITY)
    assert all(o.get("color") for o in stage["options"])
    fields = {f["name"]: f for f in meta["fields"]}
    for name in ("last_activity_at", "stage_changes", "days_in_stage", "is_closed"):
        assert fields[name]["readonly"] is True, name
    # a column of the board: the deals of a stage, sorted as the board sorts them
    acc = account(rep)
    for close in (30, 10, 20):
        opportunity(rep, acc["id"], name=f"Deal {close}", expected_close=day(close), stage="qualification")
    column = listing(rep, "opportunity", filter='stage == "qualification"', sort="expected_close")
    assert [d["name"] for d in column] == ["Deal 10", "Deal 20", "Deal 30"]
    total = ok(
        rep.post("/api/v1/opportunity/aggregate", json={"group_by": ["stage"], "metrics": {"amount": "sum(amount)"}})
    )
    assert {r["stage"]: money(r["amount"]) for r in total["data"]} == {"qualification": 300000}


def test_logged_activities_keep_last_activity_at_current(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"])
    assert deal["last_activity_at"] is None
    base = {"related_entity": "opportunity", "related_id": deal["id"]}
    create(
        rep, "activity", {**base, "kind": "call", "subject": "Intro", "due_at": f"{day(-3)}T10:00:00Z", "done": True}
    )
    assert get(rep, "opportunity", deal["id"])["last_activity_at"] == f"{day(-3)}T10:00:00+00:00"
    # an older entry does not move it back, a future meeting counts from now, not its date
    create(rep, "activity", {**base, "kind": "note", "subject": "Old note", "due_at": f"{day(-9)}T10:00:00Z"})
    assert get(rep, "opportunity", deal["id"])["last_activity_at"] == f"{day(-3)}T10:00:00+00:00"
    create(rep, "activity", {**base, "kind": "meeting", "subject": "Workshop", "due_at": f"{day(5)}T10:00:00Z"})
    latest = get(rep, "opportunity", deal["id"])["last_activity_at"]
    assert latest.startswith(today().isoformat())
    # activities of other records leave it alone
    create(
        rep,
        "activity",
        {"kind": "call", "subject": "Elsewhere", "related_entity": "account", "related_id": deal["account"]},
    )
    assert get(rep, "opportunity", deal["id"])["last_activity_at"] == latest


def test_default_grants(sales_workspace, api_client):
    ws = sales_workspace("deals")
    admin = api_client(ws, "admin")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    presales, finance, executive = api_client(ws, "presales"), api_client(ws, "finance"), api_client(ws, "executive")
    acc = account(rep)
    mine = opportunity(rep, acc["id"], name="Mine")
    designed = advance(
        admin,
        opportunity(admin, acc["id"], name="Designed"),
        "solution_design",
        presales_owner=user_id(admin, "presales"),
    )
    other = opportunity(admin, acc["id"], name="Someone else's")
    assert {d["name"] for d in listing(rep, "opportunity")} == {"Mine"}
    assert rep.get(f"/api/v1/opportunity/{other['id']}").status_code == 404
    assert {d["name"] for d in listing(presales, "opportunity")} == {"Designed"}
    assert presales.patch(f"/api/v1/opportunity/{designed['id']}", json={"amount": "1"}).status_code == 403
    assert presales.post("/api/v1/opportunity", json={"name": "x", "account": acc["id"]}).status_code == 403
    assert {d["name"] for d in listing(finance, "opportunity")} == {"Mine", "Designed", "Someone else's"}
    assert {d["name"] for d in listing(executive, "opportunity")} == {"Mine", "Designed", "Someone else's"}
    assert executive.patch(f"/api/v1/opportunity/{mine['id']}", json={"amount": "1"}).status_code == 403
    assert manager.post("/api/v1/opportunity", json={"name": "Manager's", "account": acc["id"]}).status_code == 201
    # competitors: the whole sales team maintains the competitor database
    rival = competitor(rep, "Rival Systems")
    patch(presales, "competitor", rival["id"], {"strengths": "Cheap hardware"})
    assert finance.patch(f"/api/v1/competitor/{rival['id']}", json={"notes": "x"}).status_code == 403
    assert api_client(ws, "customer").get("/api/v1/opportunity").status_code == 404
