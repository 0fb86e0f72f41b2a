"""Public capture: web forms and signed inbound hooks (``/api/v1/public/...``).

The ``capture_kit`` pack ships the forms ``contact_us`` (prospects; honeypot, 3 per minute,
dedupe by the ``prospect_dupe`` rule filling empty fields), ``newsletter`` (dedupe by a DSL
match, skip), ``event_signup`` (people; a duplicate is created anyway), ``plain_person``
(no dedupe section) and the hook ``chat`` (prospects from a chat widget's payload).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.capture.signing import sign
from engine.checking import check_packs
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in

SECRET = "chat-secret-" + "x" * 20


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_config(database_url, tmp_path, ("capture_kit",)), meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    create_user(workspace, "admin@test.dev", "Ada", PASSWORD, ["admin"])
    create_user(workspace, "rep@test.dev", "Rex", PASSWORD, ["sales_rep"])
    yield workspace
    workspace.close()


@pytest.fixture
def client(ws: Workspace) -> Any:
    return create_app(ws.config, ws).test_client()


@pytest.fixture
def admin(client: Any) -> Api:
    return sign_in(client, "admin@test.dev")


@pytest.fixture
def public(client: Any) -> Api:
    return Api(client, None)


def rows(ws: Workspace, entity: str) -> list[dict[str, Any]]:
    return ws.records.list(SYSTEM, entity, {"limit": "100", "sort": "created_at"}).data


# --- forms ---------------------------------------------------------------------------


def test_a_page_can_read_what_the_form_asks_for(public):
    reply = public.get("public/forms/contact_us", headers={"Accept-Language": "de"})
    assert reply.status_code == 200
    body = reply.get_json()
    assert body["form"] == "contact_us" and body["honeypot"] == "website_url"
    fields = {f["name"]: f for f in body["fields"]}
    assert list(fields) == ["first_name", "last_name", "email", "phone", "company", "description"]
    assert fields["email"]["required"] is True and fields["email"]["type"] == "email"
    assert fields["company"]["required"] is False
    assert public.get("public/forms/nope").status_code == 404


def test_a_submission_is_written_by_the_engine_and_audited(ws, public, admin):
    reply = public.post(
        "public/forms/contact_us",
        {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "score": 99, "utm_source": "ad"},
        headers={"Accept-Language": "de-DE"},
    )
    assert reply.status_code == 202
    assert reply.get_json() == {"status": "received", "message": "Danke!"}
    (prospect,) = rows(ws, "prospect")
    assert prospect["last_name"] == "Lee" and prospect["source"] == "webform"  # a fixed value of the form
    assert prospect["score"] is None  # not a field the form accepts: ignored
    assert prospect["created_by"] is None and prospect["owner"] is None
    history = admin.get(f"prospect/{prospect['id']}/history").get_json()["data"]
    assert history[0]["action"] == "create" and history[0]["actor"] is None
    from engine.storage import system_tables as st

    with ws.db.connect() as conn:
        source = conn.execute(st.audit.select().where(st.audit.c.record_id == prospect["id"])).first().source
    assert source.startswith("form:contact_us ")


def test_html_forms_may_post_form_encoded_bodies(ws, client):
    reply = client.post("/api/v1/public/forms/contact_us", data={"last_name": "Form", "email": "form@example.com"})
    assert reply.status_code == 202
    assert [p["email"] for p in rows(ws, "prospect")] == ["form@example.com"]


def test_invalid_input_gets_field_errors_and_writes_nothing(ws, public):
    missing = public.post("public/forms/contact_us", {"first_name": "No"})
    assert missing.status_code == 422 and missing.content_type == "application/problem+json"
    assert {e["field"] for e in missing.get_json()["errors"]} == {"last_name", "email"}
    bad = public.post("public/forms/contact_us", {"last_name": "X", "email": "not-an-email"})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "email"
    assert public.post("public/forms/contact_us", [1, 2]).status_code == 400
    assert rows(ws, "prospect") == []


def test_a_filled_honeypot_is_accepted_and_dropped(ws, public):
    reply = public.post(
        "public/forms/contact_us", {"last_name": "Bot", "email": "bot@spam.example", "website_url": "x"}
    )
    assert reply.status_code == 202 and reply.get_json()["status"] == "received"
    assert rows(ws, "prospect") == []


def test_submissions_are_rate_limited_per_client(ws, public):
    for i in range(3):
        assert (
            public.post("public/forms/contact_us", {"last_name": f"N{i}", "email": f"n{i}@example.com"}).status_code
            == 202
        )
    limited = public.post("public/forms/contact_us", {"last_name": "N4", "email": "n4@example.com"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert len(rows(ws, "prospect")) == 3
    # another form has its own budget
    assert public.post("public/forms/newsletter", {"email": "x@example.com"}).status_code == 202


def test_a_duplicate_fills_the_empty_fields_of_the_existing_record(ws, public, admin):
    public.post("public/forms/contact_us", {"last_name": "Lee", "email": "lee@example.com"})
    again = public.post(
        "public/forms/contact_us", {"last_name": "Lee-Smith", "email": "LEE@example.com", "company": "Initech"}
    )
    assert again.status_code == 202
    (prospect,) = rows(ws, "prospect")
    assert prospect["company"] == "Initech" and prospect["last_name"] == "Lee"  # filled, not overwritten
    actions = [h["action"] for h in admin.get(f"prospect/{prospect['id']}/history").get_json()["data"]]
    assert actions == ["capture_duplicate", "update", "create"]


def test_a_duplicate_of_another_entity_is_noted_there(ws, public, admin):
    person = ws.records.create(SYSTEM, "person", {"last_name": "Known", "email": "known@example.com"})
    public.post("public/forms/contact_us", {"last_name": "Known", "email": "known@example.com"})
    assert rows(ws, "prospect") == []
    actions = [h["action"] for h in admin.get(f"person/{person['id']}/history").get_json()["data"]]
    assert actions[0] == "capture_duplicate"


def test_a_dsl_match_dedupes_and_skips(ws, public):
    public.post("public/forms/newsletter", {"email": "sub@example.com"})
    public.post("public/forms/newsletter", {"email": "sub@example.com", "last_name": "Changed"})
    (prospect,) = rows(ws, "prospect")
    assert prospect["last_name"] == "Subscriber"  # the default of the form, kept
    ws.records.update(SYSTEM, "prospect", prospect["id"], {"status": "converted"})
    public.post("public/forms/newsletter", {"email": "sub@example.com"})
    assert len(rows(ws, "prospect")) == 2  # the match leaves converted prospects out


def test_create_anyway_overrides_a_block_and_records_it(ws, public, admin):
    ws.records.create(SYSTEM, "person", {"last_name": "Twin", "email": "twin@example.com"})
    public.post("public/forms/event_signup", {"last_name": "Twin", "email": "twin@example.com"})
    people = rows(ws, "person")
    assert len(people) == 2
    actions = [h["action"] for h in admin.get(f"person/{people[1]['id']}/history").get_json()["data"]]
    assert "duplicate_override" in actions


def test_without_a_dedupe_section_a_blocked_duplicate_is_dropped_quietly(ws, public):
    ws.records.create(SYSTEM, "person", {"last_name": "Once", "email": "once@example.com"})
    reply = public.post("public/forms/plain_person", {"last_name": "Twice", "email": "once@example.com"})
    assert reply.status_code == 202  # the same answer: strangers learn nothing about our contacts
    assert len(rows(ws, "person")) == 1


# --- hooks ---------------------------------------------------------------------------


def signed(body: dict[str, Any], secret: str = SECRET, at: float | None = None) -> dict[str, Any]:
    raw = json.dumps(body).encode()
    stamp = str(int(at if at is not None else time.time()))
    return {
        "data": raw,
        "headers": {
            "Content-Type": "application/json",
            "X-Tessera-Timestamp": stamp,
            "X-Tessera-Signature": sign(secret, stamp, raw),
        },
    }


CHAT = {"visitor": {"first_name": "Cy", "last_name": "Chat", "email": "cy@example.com"}, "messages": [{"text": "Hi!"}]}


def test_a_signed_hook_maps_its_payload_onto_the_entity(ws, client, monkeypatch):
    monkeypatch.setenv("TESSERA_TEST_CHAT_SECRET", SECRET)
    reply = client.post("/api/v1/public/hooks/chat", **signed(CHAT))
    assert reply.status_code == 202
    (prospect,) = rows(ws, "prospect")
    assert (prospect["first_name"], prospect["email"], prospect["description"], prospect["source"]) == (
        "Cy",
        "cy@example.com",
        "Hi!",
        "chat",
    )


def test_unsigned_stale_or_forged_hook_calls_are_refused(ws, client, monkeypatch):
    monkeypatch.setenv("TESSERA_TEST_CHAT_SECRET", SECRET)
    plain = client.post("/api/v1/public/hooks/chat", json=CHAT)
    forged = client.post("/api/v1/public/hooks/chat", **signed(CHAT, secret="wrong-" + "y" * 20))
    stale = client.post("/api/v1/public/hooks/chat", **signed(CHAT, at=time.time() - 3600))
    assert [r.status_code for r in (plain, forged, stale)] == [401, 401, 401]
    assert rows(ws, "prospect") == []
    assert client.post("/api/v1/public/hooks/nope", **signed(CHAT)).status_code == 404


def test_a_hook_without_a_secret_takes_nothing(ws, client, monkeypatch):
    monkeypatch.delenv("TESSERA_TEST_CHAT_SECRET", raising=False)
    reply = client.post("/api/v1/public/hooks/chat", **signed(CHAT))
    assert reply.status_code == 401 and "secret" in reply.get_json()["detail"]


def test_admins_set_hook_secrets_stored_encrypted(ws, client, admin, monkeypatch):
    monkeypatch.delenv("TESSERA_TEST_CHAT_SECRET", raising=False)
    rep = sign_in(client, "rep@test.dev")
    assert rep.put("admin/hooks/chat/secret", {"secret": SECRET}).status_code == 403
    assert admin.put("admin/hooks/chat/secret", {"secret": "short"}).status_code == 400
    generated = admin.put("admin/hooks/chat/secret")
    assert generated.status_code == 200 and len(generated.get_json()["secret"]) >= 32
    assert client.post("/api/v1/public/hooks/chat", **signed(CHAT)).status_code == 401  # not that one
    assert admin.put("admin/hooks/chat/secret", {"secret": SECRET}).status_code == 200
    assert client.post("/api/v1/public/hooks/chat", **signed(CHAT)).status_code == 202
    from engine.storage import system_tables as st

    with ws.db.connect() as conn:
        stored = conn.execute(st.hook_secret.select()).first().secret
        audit = conn.execute(st.audit.select().where(st.audit.c.entity == "tessera_hook")).all()
    assert SECRET not in stored
    assert [a.action for a in audit] == ["set_secret", "set_secret"]
    assert admin.delete("admin/hooks/chat/secret").status_code == 204
    assert client.post("/api/v1/public/hooks/chat", **signed(CHAT)).status_code == 401


def test_a_hook_secret_sealed_under_another_key_says_try_later_and_logs_why(ws, client, admin, monkeypatch, caplog):
    from engine.storage import system_tables as st
    from engine.storage.encryption import FieldCipher

    monkeypatch.delenv("TESSERA_TEST_CHAT_SECRET", raising=False)
    assert admin.put("admin/hooks/chat/secret", {"secret": SECRET}).status_code == 200
    elsewhere = FieldCipher("another-installation-" + "z" * 32, previous=[]).seal(SECRET)
    with ws.db.begin() as conn:  # as restored from a backup made under another TESSERA_SECRET_KEY
        conn.execute(st.hook_secret.update().values(secret=elsewhere))
    with caplog.at_level("WARNING", logger="tessera.security"):
        reply = client.post("/api/v1/public/hooks/chat", **signed(CHAT))
    # the sender learns to try again, nothing about the server's keys; the administrator learns why
    assert reply.status_code == 503 and "try again later" in reply.get_json()["detail"]
    assert "TESSERA_SECRET_KEY" not in reply.get_json()["detail"]
    assert "hook 'chat' cannot be opened" in caplog.text and "TESSERA_SECRET_KEY_PREVIOUS" in caplog.text
    assert rows(ws, "prospect") == []
    # setting the secret again mends it
    assert admin.put("admin/hooks/chat/secret", {"secret": SECRET}).status_code == 200
    assert client.post("/api/v1/public/hooks/chat", **signed(CHAT)).status_code == 202


# --- run-time forms and checking -----------------------------------------------------


def test_admins_add_forms_at_run_time(ws, public, admin):
    document = {"form": "quick", "entity": "prospect", "fields": ["last_name"], "values": {"source": "phone"}}
    created = admin.post("meta/documents/form", document)
    assert created.status_code in (200, 201), created.get_json()
    assert public.post("public/forms/quick", {"last_name": "Quick"}).status_code == 202
    assert rows(ws, "prospect")[0]["source"] == "phone"
    bad = admin.post("meta/documents/form", {"form": "broken", "entity": "prospect", "fields": ["nope"]})
    assert bad.status_code == 422 and "no field 'nope'" in json.dumps(bad.get_json())


def test_tessera_check_names_the_mistakes_of_a_form(tmp_path):
    pack = tmp_path / "badforms"
    (pack / "entities").mkdir(parents=True)
    (pack / "forms").mkdir()
    (pack / "pack.yaml").write_text("name: badforms\nversion: 1.0.0\n")
    (pack / "entities" / "thing.yaml").write_text(
        "entity: thing\nfields:\n  name: {type: string}\n  n: {type: int, readonly: true}\n"
    )
    (pack / "forms" / "f.yaml").write_text(
        "form: f\nentity: thing\nfields: [name, n, ghost]\nrequired: [other]\nhoneypot: name\n"
        "values: {name: [1]}\nrate_limit: often\ndedupe: {rules: [nope], match: 'nam == 1'}\n"
    )
    config = make_config("sqlite://", tmp_path, ("badforms",)).with_overrides(extra_pack_paths=(tmp_path,))
    problems, _ = check_packs(config, [pack])
    text = "\n".join(str(p) for p in problems.items)
    for expected in (
        "f.yaml:3:",
        "thing.n cannot be filled",
        "thing has no field 'ghost'",
        "required field 'other'",
        "honeypot 'name' must not be a field",
        "'often' is not a rate",
        "no duplicate rule 'nope'",
        "nam",
    ):
        assert expected in text, (expected, text)
