"""A new record of an entity with a workflow is written in the initial state: one write,
seen by rules as a create only (its state field had no default, and the state used to be
set by a second write, which ran the update rules and the create-or-update rules again).
Computed values see the initial state. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.app import create_app
from tests.conftest import pack_workspace, sign_in

FILES = {
    "entities/ticket.yaml": """
entity: ticket
title: subject
fields:
  subject: {type: string, required: true}
  status: {type: enum, options: [new, open, closed]}
  is_new: {type: bool, compute: 'status == "new"', stored: true}
permissions:
  admin: {read: all, create: true, update: all, delete: all}
""",
    "entities/note.yaml": """
entity: note
title: text
fields:
  text: {type: string, required: true}
permissions:
  admin: {read: all, create: true, update: all, delete: all}
""",
    "workflows/life.yaml": """
workflow: life
entity: ticket
field: status
initial: new
transitions:
  - {name: open, from: [new], to: open}
""",
    "rules/notes.yaml": """
rules:
  - name: any_write
    entity: ticket
    on: [create, update]
    do:
      - create: {entity: note, values: {text: '=concat("write ", subject)'}}
  - name: status_changed
    entity: ticket
    on: update
    fields: [status]
    do:
      - create: {entity: note, values: {text: '=concat("status ", status)'}}
""",
}


def test_a_new_record_starts_in_the_initial_state_in_one_write(database_url: str, tmp_path: Path) -> None:
    ws = pack_workspace(database_url, tmp_path, "startkit", FILES, {"admin": "Admin"})
    try:
        admin: Any = sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")
        made = admin.post("ticket", {"subject": "Printer jam"})
        assert made.status_code == 201, made.get_json()
        ticket = made.get_json()
        assert (ticket["status"], ticket["is_new"], ticket["version"]) == ("new", True, 1)
        notes = sorted(n["text"] for n in admin.get("note").get_json()["data"])
        assert notes == ["write Printer jam"]
        history = admin.get(f"ticket/{ticket['id']}/history").get_json()["data"]
        assert [entry["action"] for entry in history] == ["create"]
        # a transition is an update as before
        assert admin.post(f"ticket/{ticket['id']}/actions/open").status_code == 200
        notes = sorted(n["text"] for n in admin.get("note").get_json()["data"])
        assert notes == ["status open", "write Printer jam", "write Printer jam"]
    finally:
        ws.close()
