"""Helpers of the knowledge-base tests: a service desk on a workspace with the ``service_kb``
pack (and so ``tickets``) and articles in each state and visibility."""

from __future__ import annotations

from typing import Any

from tests.sales.rest import create, ok
from tests.service.ticketing import Desk, berlin

MONDAY = berlin(3, 1, 9)  # Monday 1 March 2027, 09:00 Berlin


def article(desk: Desk, title: str, role: str = "support_agent", **values: Any) -> dict[str, Any]:
    """A draft written by ``role``."""
    body = {
        "title": title,
        "summary": f"{title}, step by step.",
        "body": f"How to handle {title.lower()}.",
        "category": "network",
        **values,
    }
    return create(desk.as_(role), "kb_article", body)


def published(desk: Desk, title: str, **values: Any) -> dict[str, Any]:
    """An article the support lead has published."""
    draft = article(desk, title, **values)
    return dict(ok(desk.lead.post(f"/api/v1/kb_article/{draft['id']}/actions/publish", json={})))


def library(desk: Desk) -> dict[str, dict[str, Any]]:
    """One article in each state: public and internal published, a public draft and an archived one."""
    public = published(desk, "VPN setup", visibility="public", body="Install FortiClient and import the profile.")
    internal = published(desk, "Firewall firmware runbook", visibility="internal", body="Upgrade the HA pair.")
    draft = article(desk, "Authenticator app", visibility="public", body="Register the FortiClient token.")
    archived = published(desk, "Windows 7 end of support", visibility="public", body="FortiClient for Windows 7.")
    ok(desk.lead.post(f"/api/v1/kb_article/{archived['id']}/actions/archive", json={}))
    return {"public": public, "internal": internal, "draft": draft, "archived": archived}
