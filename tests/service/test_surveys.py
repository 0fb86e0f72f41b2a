"""The surveys pack: one survey per trigger record, sent after the survey's delay with a
signed single-use reply link, answered without login, low scores escalated to the account
owner, CSAT and NPS reported through the aggregate API. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.sales.rest import account, aggregate, create, get, listing, ok, user_id
from tests.service.feedback import anonymous, at, emails, reply_link, surveys, tick, utc


def _customer(admin: Any, lead: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    customer = account(admin, "Klinikum Nord gGmbH", owner=user_id(admin, "sales_rep"))
    contact = create(
        admin,
        "contact",
        {"first_name": "Eva", "last_name": "Brandt", "email": "eva@klinikum.test", "account": customer["id"]},
    )
    return customer, contact


def test_a_survey_is_sent_after_its_delay_and_answered_once_without_login(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    csat, _ = surveys(lead)
    customer, contact = _customer(admin, lead)
    response = create(
        lead,
        "survey_response",
        {
            "survey": csat["id"],
            "account": customer["id"],
            "contact": contact["id"],
            "related_entity": "ticket",
            "related_id": "T-1",
        },
    )
    assert (response["status"], response["send_at"][:10], response["kind"]) == ("pending", "2030-03-03", "csat")
    # one survey per trigger record
    twice = lead.post(
        "/api/v1/survey_response",
        json={"survey": csat["id"], "account": customer["id"], "related_entity": "ticket", "related_id": "T-1"},
    )
    assert twice.status_code == 409, twice.get_json()

    tick(ws, utc(2030, 3, 2, 20))  # not yet due
    assert get(lead, "survey_response", response["id"])["status"] == "pending"
    tick(ws, utc(2030, 3, 3, 9))
    sent = get(lead, "survey_response", response["id"])
    assert sent["status"] == "sent" and sent["sent_at"].startswith("2030-03-03")
    [mail] = emails(ws, to="eva@klinikum.test")
    assert "how did we do" in mail["Subject"].lower()
    link = reply_link(mail)

    # the customer opens and answers the link without signing in
    web = anonymous(ws)
    form = ok(web.get(link))
    assert [f["name"] for f in form["fields"]] == ["score", "comment"]
    assert form["record"] == sent["name"]
    bad = web.post(link, json={"score": 9})
    assert bad.status_code == 422, bad.get_json()  # CSAT is 1-5
    assert web.post(link, json={"score": 4, "secret": "x"}).status_code == 422
    ok(web.post(link, json={"score": 4, "comment": "Quick and friendly"}))
    answered = get(lead, "survey_response", response["id"])
    assert (answered["status"], answered["score"], answered["comment"]) == ("responded", 4, "Quick and friendly")
    assert answered["responded_at"].startswith("2030-03-03")
    assert answered["low_score"] is False

    # single use: the link is closed now; a forged or altered token opens nothing
    again = web.post(link, json={"score": 1})
    assert again.status_code == 409 and "already used" in again.get_json()["detail"]
    assert web.get(link).status_code == 409
    assert web.get(link[:-3] + "abc").status_code == 404
    assert web.post("/api/v1/public/forms/survey_reply", json={"score": 5}).status_code == 404  # no anonymous creation
    assert get(lead, "survey_response", response["id"])["score"] == 4
    history = ok(lead.get(f"/api/v1/survey_response/{response['id']}/history"))["data"]
    answer = [h for h in history if h["action"] == "update" and "score" in (h.get("changes") or {})]
    assert answer and answer[0]["actor"] is None  # written by the engine for the anonymous respondent


def test_a_link_expires_and_a_low_score_escalates_to_the_account_owner(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    rep = api_client(ws, "sales_rep")
    _, nps = surveys(lead)
    customer, contact = _customer(admin, lead)
    first, second = (
        create(
            lead,
            "survey_response",
            {
                "survey": nps["id"],
                "account": customer["id"],
                "contact": contact["id"],
                "related_entity": "amc_contract",
                "related_id": key,
            },
        )
        for key in ("C-1", "C-2")
    )
    tick(ws, utc(2030, 3, 5, 9))  # NPS waits three days
    first_link, second_link = (reply_link(m) for m in emails(ws, to="eva@klinikum.test"))
    web = anonymous(ws)

    ok(web.post(first_link, json={"score": 3, "comment": "Slow response on the outage"}))
    escalated = get(lead, "survey_response", first["id"])
    assert (escalated["low_score"], escalated["nps_group"], escalated["detractor"]) == (True, "detractor", 1)
    tasks = listing(rep, "activity", related_id=first["id"])
    assert [(t["kind"], t["owner"]) for t in tasks] == [("task", user_id(admin, "sales_rep"))]
    assert "Low NPS score 3" in tasks[0]["subject"]
    notices = ok(rep.get("/api/v1/me/notifications"))["data"]
    assert any("Low survey score (3)" in n["title"] for n in notices), notices

    at(ws, utc(2030, 4, 10))  # 30 days later the link has expired
    late = web.post(second_link, json={"score": 10})
    assert late.status_code == 409 and "expired" in late.get_json()["detail"]
    assert get(lead, "survey_response", second["id"])["score"] is None


def test_csat_and_nps_reports_through_the_aggregate_api(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead, boss = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "executive")
    csat, nps = surveys(lead)
    customer, contact = _customer(admin, lead)
    answers = [(csat, 5), (csat, 4), (csat, 2), (nps, 10), (nps, 9), (nps, 8), (nps, 3)]
    for index, (survey, score) in enumerate(answers):
        row = create(
            lead,
            "survey_response",
            {
                "survey": survey["id"],
                "account": customer["id"],
                "contact": contact["id"],
                "related_entity": "ticket",
                "related_id": f"T-{index}",
            },
        )
        ok(lead.patch(f"/api/v1/survey_response/{row['id']}", json={"score": score}))
    report = aggregate(
        boss,
        "survey_response",
        {
            "filter": 'status == "responded"',
            "group_by": ["kind"],
            "metrics": {
                "n": "count()",
                "avg": "avg(score)",
                "promoters": "sum(promoter)",
                "detractors": "sum(detractor)",
            },
        },
    )
    by_kind = {r["kind"]: r for r in report}
    assert by_kind["csat"]["n"] == 3 and round(float(by_kind["csat"]["avg"]), 2) == 3.67
    n = by_kind["nps"]
    # NPS = % promoters - % detractors = 2/4 - 1/4 = 25
    assert (n["n"], n["promoters"], n["detractors"]) == (4, 2, 1)
    assert 100 * (n["promoters"] - n["detractors"]) / n["n"] == 25
    assert get(boss, "survey", csat["id"])["answered_count"] == 3
