"""A user who turned notification e-mails off (``notify_email: false`` on the user, as the
profile page sets it) gets no e-mail from the ``notify`` action, but still the in-app
notification; everyone else gets both. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.security.users import create_user
from engine.storage import system_tables as st
from engine.storage.database import read_transaction
from tests.conftest import PASSWORD


def test_notification_emails_follow_the_users_preference(auto_workspace: Any) -> None:
    ws = auto_workspace("notify_prefs", smtp_host="127.0.0.1", smtp_port=2525, smtp_from="crm@test.dev")
    quiet = create_user(ws, "quiet@test.dev", "Quinn Quiet", PASSWORD, ["sales_rep"], notify_email=False)
    loud = create_user(ws, "loud@test.dev", "Lou Loud", PASSWORD, ["sales_rep"])
    assert loud["notify_email"] is True  # on unless turned off
    for user in (quiet, loud):
        ws.records.create(SYSTEM, "case", {"subject": f"For {user['full_name']}", "assignee": user["id"]})
    with read_transaction(ws.db) as conn:
        mails = conn.execute(sa.select(st.outbox.c.payload).where(st.outbox.c.channel == "email")).scalars().all()
    assert [m["to"] for m in mails] == ["loud@test.dev"]
    for user in (quiet, loud):
        notes = ws.records.list(SYSTEM, "notification", {"user": user["id"]}).data
        assert len(notes) == 1  # in-app either way
