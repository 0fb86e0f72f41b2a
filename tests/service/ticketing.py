"""Helpers of the ticket and SLA tests: a service desk on a workspace with the ``sla`` pack
(and so ``tickets``, ``assets``, ``certifications``), a controllable clock, and REST calls as
the demo roles (``api_client`` of the sales conftest).

The clock: ``desk.at(moment)`` makes every write (and ``now()``/``today()`` in rules, defaults
and the SLA) happen then; ``desk.tick(moment)`` fires the timers and scheduled rules due by
then, as the job runner would (``tessera tick --now``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from engine.automation.schedules import run_due
from engine.automation.timers import fire_due
from engine.security.users import create_user
from engine.workspace import Workspace
from tests.conftest import PASSWORD
from tests.sales.rest import act, create, get, ok, user_id

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(month: int, day: int, hour: int, minute: int = 0, year: int = 2027) -> dt.datetime:
    """An instant in Berlin (the calendars' zone); March 2027 before the 28th is UTC+1."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def shown(moment: dt.datetime) -> str:
    """How the API shows an instant."""
    return moment.astimezone(dt.UTC).isoformat()


class Desk:
    """The service desk of one workspace: signed-in clients per role and the clock."""

    def __init__(self, ws: Workspace, api_client: Any, start: dt.datetime):
        self.ws = ws
        self.at(start)
        self._make, self._clients = api_client, {}  # type: ignore[var-annotated]
        self.admin = self.as_("admin")
        self.lead = self.as_("support_lead")

    def as_(self, role: str) -> Any:
        if role not in self._clients:
            self._clients[role] = self._make(self.ws, role)
        return self._clients[role]

    def at(self, moment: dt.datetime) -> None:
        self.ws.records.clock = lambda: moment

    def tick(self, moment: dt.datetime) -> int:
        """Fire the timers and scheduled rules due by ``moment`` (the clock moves there too)."""
        self.at(moment)
        return fire_due(self.ws, moment) + run_due(self.ws, moment)

    def user(self, role: str) -> str:
        return user_id(self.admin, role)

    def add_user(self, email: str, name: str, roles: list[str]) -> str:
        create_user(self.ws, email, name, PASSWORD, roles)
        return str(ok(self.admin.get(f"/api/v1/user?email={email}"))["data"][0]["id"])

    def account(self, name: str, tier: str | None = None, **values: Any) -> dict[str, Any]:
        return create(self.admin, "account", {"name": name, "tier": tier, "owner": self.user("sales_rep"), **values})

    def ticket(self, role: str = "support_lead", **values: Any) -> dict[str, Any]:
        return create(self.as_(role), "ticket", {"subject": "Printer on fire", **values})

    def get(self, ticket: dict[str, Any], role: str = "support_lead") -> dict[str, Any]:
        return get(self.as_(role), "ticket", ticket["id"])

    def act(self, ticket: dict[str, Any], action: str, body: dict[str, Any] | None = None, role: str = "") -> Any:
        return act(self.as_(role or "support_lead"), "ticket", ticket["id"], action, body)

    def done(self, ticket: dict[str, Any], action: str, body: dict[str, Any] | None = None, role: str = "") -> Any:
        """Run a ticket action that must succeed; returns the ticket afterwards."""
        return ok(self.act(ticket, action, body, role))

    def notices(self, role: str) -> list[str]:
        """The titles of the role's in-app notifications, oldest first."""
        rows = ok(self.as_(role).get("/api/v1/me/notifications?limit=100"))["data"]
        return [n["title"] for n in reversed(rows)]

    def certify(self, user: str, oem: str, obtained_on: str, validity_months: int = 36) -> None:
        """Give the user a certification of the OEM (obtained then, valid for the months)."""
        name = f"{oem} certified engineer {validity_months}m"
        found = ok(self.admin.get("/api/v1/certification", query_string={"name": name}))["data"]
        cert = (
            found[0]
            if found
            else create(
                self.admin,
                "certification",
                {"oem": oem, "name": name, "level": "professional", "validity_months": validity_months},
            )
        )
        create(
            self.admin, "user_certification", {"user": user, "certification": cert["id"], "obtained_on": obtained_on}
        )

    def asset(self, account: dict[str, Any], oem: str = "Cisco", sku: str = "C9300-48P") -> dict[str, Any]:
        found = ok(self.admin.get("/api/v1/product", query_string={"sku": sku}))["data"]
        product = (
            found[0]
            if found
            else create(self.admin, "product", {"sku": sku, "name": f"{oem} {sku}", "category": "hardware", "oem": oem})
        )
        self._serials = getattr(self, "_serials", 0) + 1
        values = {"product": product["id"], "account": account["id"], "serial_no": f"SN-{self._serials:05d}"}
        return create(self.admin, "asset", values)
