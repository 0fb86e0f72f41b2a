"""UAT of the surveys module (docs/uat/surveys.md): sending, answering without login,
low-score escalation, CSAT and NPS figures."""

from __future__ import annotations

import pytest

from tests.sales.rest import aggregate, create, get, listing, ok, user_id
from tests.service.feedback import anonymous, at, emails, reply_link, surveys, tick, utc
from tests.service.test_surveys import _customer


def _ask(lead, survey, customer, contact, key="T-1"):
    values = {"survey": survey["id"], "account": customer["id"], "contact": contact["id"]}
    return create(lead, "survey_response", {**values, "related_entity": "ticket", "related_id": key})


@pytest.mark.uat("UAT-SURVEYS-01")
def test_uat_surveys_01_a_survey_is_emailed_after_its_delay_and_answered_once(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    csat, _ = surveys(lead)
    customer, contact = _customer(admin, lead)
    response = _ask(lead, csat, customer, contact)
    assert (response["status"], response["send_at"][:10]) == ("pending", "2030-03-03")
    tick(ws, utc(2030, 3, 3, 9))
    assert get(lead, "survey_response", response["id"])["status"] == "sent"
    [mail] = emails(ws, to="eva@klinikum.test")
    link = reply_link(mail)
    web = anonymous(ws)
    assert web.post(link, json={"score": 9}).status_code == 422  # CSAT is 1-5
    ok(web.post(link, json={"score": 4, "comment": "Quick and friendly"}))
    answered = get(lead, "survey_response", response["id"])
    assert (answered["status"], answered["score"], answered["comment"]) == ("responded", 4, "Quick and friendly")
    assert web.post(link, json={"score": 1}).status_code == 409


@pytest.mark.uat("UAT-SURVEYS-02")
def test_uat_surveys_02_a_low_score_escalates_to_the_account_owner(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead, rep = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "sales_rep")
    _, nps = surveys(lead)
    customer, contact = _customer(admin, lead)
    response = _ask(lead, nps, customer, contact)
    tick(ws, utc(2030, 3, 5, 9))  # NPS waits three days
    [mail] = emails(ws, to="eva@klinikum.test")
    ok(anonymous(ws).post(reply_link(mail), json={"score": 3, "comment": "Slow response on the outage"}))
    assert get(lead, "survey_response", response["id"])["low_score"] is True
    tasks = listing(rep, "activity", related_id=response["id"])
    assert [(t["kind"], t["owner"]) for t in tasks] == [("task", user_id(admin, "sales_rep"))]
    assert any("Low survey score (3)" in n["title"] for n in ok(rep.get("/api/v1/me/notifications"))["data"])


@pytest.mark.uat("UAT-SURVEYS-03")
def test_uat_surveys_03_csat_average_and_nps_are_reported(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead, boss = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "executive")
    csat, nps = surveys(lead)
    customer, contact = _customer(admin, lead)
    for index, (survey, score) in enumerate([(csat, 5), (csat, 4), (csat, 2), (nps, 10), (nps, 9), (nps, 8), (nps, 3)]):
        row = _ask(lead, survey, customer, contact, f"T-{index}")
        ok(lead.patch(f"/api/v1/survey_response/{row['id']}", json={"score": score}))
    metrics = {"n": "count()", "avg": "avg(score)", "promoters": "sum(promoter)", "detractors": "sum(detractor)"}
    body = {"filter": 'status == "responded"', "group_by": ["kind"], "metrics": metrics}
    by_kind = {r["kind"]: r for r in aggregate(boss, "survey_response", body)}
    assert by_kind["csat"]["n"] == 3 and round(float(by_kind["csat"]["avg"]), 2) == 3.67
    n = by_kind["nps"]
    assert (n["n"], n["promoters"], n["detractors"]) == (4, 2, 1)  # NPS 50 % - 25 % = 25
