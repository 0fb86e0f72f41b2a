"""A value a rule, workflow or action writes that its field refuses is a 422 that says the
automation wrote it: the caller sent no such field and would look for it in vain in their
own body. SQLite and PostgreSQL."""

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
  code: {type: string, max_length: 5}
permissions:
  agent: {read: all, create: true, update: all}
""",
    "rules/codes.yaml": """
rules:
  - name: make_code
    entity: ticket
    on: create
    do:
      - set: {code: '=upper(subject)'}
""",
}


def test_a_value_a_rule_wrote_is_refused_naming_the_rule(database_url: str, tmp_path: Path) -> None:
    ws = pack_workspace(database_url, tmp_path, "stepkit", FILES, {"agent": "Agent"})
    try:
        agent = sign_in(create_app(ws.config, ws).test_client(), "agent@test.dev")
        assert agent.post("ticket", {"subject": "jam"}).get_json()["code"] == "JAM"
        refused = agent.post("ticket", {"subject": "Printer jam"})
        assert refused.status_code == 422
        body = refused.get_json()
        assert body["detail"] == "The rule 'make_code' wrote a value the ticket does not take"
        assert [e["field"] for e in body["errors"]] == ["code"]
        assert agent.get("ticket").get_json()["data"] == [
            agent.get("ticket").get_json()["data"][0]
        ]  # one: nothing half-written
    finally:
        ws.close()
