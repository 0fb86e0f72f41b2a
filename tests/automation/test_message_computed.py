"""A message about a record shows its virtual computed fields too: the shipped AMC notice
read "ends on 2027-02-07, in  days." because the message's record held stored columns only.
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from engine.app import create_app
from engine.automation.delivery import render_message
from engine.storage import system_tables as st
from engine.storage.database import read_transaction
from tests.conftest import pack_workspace, sign_in

FILES = {
    "entities/contract.yaml": """
entity: contract
title: name
fields:
  name: {type: string, required: true}
  owner_user: {type: user}
  ends_on: {type: date}
  days_left: {type: int, compute: 'days_between(today(), ends_on)'}
  price: {type: money}
  doubled: {type: money, compute: 'price * 2'}
permissions:
  agent: {read: all, create: true, update: all}
""",
    "rules/ending.yaml": """
rules:
  - name: ending
    entity: contract
    on: create
    do:
      - notify: {to: '=owner_user', channel: [email], template: ending}
""",
    "templates/ending.subject.txt": "{{ record.name }} ends",
    "templates/ending.email.txt": "{{ record.name }} ends on {{ record.ends_on }}, in {{ record.days_left }} days"
    " ({{ record.doubled }}).\n",
}


def test_a_message_shows_the_records_virtual_computed_fields(database_url: str, tmp_path: Path) -> None:
    ws = pack_workspace(database_url, tmp_path, "msgkit", FILES, {"agent": "Agent"})
    try:
        agent = sign_in(create_app(ws.config, ws).test_client(), "agent@test.dev")
        me = agent.get("auth/me").get_json()["id"]
        made = agent.post("contract", {"name": "AMC-1", "owner_user": me, "ends_on": "2099-01-01", "price": "10.5"})
        assert made.status_code == 201, made.get_json()
        days = made.get_json()["days_left"]
        assert isinstance(days, int) and days > 0
        with read_transaction(ws.db) as conn:
            (row,) = conn.execute(sa.select(st.outbox).where(st.outbox.c.channel == "email")).all()
        texts = render_message(ws, row.payload, ("email.txt",))
        assert texts["email.txt"].strip() == f"AMC-1 ends on 2099-01-01, in {days} days (21)."
    finally:
        ws.close()
