"""Locust scenario: a day of a sales team and a support team against the demo (``tessera demo``).

    locust -f bench/locustfile.py --host http://127.0.0.1:8000      # web UI of locust on :8089
    locust -f bench/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 60s

``bench/load.py`` runs it at stepped user counts against ``tessera serve --workers N``.

Five kinds of simulated users, weighted like a small company's day (3 sales reps, 1 sales
manager, 2 support agents, 1 support lead per 7 users). Each signs in as the demo login of
its role (``tessera demo --no-serve`` prints them) with ``POST /api/v1/auth/token`` and
sends the bearer token; UI pages use the session cookie of ``POST /login``. The server
allows 10 sign-ins per minute per client address (``Config.auth_rate_limit``) and every
locust user comes from the same address, so the users of one role share one sign-in per
process. ``TESSERA_LOAD_SESSIONS`` may name a JSON file ``{email: {"token": ...,
"cookie": ...}}`` written beforehand (``bench/load.py`` does), so a run signs in no one.

Between two requests a user thinks 0.5 to 2.5 s. Request names group ids (``[id]``), so the
statistics are per kind of request.
"""

from __future__ import annotations

import json
import os
import random
import re
from typing import Any, ClassVar
from urllib.parse import quote

from gevent.lock import Semaphore
from locust import HttpUser, between, task
from urllib3.util.retry import Retry

PASSWORD = os.environ.get("TESSERA_LOAD_PASSWORD", "Tessera-demo-2026")
DOMAIN = os.environ.get("TESSERA_LOAD_DOMAIN", "demo.tessera.dev")
API = "/api/v1"
COOKIE = "tessera_session"

_sessions: dict[str, dict[str, str]] = {}
_lock = Semaphore()
if os.environ.get("TESSERA_LOAD_SESSIONS"):
    with open(os.environ["TESSERA_LOAD_SESSIONS"], encoding="utf-8") as fh:
        _sessions.update(json.load(fh))


def q(expression: str) -> str:
    """A DSL filter as a query-string value."""
    return quote(expression, safe="")


NEW_LEADS = "filter=" + q('status == "new"')
OPEN_DEALS = "filter=" + q("is_closed == false")
LATE_STAGE = "filter=" + q('stage in ("proposal", "negotiation")') + "&sort=-amount"
OPEN_TICKETS = "filter=" + q('status != "closed"')
SLA_RISK = "filter=" + q('sla_state in ("at_risk", "breached")')


class TesseraUser(HttpUser):
    abstract = True
    wait_time = between(0.5, 2.5)
    login: ClassVar[str] = ""  # the demo login's local part, e.g. "sales.rep"

    # --- signing in (once per role and process, unless TESSERA_LOAD_SESSIONS gave it) -------

    @property
    def email(self) -> str:
        return f"{self.login}@{DOMAIN}"

    def on_start(self) -> None:
        # A browser sends a request again when the server closed the kept-alive connection
        # just as it was reused (gunicorn closes idle ones after 2 s); so do we, for the
        # idempotent methods only. A real failure fails twice and is counted.
        for adapter in self.client.adapters.values():
            adapter.max_retries = Retry(total=1, connect=1, read=1, status=0, other=0, redirect=0)
        with _lock:
            session = _sessions.setdefault(self.email, {})
            if "token" not in session:
                r = self.client.post(
                    f"{API}/auth/token",
                    json={"email": self.email, "password": PASSWORD},
                    name=f"POST {API}/auth/token",
                )
                r.raise_for_status()
                session["token"] = r.json()["token"]
        self.client.headers["Authorization"] = f"Bearer {session['token']}"
        self.ids: dict[str, list[str]] = {}

    def ui_cookie(self) -> dict[str, str]:
        with _lock:
            session = _sessions[self.email]
            if "cookie" not in session:
                page = self.client.get("/login", name="GET /login")
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                form = {"csrf_token": csrf.group(1) if csrf else "", "email": self.email, "password": PASSWORD}
                self.client.post("/login", data=form, allow_redirects=False, name="POST /login")
                session["cookie"] = self.client.cookies.get(COOKIE) or ""
                self.client.cookies.clear()
        return {COOKIE: session["cookie"]}

    def ui(self, path: str, name: str) -> None:
        """A UI page as a browser asks for it: the session cookie, no bearer token."""
        self.client.get(path, name=name, cookies=self.ui_cookie(), headers={"Authorization": None})

    # --- helpers -----------------------------------------------------------------------

    def page(self, entity: str, query: str = "", name: str = "") -> list[dict[str, Any]]:
        """One list page; remembers the ids it saw for later record pages."""
        path = f"{API}/{entity}?limit=25{'&' + query if query else ''}"
        r = self.client.get(path, name=name or f"GET {API}/{entity} (list)")
        rows = r.json().get("data", []) if r.ok else []
        if rows:
            self.ids[entity] = [row["id"] for row in rows]
        return rows

    def some_id(self, entity: str) -> str | None:
        if not self.ids.get(entity):
            self.page(entity)
        return random.choice(self.ids[entity]) if self.ids.get(entity) else None

    def open(self, entity: str, related: str | None = None) -> tuple[str, str] | None:
        """A record page: the record, its timeline and, if given, a related list."""
        record_id = self.some_id(entity)
        if record_id is None:
            return None
        r = self.client.get(f"{API}/{entity}/{record_id}", name=f"GET {API}/{entity}/[id]")
        self.client.get(f"{API}/{entity}/{record_id}/timeline?limit=20", name=f"GET {API}/{entity}/[id]/timeline")
        if related:
            self.client.get(
                f"{API}/{entity}/{record_id}/related/{related}?limit=20", name=f"GET {API}/{entity}/[id]/related"
            )
        return (record_id, r.headers.get("ETag", "")) if r.ok else None

    def patch(self, entity: str, record_id: str, etag: str, data: dict[str, Any]) -> None:
        """PATCH with If-Match; a conflict (another user changed it meanwhile) re-reads once."""
        name = f"PATCH {API}/{entity}/[id]"
        for attempt in (1, 2):
            with self.client.patch(
                f"{API}/{entity}/{record_id}", json=data, headers={"If-Match": etag}, name=name, catch_response=True
            ) as r:
                if r.status_code == 412 and attempt == 1:
                    r.success()  # counted as a request; the retry follows
                    etag = self.client.get(f"{API}/{entity}/{record_id}", name=f"GET {API}/{entity}/[id]").headers.get(
                        "ETag", ""
                    )
                    continue
            return

    def dashboard(self, name: str) -> None:
        self.client.get(f"{API}/dashboards/{name}", name=f"GET {API}/dashboards/{name}")

    def activity(self, entity: str, record_id: str) -> None:
        kind = random.choice(["call", "email", "note", "meeting"])
        self.client.post(
            f"{API}/activity",
            json={
                "kind": kind,
                "subject": f"Load test {kind}",
                "body": "Discussed next steps.",
                "related_entity": entity,
                "related_id": record_id,
                "done": True,
                "duration_minutes": random.choice([5, 15, 30]),
            },
            name=f"POST {API}/activity",
        )


class SalesRep(TesseraUser):
    """Works their leads and deals: lists, record pages, logs calls, moves a deal on."""

    weight = 3
    login = "sales.rep"

    @task(4)
    def leads(self) -> None:
        query = random.choice(["sort=-created_at", NEW_LEADS, "status=contacted", ""])
        self.page("lead", query)

    @task(4)
    def open_lead(self) -> None:
        self.open("lead")

    @task(3)
    def log_call(self) -> None:
        record_id = self.some_id(random.choice(["lead", "opportunity"]))
        if record_id:
            entity = "lead" if record_id in self.ids.get("lead", []) else "opportunity"
            self.activity(entity, record_id)

    @task(3)
    def deals(self) -> None:
        self.page("opportunity", random.choice(["", OPEN_DEALS, "sort=expected_close"]))

    @task(2)
    def open_deal(self) -> None:
        opened = self.open("opportunity")
        if opened and random.random() < 0.5:
            self.patch("opportunity", *opened, {"next_step": random.choice(["Send proposal", "Call back", "Demo"])})

    @task(2)
    def accounts(self) -> None:
        self.page("account")
        self.open("account", related="contact.account")

    @task(1)
    def my_dashboard(self) -> None:
        self.dashboard("my_sales")

    @task(1)
    def ui_pages(self) -> None:
        self.ui(random.choice(["/", "/app/lead"]), name="UI /app/lead and /")


class SalesManager(TesseraUser):
    """Watches the team's pipeline: dashboard, filtered lists, an aggregate, a deal or two."""

    weight = 1
    login = "sales.manager"

    @task(2)
    def team_dashboard(self) -> None:
        self.dashboard("sales")

    @task(3)
    def pipeline(self) -> None:
        self.page("opportunity", LATE_STAGE)

    @task(1)
    def by_stage(self) -> None:
        self.client.post(
            f"{API}/opportunity/aggregate",
            json={"group_by": ["stage"], "metrics": {"deals": "count()", "amount": "sum(amount)"}},
            name=f"POST {API}/opportunity/aggregate",
        )

    @task(2)
    def open_deal(self) -> None:
        self.open("opportunity")

    @task(1)
    def ui_dashboard(self) -> None:
        self.ui("/app/dashboards/sales", name="UI /app/dashboards/sales")


class SupportAgent(TesseraUser):
    """Works the team's queue: lists tickets, opens them, comments, updates them."""

    weight = 2
    login = "support.agent"

    @task(4)
    def queue(self) -> None:
        self.page("ticket", random.choice(["", OPEN_TICKETS, "sort=resolution_due"]))

    @task(4)
    def open_ticket(self) -> None:
        self.open("ticket", related="ticket_comment.ticket")

    @task(2)
    def comment(self) -> None:
        record_id = self.some_id("ticket")
        if record_id:
            self.client.post(
                f"{API}/ticket_comment",
                json={"ticket": record_id, "body": "Checked the logs, working on it."},
                name=f"POST {API}/ticket_comment",
            )

    @task(2)
    def update_ticket(self) -> None:
        opened = self.open("ticket")
        if opened:
            change = random.choice(
                [{"category": random.choice(["software", "network", "access"])}, {"description": "Updated notes."}]
            )
            self.patch("ticket", *opened, change)

    @task(1)
    def note(self) -> None:
        record_id = self.some_id("ticket")
        if record_id:
            self.activity("ticket", record_id)

    @task(1)
    def ui_queue(self) -> None:
        self.ui("/app/ticket", name="UI /app/ticket")


class SupportLead(TesseraUser):
    """Watches the SLA: dashboard, risky tickets, counts by status, reassigns urgency."""

    weight = 1
    login = "support.lead"

    @task(3)
    def support_dashboard(self) -> None:
        self.dashboard("support")

    @task(3)
    def at_risk(self) -> None:
        self.page("ticket", SLA_RISK)

    @task(1)
    def by_status(self) -> None:
        self.client.post(
            f"{API}/ticket/aggregate",
            json={"group_by": ["status"], "metrics": {"tickets": "count()"}},
            name=f"POST {API}/ticket/aggregate",
        )

    @task(2)
    def open_ticket(self) -> None:
        opened = self.open("ticket", related="ticket_comment.ticket")
        if opened and random.random() < 0.3:
            self.patch("ticket", *opened, {"urgency": random.choice(["low", "medium", "high"])})

    @task(1)
    def ui_dashboard(self) -> None:
        self.ui("/app/dashboards/support", name="UI /app/dashboards/support")
