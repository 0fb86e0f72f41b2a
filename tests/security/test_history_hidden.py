"""A record's history leaves out an update that changed only fields hidden from the reader:
the entry, even with its changes emptied, told them when and by whom a hidden field
changed. Pages stay whole (the filter is in SQL). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any


def test_an_update_of_hidden_fields_only_is_not_in_the_readers_history(admin: Any, rep: Any) -> None:
    made = rep.post("gadget", {"name": "Router"}).get_json()
    path = f"gadget/{made['id']}"
    assert admin.patch(path, {"api_key": "s3cret"}).status_code == 200  # hidden from sales reps
    assert admin.patch(path, {"api_key": "other", "notes": "seen"}).status_code == 200
    assert rep.patch(path, {"notes": "mine"}).status_code == 200
    entries = rep.get(f"{path}/history").get_json()["data"]
    assert [(e["action"], sorted(e["changes"] or {})) for e in entries] == [
        ("update", ["notes"]),
        ("update", ["notes"]),  # the hidden half of this change is left out
        ("create", [k for k in sorted(entries[-1]["changes"] or {}) if k != "api_key"]),
    ]
    assert "api_key" not in str(entries)
    first_page = rep.get(f"{path}/history?limit=2").get_json()["data"]
    assert len(first_page) == 2  # a hidden entry does not shorten a page
    everything = admin.get(f"{path}/history").get_json()["data"]
    assert [e["action"] for e in everything] == ["update", "update", "update", "create"]
    assert admin.delete(path).status_code == 204 and admin.post(f"{path}/restore").status_code == 200
    after = rep.get(f"{path}/history")  # entries without changes (JSON null) among them
    assert after.status_code == 200, after.get_json()
    assert [e["action"] for e in after.get_json()["data"]][:2] == ["restore", "delete"]
