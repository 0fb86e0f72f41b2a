"""A pack action's body is its input, not a write of the record's fields: an input named
like a field the caller may not write is accepted (the action's steps write with full
rights, and the action's own roles and condition are its permission check); it was refused
as "Is read-only for your role". A bad input is a 422 naming the action (it named the
synthetic "$input"). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from engine.app import create_app
from tests.conftest import pack_workspace, sign_in

FILES = {
    "entities/ticket.yaml": """
entity: ticket
title: subject
fields:
  subject: {type: string, required: true}
  priority: {type: enum, options: [P1, P2, P3], default: P3}
permissions:
  agent: {read: all, create: true, update: all, fields: {priority: read}}
""",
    "actions/escalate.yaml": """
actions:
  - name: escalate
    entity: ticket
    roles: [agent]
    input:
      priority: {type: enum, options: [P1, P2]}
    do:
      - set: {priority: '=$input.priority'}
""",
}


def test_an_action_input_named_like_a_read_only_field_is_the_actions_input(database_url: str, tmp_path: Path) -> None:
    ws = pack_workspace(database_url, tmp_path, "inputkit", FILES, {"agent": "Agent"})
    try:
        agent = sign_in(create_app(ws.config, ws).test_client(), "agent@test.dev")
        ticket = agent.post("ticket", {"subject": "Printer jam"}).get_json()
        assert agent.patch(f"ticket/{ticket['id']}", {"priority": "P1"}).status_code == 422  # not directly
        done = agent.post(f"ticket/{ticket['id']}/actions/escalate", {"priority": "P1"})
        assert done.status_code == 200, done.get_json()
        assert agent.get(f"ticket/{ticket['id']}").get_json()["priority"] == "P1"
        refused = agent.post(f"ticket/{ticket['id']}/actions/escalate", {"priority": "P9"})
        assert refused.status_code == 422  # the input's own rules still hold
        assert refused.get_json()["detail"] == "The input of the action 'escalate' is not valid"
        assert [e["field"] for e in refused.get_json()["errors"]] == ["priority"]
    finally:
        ws.close()
