"""The certifications pack: expiry from the validity, status by the clock, the exam log
granting and renewing certifications, renewal alerts, trainings, the skill matrix, grants.

Walked through the REST API as the demo roles, on SQLite and PostgreSQL; the clock is the
workspace's (``ws.records.clock``) and scheduled rules run with ``run_due(ws, now)``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.automation.schedules import run_due
from tests.sales.rest import aggregate, create, get, listing, ok, patch, refused, set_manager, user_id


def utc(year: int, month: int, day: int) -> dt.datetime:
    return dt.datetime(year, month, day, 6, tzinfo=dt.UTC)


def at(ws: Any, moment: dt.datetime) -> None:
    ws.records.clock = lambda: moment


def certification(api: Any, name: str = "Cisco CCNP Enterprise", **values: Any) -> dict[str, Any]:
    fields = {"oem": "Cisco", "name": name, "level": "professional", "validity_months": 24, "pass_score": 825}
    return create(api, "certification", {**fields, **values})


def test_expiry_follows_the_validity_and_the_status_the_clock(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 2, 1))
    lead, tech = api_client(ws, "support_lead"), api_client(ws, "technician")
    ccnp = certification(lead)
    itil = certification(lead, "ITIL 4 Foundation", oem="PeopleCert", level="associate", validity_months=None)
    held = create(
        lead,
        "user_certification",
        {
            "user": user_id(lead, "technician"),
            "certification": ccnp["id"],
            "obtained_on": "2030-01-31",
            "exam_score": 870,
        },
    )
    assert (held["expires_on"], held["status"], held["oem"], held["level"]) == (
        "2032-01-31",
        "valid",
        "Cisco",
        "professional",
    )
    assert held["name"] == "Cisco CCNP Enterprise - Technician"
    forever = create(lead, "user_certification", {"user": user_id(lead, "technician"), "certification": itil["id"]})
    assert (forever["obtained_on"], forever["expires_on"], forever["status"]) == ("2030-02-01", None, "valid")

    # the nightly refresh moves the status on as the days pass
    for moment, status, days_left in (
        (utc(2031, 12, 1), "valid", 61),
        (utc(2031, 12, 2), "expiring", 60),
        (utc(2032, 1, 31), "expiring", 0),
        (utc(2032, 2, 1), "expired", -1),
    ):
        at(ws, moment)
        run_due(ws, moment)
        seen = get(tech, "user_certification", held["id"])
        assert (seen["status"], seen["days_left"]) == (status, days_left), moment
        if status == "expiring":
            assert [r["id"] for r in listing(tech, "user_certification", status="expiring")] == [held["id"]]
    assert get(tech, "user_certification", forever["id"])["status"] == "valid"
    assert get(tech, "certification", ccnp["id"])["holder_count"] == 0  # expired holders do not count
    # a certification entered late starts in the right state
    late = {"user": user_id(lead, "support_agent"), "certification": ccnp["id"], "obtained_on": "2030-01-01"}
    assert create(lead, "user_certification", late)["status"] == "expired"
    # renewing (a later obtained date) makes it valid again at once
    assert patch(lead, "user_certification", held["id"], {"obtained_on": "2032-01-20"})["status"] == "valid"
    # one record per user and certification
    twice = {"user": user_id(lead, "technician"), "certification": ccnp["id"], "obtained_on": "2031-01-01"}
    assert lead.post("/api/v1/user_certification", json=twice).status_code == 409


def test_a_passed_exam_grants_the_certification_and_a_later_one_renews_it(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 3, 1))
    lead = api_client(ws, "support_lead")
    ccnp = certification(lead)
    agent = user_id(lead, "support_agent")

    failed = create(
        lead, "exam_attempt", {"user": agent, "certification": ccnp["id"], "taken_on": "2030-02-10", "score": 790}
    )
    assert failed["passed"] is False  # below the pass score
    assert listing(lead, "user_certification") == []

    passed = create(
        lead, "exam_attempt", {"user": agent, "certification": ccnp["id"], "taken_on": "2030-02-28", "score": 880}
    )
    assert passed["passed"] is True
    (held,) = listing(lead, "user_certification")
    assert (held["user"], held["certification"], held["obtained_on"], held["expires_on"]) == (
        agent,
        ccnp["id"],
        "2030-02-28",
        "2032-02-28",
    )
    assert (held["exam_score"], held["renewals"]) == (880, 0)

    # two years on, the recertification exam renews it from the new exam date
    at(ws, utc(2032, 1, 20))
    create(lead, "exam_attempt", {"user": agent, "certification": ccnp["id"], "taken_on": "2032-01-18", "score": 901})
    (renewed,) = listing(lead, "user_certification")
    assert (renewed["id"], renewed["obtained_on"], renewed["expires_on"]) == (held["id"], "2032-01-18", "2034-01-18")
    assert (renewed["exam_score"], renewed["renewals"], renewed["status"]) == (901, 1, "valid")
    # an older passed attempt entered late changes nothing
    create(lead, "exam_attempt", {"user": agent, "certification": ccnp["id"], "taken_on": "2031-05-01", "score": 850})
    assert get(lead, "user_certification", held["id"])["obtained_on"] == "2032-01-18"
    # a certification without a pass score: the attempt says whether it passed
    lab = certification(lead, "Cisco CCIE Enterprise Infrastructure", level="expert", pass_score=None)
    attempt = create(lead, "exam_attempt", {"user": agent, "certification": lab["id"], "taken_on": "2032-01-19"})
    assert attempt["passed"] is False
    patch(lead, "exam_attempt", attempt["id"], {"passed": True})
    assert [r["certification"] for r in listing(lead, "user_certification", certification=lab["id"])] == [lab["id"]]


def test_renewal_alerts_60_and_30_days_before_expiry(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 1, 10))
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    set_manager(admin, "technician", "support_lead")
    nse = certification(lead, "Fortinet NSE 4", oem="Fortinet", level="associate", validity_months=12)
    held = create(
        lead,
        "user_certification",
        {"user": user_id(admin, "technician"), "certification": nse["id"], "obtained_on": "2030-01-10"},
    )
    assert held["expires_on"] == "2031-01-10"
    tech = api_client(ws, "technician")
    ticks = [
        (utc(2030, 11, 10), 0, "valid"),
        (utc(2030, 11, 11), 1, "expiring"),  # 60 days before
        (utc(2030, 11, 11), 1, "expiring"),  # once
        (utc(2030, 12, 11), 2, "expiring"),  # 30 days before
        (utc(2031, 1, 5), 2, "expiring"),
        (utc(2031, 1, 11), 3, "expired"),  # the day after: expired
        (utc(2031, 1, 20), 3, "expired"),
    ]
    for now, alerts, status in ticks:
        at(ws, now)
        run_due(ws, now)
        assert (len(listing(tech, "notification")), get(tech, "user_certification", held["id"])["status"]) == (
            alerts,
            status,
        ), now
    notes = listing(tech, "notification", sort="created_at")
    assert [n["title"] for n in notes] == [
        "Certification expiring: Fortinet NSE 4 - Technician",
        "Certification expiring: Fortinet NSE 4 - Technician",
        "Certification expired: Fortinet NSE 4 - Technician",
    ]
    assert notes[0]["body"].startswith("Valid until 2031-01-10.")
    assert (notes[0]["level"], notes[0]["related_entity"], notes[0]["related_id"]) == (
        "warning",
        "user_certification",
        held["id"],
    )
    # the manager hears of it too
    assert len(listing(lead, "notification")) == 3


def test_the_skill_matrix_counts_users_by_certification(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 6, 1))
    lead = api_client(ws, "support_lead")
    ccna = certification(lead, "Cisco CCNA", level="associate", validity_months=36)
    ccnp = certification(lead, "Cisco CCNP Enterprise")
    az = certification(lead, "Azure Administrator", oem="Microsoft", level="associate", validity_months=12)
    tech, agent = user_id(lead, "technician"), user_id(lead, "support_agent")
    for user, cert, obtained in (
        (tech, ccna, "2029-01-15"),
        (tech, ccnp, "2028-07-01"),  # expires 2030-07-01: expiring
        (agent, ccna, "2030-05-01"),
        (agent, az, "2029-03-01"),  # expired
    ):
        create(lead, "user_certification", {"user": user, "certification": cert["id"], "obtained_on": obtained})

    matrix = aggregate(
        api_client(ws, "executive"),
        "user_certification",
        {"group_by": ["user", "certification", "status"], "metrics": {"held": "count()", "until": "min(expires_on)"}},
    )
    cells = {(r["user"], r["certification"]): (r["status"], r["held"], str(r["until"])[:10]) for r in matrix}
    assert cells == {
        (tech, ccna["id"]): ("valid", 1, "2032-01-15"),
        (tech, ccnp["id"]): ("expiring", 1, "2030-07-01"),
        (agent, ccna["id"]): ("valid", 1, "2033-05-01"),
        (agent, az["id"]): ("expired", 1, "2030-03-01"),
    }
    # by OEM and level: how many holders of a certification that has not expired
    by_level = aggregate(
        lead,
        "user_certification",
        {"filter": 'status != "expired"', "group_by": ["oem", "level"], "metrics": {"holders": "count()"}},
    )
    assert [(r["oem"], r["level"], r["holders"]) for r in by_level] == [
        ("Cisco", "associate", 2),
        ("Cisco", "professional", 1),
    ]
    assert get(lead, "certification", ccna["id"])["holder_count"] == 2
    assert (get(lead, "user", tech)["certification_count"], get(lead, "user", agent)["certification_count"]) == (2, 1)


def test_trainings_and_grants(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 6, 1))
    lead, tech, rep = api_client(ws, "support_lead"), api_client(ws, "technician"), api_client(ws, "sales_rep")
    nse = certification(lead, "Fortinet NSE 7", oem="Fortinet")
    people = [user_id(lead, "technician"), user_id(lead, "support_agent")]
    course = create(
        lead,
        "training",
        {
            "title": "NSE 7 bootcamp",
            "oem": "Fortinet",
            "certification": nse["id"],
            "starts_on": "2030-06-10",
            "ends_on": "2030-06-13",
            "attendees": people,
        },
    )
    assert (course["status"], course["attendee_count"]) == ("planned", 2)
    at(ws, utc(2030, 6, 11))
    assert get(tech, "training", course["id"])["status"] == "running"
    at(ws, utc(2030, 6, 14))
    assert get(tech, "training", course["id"])["status"] == "completed"
    bad = {"title": "Backwards", "starts_on": "2030-07-10", "ends_on": "2030-07-01"}
    assert set(refused(lead.post("/api/v1/training", json=bad))) == {"ends_on"}

    # technicians and support read; support leads manage; sales see none of it
    for role in ("technician", "support_agent"):
        api = api_client(ws, role)
        assert [c["id"] for c in listing(api, "certification")] == [nse["id"]]
        assert listing(api, "training")
        assert api.post("/api/v1/certification", json={"oem": "X", "name": "Y"}).status_code == 403
        assert api.post("/api/v1/exam_attempt", json={"user": people[0], "certification": nse["id"]}).status_code == 403
    assert rep.get("/api/v1/certification").status_code == 404
    assert rep.get("/api/v1/user_certification").status_code == 404
    assert ok(lead.get(f"/api/v1/certification/{nse['id']}/related/user_certification"))["data"] == []
