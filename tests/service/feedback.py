"""Helpers of the amc and surveys tests: the workspace clock, the e-mails the outbox holds
(rendered as they are sent), the reply link in a survey e-mail and an anonymous client."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from engine.app import create_app
from engine.automation.delivery import build_email
from engine.automation.schedules import run_due
from engine.automation.timers import fire_due
from engine.storage import system_tables as st
from engine.storage.database import read_transaction
from tests.sales.rest import create

LINK = re.compile(r"(/api/v1/public/respond/[A-Za-z0-9_.\-]+)")


def utc(year: int, month: int, day: int, hour: int = 8) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


def at(ws: Any, moment: dt.datetime) -> None:
    """Set the workspace clock (what now() and today() read in writes and rules)."""
    ws.records.clock = lambda: moment


def tick(ws: Any, moment: dt.datetime) -> None:
    """What the job runner does at ``moment``: due timers, then due scheduled rules."""
    at(ws, moment)
    fire_due(ws, moment)
    run_due(ws, moment)


def emails(ws: Any, to: str | None = None, template: str | None = None) -> list[Any]:
    """The e-mails queued so far (oldest first), rendered as the e-mail channel sends them."""
    o = st.outbox
    with read_transaction(ws.db) as conn:
        rows = conn.execute(sa.select(o).where(o.c.channel == "email").order_by(o.c.created_at, o.c.id)).all()
    out = []
    for row in rows:
        payload = row.payload
        if (to is None or payload.get("to") == to) and (template is None or payload.get("template") == template):
            out.append(build_email(ws, dict(row._mapping)))
    return out


def body(message: Any) -> str:
    return str(message.get_body(("plain",)).get_content())


def reply_link(message: Any) -> str:
    """The signed reply link in a survey e-mail."""
    found = LINK.search(body(message))
    assert found, body(message)
    return found.group(1)


def anonymous(ws: Any) -> FlaskClient:
    """A client that never signed in (the customer clicking the e-mailed link)."""
    return create_app(ws.config, ws).test_client()


def surveys(api: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The CSAT and NPS templates the demo seed ships, entered by a support lead."""
    csat = create(
        api,
        "survey",
        {"name": "Customer satisfaction (CSAT)", "code": "csat", "kind": "csat", "delay_days": 1, "questions": "1-5?"},
    )
    nps = create(
        api,
        "survey",
        {"name": "Net Promoter Score (NPS)", "code": "nps", "kind": "nps", "delay_days": 3, "questions": "0-10?"},
    )
    return csat, nps
