"""Secret fields are ciphertext at rest and never come back through the API."""

from __future__ import annotations

import sqlalchemy as sa

from engine.storage.encryption import FieldCipher


def stored(workspace, table, record_id, column):
    with workspace.db.connect() as conn:
        return conn.execute(sa.text(f'SELECT {column} FROM "{table}" WHERE id = :id'), {"id": record_id}).scalar_one()


def test_secret_is_ciphertext_in_the_database_and_masked_in_the_api(admin, workspace):
    record = admin.post("gadget", {"name": "vault", "api_key": "sk-live-123456"}).get_json()
    raw = stored(workspace, "gadget", record["id"], "api_key")
    assert "sk-live-123456" not in raw and raw.startswith("fernet:")
    assert workspace.records.cipher.open(raw) == "sk-live-123456"
    assert admin.get(f"gadget/{record['id']}").get_json()["api_key"] == "********"
    with workspace.db.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT changes FROM tessera_audit WHERE record_id = :id"), {"id": record["id"]}
        ).scalar_one()
    assert "sk-live-123456" not in str(audit)


def test_rotated_keys_still_open_old_values():
    old = FieldCipher("old-key-" + "x" * 32, previous=[])
    sealed = old.seal("s3cret")
    rotated = FieldCipher("new-key-" + "y" * 32, previous=["old-key-" + "x" * 32])
    assert rotated.open(sealed) == "s3cret"
    assert rotated.seal("a") != rotated.seal("a")  # random IV: equal secrets do not look equal


def test_secrets_are_revealed_only_to_the_roles_named(admin, workspace, client):
    from engine.security.users import create_user
    from tests.conftest import PASSWORD, sign_in

    create_user(workspace, "agent@test.dev", "Agent", PASSWORD, ["support_agent"])
    agent = sign_in(client, "agent@test.dev")
    record = admin.post("gadget", {"name": "router", "api_key": "sk-visible"}).get_json()
    assert admin.get(f"gadget/{record['id']}").get_json()["api_key"] == "********"  # admins too
    assert agent.get(f"gadget/{record['id']}").get_json()["api_key"] == "sk-visible"
    assert agent.get("gadget").get_json()["data"][0]["api_key"] == "sk-visible"


def test_a_secret_sealed_under_another_key_reads_as_null_with_a_warning(admin, workspace, client, caplog):
    from engine.security.users import create_user
    from tests.conftest import PASSWORD, sign_in

    create_user(workspace, "agent@test.dev", "Agent", PASSWORD, ["support_agent"])
    agent = sign_in(client, "agent@test.dev")
    admin.post("gadget", {"name": "kept", "api_key": "sk-kept"})
    lost = admin.post("gadget", {"name": "lost", "api_key": "sk-lost"}).get_json()
    elsewhere = FieldCipher("another-installation-" + "z" * 32, previous=[]).seal("sk-lost")
    also_lost = admin.post("gadget", {"name": "lost too", "api_key": "sk-lost"}).get_json()
    with workspace.db.begin() as conn:  # as restored from a backup made under another TESSERA_SECRET_KEY
        for record in (lost, also_lost):
            conn.execute(sa.text("UPDATE gadget SET api_key = :v WHERE id = :id"), {"v": elsewhere, "id": record["id"]})
    with caplog.at_level("WARNING", logger="tessera.security"):
        one = agent.get(f"gadget/{lost['id']}")
        page = agent.get("gadget?sort=name")
    assert one.status_code == 200 and one.get_json()["api_key"] is None
    assert page.status_code == 200
    assert [(r["name"], r["api_key"]) for r in page.get_json()["data"]] == [
        ("kept", "sk-kept"),
        ("lost", None),
        ("lost too", None),
    ]
    # one line names the field, the key to set and a record: not one line per value read
    warnings = [r.getMessage() for r in caplog.records if r.name == "tessera.security"]
    assert len(warnings) == 1, warnings
    assert f"gadget.api_key of record {lost['id']}" in warnings[0] and "TESSERA_SECRET_KEY_PREVIOUS" in warnings[0]
