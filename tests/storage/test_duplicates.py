"""Duplicate rules: normalised keys, block and warn, overrides, scopes, bulk writes.

The ``capture_kit`` test pack defines the rules: ``org_name`` (block, managers may
override), ``org_domain`` (warn), ``person_email`` (block over two fields),
``person_phone`` (warn, region DE) and ``prospect_dupe`` (warn; open prospects and every
person, the phone region read from the ``kit_setting`` singleton).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM, Actor
from engine.app import create_app
from engine.errors import Conflict, PermissionDenied, ValidationError
from engine.meta.duplicates import key_kind
from engine.security.users import create_user, ensure_roles
from engine.storage import system_tables as st
from engine.storage.duplicates import keys_statement
from engine.storage.normalise import normalise
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, sign_in


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_config(database_url, tmp_path, ("capture_kit",)), meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    yield workspace
    workspace.close()


def user(ws: Workspace, email: str, role: str) -> Actor:
    found = create_user(ws, email, email.split("@")[0].title(), PASSWORD, [role])
    return Actor(found["id"], frozenset({role}))


@pytest.fixture
def rep(ws: Workspace) -> Actor:
    return user(ws, "rep@test.dev", "sales_rep")


@pytest.fixture
def manager(ws: Workspace) -> Actor:
    return user(ws, "manager@test.dev", "sales_manager")


def count(ws: Workspace, entity: str) -> int:
    return ws.records.list(SYSTEM, entity, {"count": "true", "limit": "1"}).total


# --- normalisers ---------------------------------------------------------------------


def test_keys_ignore_what_does_not_tell_records_apart():
    assert normalise("email", "  Info@ACME.de ") == normalise("email", "info@acme.de") == "info@acme.de"
    assert normalise("email", "not an address") is None
    assert normalise("phone", "030 1234567", "DE") == normalise("phone", "+49 (30) 123-4567") == "+49301234567"
    assert normalise("phone", "0049 30 1234567", "DE") == "+49301234567"
    assert normalise("phone", "12") is None
    assert normalise("domain", "https://www.Acme.de/contact?x=1") == "acme.de"
    assert normalise("domain", "sales@acme.de") == normalise("domain", "www.acme.de") == "acme.de"
    assert normalise("domain", "not a domain") is None
    # a text urlsplit refuses (brackets around no IPv6 address) is no domain, no 500
    assert normalise("domain", "[+-]?[0-9]{1,18}") is None
    assert normalise("name", "ACME GmbH & Co. KG") == normalise("name", "Acme AG") == "acme"
    assert (
        normalise("name", "Müller-Lüdenscheidt Ltd.")
        == normalise("name", "muller ludenscheidt")
        == "muller ludenscheidt"
    )
    assert normalise("name", "The Company") == "the company"  # nothing but legal words: keep them
    assert normalise("exact", " DE 123  456 ") == "de 123 456"
    assert normalise("email", "") is None and normalise("name", None) is None


def test_a_legal_form_spelt_with_dots_is_the_same_word():
    for dotted, plain in [
        ("Epsilon S.A.", "Epsilon SA"),
        ("Epsilon S.A", "Epsilon SA"),
        ("Epsilon S.A.S.", "Epsilon SAS"),
        ("Epsilon G.m.b.H.", "Epsilon GmbH"),
        ("Epsilon e.V.", "Epsilon eV"),
        ("Epsilon B.V.", "Epsilon BV"),
        ("Epsilon N.V.", "Epsilon NV"),
        ("Epsilon S.p.A.", "Epsilon SpA"),
        ("Epsilon L.L.C.", "Epsilon LLC"),
        ("Epsilon Inc.", "Epsilon Inc"),
        ("Epsilon Co. Ltd.", "Epsilon Co Ltd"),
    ]:
        assert normalise("name", dotted) == normalise("name", plain) == "epsilon", dotted
    # initials that are no legal form stay letters, as before
    assert normalise("name", "J.R. Smith Ltd") == "j r smith"
    assert normalise("name", "U.S. Steel") == "u s steel"
    assert normalise("name", "S.A.") == "sa"  # nothing but a legal form: keep it


# --- block ---------------------------------------------------------------------------


def test_a_block_rule_refuses_the_duplicate_naming_the_existing_record(ws, rep):
    first = ws.records.create(rep, "org", {"name": "ACME GmbH"})
    with pytest.raises(Conflict) as caught:
        ws.records.create(rep, "org", {"name": "acme ag"})
    error = caught.value
    assert error.status == 409
    assert error.errors[0].field == "name"
    assert first["id"] in error.errors[0].message and "ACME GmbH" in error.errors[0].message
    assert error.extensions["duplicates"][0]["matches"] == [{"entity": "org", "id": first["id"], "title": "ACME GmbH"}]
    assert count(ws, "org") == 1


def test_any_key_field_matches_any_other(ws, rep):
    ws.records.create(rep, "person", {"last_name": "Old", "email_secondary": "Jane@Example.com"})
    with pytest.raises(Conflict):
        ws.records.create(rep, "person", {"last_name": "New", "email": "JANE@example.com"})
    assert count(ws, "person") == 1


def test_blank_keys_never_match(ws, rep):
    ws.records.create(rep, "person", {"last_name": "A"})
    ws.records.create(rep, "person", {"last_name": "B", "email": None})
    assert count(ws, "person") == 2


def test_records_in_the_trash_are_not_duplicates(ws, rep):
    old = ws.records.create(rep, "org", {"name": "Trashed Ltd"})
    ws.records.delete(SYSTEM, "org", old["id"])
    ws.records.create(rep, "org", {"name": "Trashed"})
    assert count(ws, "org") == 1


def test_updates_are_checked_when_a_key_changes(ws, rep):
    ws.records.create(rep, "org", {"name": "Alpha"})
    beta = ws.records.create(rep, "org", {"name": "Beta"})
    with pytest.raises(Conflict):
        ws.records.update(rep, "org", beta["id"], {"name": "ALPHA Inc."})
    assert ws.records.get(rep, "org", beta["id"])["name"] == "Beta"
    # the key changes, then the old value is free again
    ws.records.update(rep, "org", beta["id"], {"name": "Gamma"})
    ws.records.create(rep, "org", {"name": "Beta"})


def test_an_old_duplicate_can_still_be_edited(ws, rep, manager):
    ws.records.create(rep, "org", {"name": "Twin"})
    twin = ws.records.create(manager, "org", {"name": "Twin GmbH"}, allow_duplicates=True)
    updated = ws.records.update(rep, "org", twin["id"], {"domain": "twin.example"})
    assert updated["domain"] == "twin.example"


# --- override ------------------------------------------------------------------------


def test_overriding_a_block_needs_a_role_the_rule_names(ws, rep, manager):
    ws.records.create(rep, "org", {"name": "Contoso"})
    with pytest.raises(PermissionDenied):
        ws.records.create(rep, "org", {"name": "Contoso Ltd"}, allow_duplicates=True)
    second = ws.records.create(manager, "org", {"name": "Contoso Ltd"}, allow_duplicates=True)
    assert second["_warnings"][0]["rule"] == "org_name" and second["_warnings"][0]["overridden"] is True
    history = ws.records.history(SYSTEM, "org", second["id"], {}).data
    override = next(h for h in history if h["action"] == "duplicate_override")
    assert override["actor"] == manager.user_id
    assert override["changes"]["duplicate_rule"] == [None, "org_name"]
    assert count(ws, "org") == 2


def test_asking_to_allow_duplicates_changes_nothing_when_there_are_none(ws, rep):
    created = ws.records.create(rep, "org", {"name": "Unique"}, allow_duplicates=True)
    assert "_warnings" not in created


# --- warn ----------------------------------------------------------------------------


def test_a_warn_rule_writes_the_record_and_reports_the_match(ws, rep):
    first = ws.records.create(rep, "org", {"name": "One", "domain": "shared.example"})
    second = ws.records.create(rep, "org", {"name": "Two", "website": "https://www.shared.example/about"})
    (warning,) = second["_warnings"]
    assert warning["rule"] == "org_domain" and warning["action"] == "warn"
    assert warning["matches"] == [{"entity": "org", "id": first["id"], "title": "One"}]
    assert "_warnings" not in ws.records.get(rep, "org", second["id"])


def test_phone_numbers_match_in_any_spelling(ws, rep):
    ws.records.create(rep, "person", {"last_name": "Berlin", "phone": "+49 30 1234567"})
    second = ws.records.create(rep, "person", {"last_name": "Other", "mobile": "030 / 123 45 67"})
    assert second["_warnings"][0]["rule"] == "person_phone"


def test_a_rule_limited_to_create_ignores_updates(ws, rep):
    ws.records.create(rep, "person", {"last_name": "A", "phone": "+49 30 999999"})
    b = ws.records.create(rep, "person", {"last_name": "B"})
    updated = ws.records.update(rep, "person", b["id"], {"phone": "+49 30 999999"})
    assert "_warnings" not in updated


def test_matches_the_caller_cannot_read_are_counted_not_named(ws, rep):
    other = user(ws, "other@test.dev", "sales_rep")
    theirs = ws.records.create(other, "person", {"last_name": "Secret", "email": "secret@example.com"})
    with pytest.raises(Conflict) as caught:
        ws.records.create(rep, "person", {"last_name": "Me", "email": "secret@example.com"})
    message = caught.value.errors[0].message
    assert theirs["id"] not in message and "Secret" not in message and "may not see" in message
    assert caught.value.extensions["duplicates"][0]["matches"] == []
    assert caught.value.extensions["duplicates"][0]["hidden_matches"] == 1


# --- scopes across entities, filters, conditions -------------------------------------


def test_a_rule_searches_other_entities_of_its_scope(ws, rep):
    person = ws.records.create(rep, "person", {"last_name": "Known", "email_secondary": "known@example.com"})
    prospect = ws.records.create(rep, "prospect", {"last_name": "Lead", "email": "KNOWN@example.com"})
    assert prospect["_warnings"][0]["matches"] == [{"entity": "person", "id": person["id"], "title": "Known"}]


def test_scope_filters_and_conditions_leave_records_out(ws, rep):
    old = ws.records.create(rep, "prospect", {"last_name": "Old", "email": "lead@example.com"})
    ws.records.update(rep, "prospect", old["id"], {"status": "converted"})
    fresh = ws.records.create(rep, "prospect", {"last_name": "New", "email": "lead@example.com"})
    assert "_warnings" not in fresh  # converted prospects are out of the scope
    converted = ws.records.create(
        rep, "prospect", {"last_name": "Done", "email": "lead@example.com", "status": "converted"}
    )
    assert "_warnings" not in converted  # the rule's `when` leaves converted ones unchecked


def test_the_phone_region_comes_from_a_settings_record(ws, rep):
    ws.records.create(SYSTEM, "kit_setting", {"phone_region": "AT"})
    person = ws.records.create(rep, "person", {"last_name": "Wien", "mobile": "+43 1 5123456"})
    prospect = ws.records.create(rep, "prospect", {"last_name": "Lead", "phone": "01 5123456"})
    assert prospect["_warnings"][0]["matches"][0]["id"] == person["id"]


# --- bulk ----------------------------------------------------------------------------


def test_a_bulk_batch_cannot_hold_two_copies_of_one_record(ws, rep):
    with pytest.raises(ValidationError) as caught:
        ws.records.bulk(rep, "org", [{"name": "Same"}, {"name": "Other"}, {"name": "SAME Ltd"}])
    assert [(e.index, e.field) for e in caught.value.errors] == [(2, "name")]
    assert count(ws, "org") == 0


def test_bulk_records_carry_their_own_warnings(ws, rep):
    created = ws.records.bulk(
        rep, "org", [{"name": "A", "domain": "a.example"}, {"name": "B"}, {"name": "C", "website": "https://a.example"}]
    )
    assert ["_warnings" in r for r in created] == [False, False, True]


def test_a_batch_of_new_records_stores_the_keys_single_creates_store(ws, rep):
    """A batch's keys are written together (COPY on PostgreSQL): the same rows, and found."""
    from engine.storage.bulk_copy import MIN_ROWS
    from engine.storage.create_batch import CreateBatch
    from engine.storage.database import write_transaction
    from engine.storage.validation import load_input

    single = ws.records.create(rep, "org", {"name": "Solo Ltd", "domain": "solo.example"})
    snap = ws.snapshot()
    entity = snap.catalog.entities["org"]
    with write_transaction(ws.db) as conn:
        batch = CreateBatch(ws.records, conn, snap, rep, entity, ws.records.clock())
        documents = [{"name": f"Batch {i} GmbH", "domain": f"b{i}.example"} for i in range(MIN_ROWS + 2)]
        batch.probe(documents)
        ids = [batch.add(load_input(snap.input_schema("org"), entity, d)) for d in documents]
        batch.flush()
    with ws.db.connect() as conn:
        keys = conn.execute(sa.select(st.match_key.c.record_id, st.match_key.c.kind, st.match_key.c.value)).all()
    by_record: dict[str, set[tuple[str, str]]] = {}
    for record_id, kind, value in keys:
        by_record.setdefault(record_id, set()).add((kind, value))
    assert {kind for kind, _ in by_record[single["id"]]} == {kind for kind, _ in by_record[ids[0]]}
    assert (key_kind("name"), "batch 0") in by_record[ids[0]]
    with pytest.raises(Conflict):  # the batch's keys find the next duplicate
        ws.records.create(rep, "org", {"name": "BATCH 3 gmbh"})


# --- keys of records written before a rule ---------------------------------------------


def test_records_written_before_the_keys_existed_are_still_found(ws, rep):
    first = ws.records.create(rep, "org", {"name": "Legacy Corp"})
    with ws.db.begin() as conn:  # as if the rule arrived after the record
        conn.execute(st.match_key.delete())
        conn.execute(st.match_key_state.delete())
    other_process = Workspace(ws.config, meta_check_interval=0)
    with pytest.raises(Conflict) as caught:
        other_process.records.create(rep, "org", {"name": "legacy"})
    assert first["id"] in caught.value.errors[0].message
    other_process.records.create(rep, "org", {"name": "Modern"})  # builds the keys once, for good
    other_process.close()
    with ws.db.connect() as conn:
        built = conn.execute(sa.select(st.match_key_state.c.field)).scalars().all()
    assert "name" in built


def test_keys_of_an_older_normaliser_version_are_rebuilt_once(ws, rep):
    first = ws.records.create(rep, "org", {"name": "Epsilon S.A."})
    with ws.db.begin() as conn:  # as stored before dotted legal forms were understood
        conn.execute(st.match_key.delete())
        conn.execute(st.match_key_state.delete())
        row = {"entity": "org", "field": "name", "record_id": first["id"]}
        conn.execute(st.match_key.insert(), {**row, "kind": "name", "value": "epsilon s a"})
        conn.execute(st.match_key_state.insert(), {**row, "kind": "name", "built_at": ws.records.clock()})
    other_process = Workspace(ws.config, meta_check_interval=0)
    with pytest.raises(Conflict) as caught:
        other_process.records.create(rep, "org", {"name": "Epsilon SA"})
    assert first["id"] in caught.value.errors[0].message
    other_process.records.create(rep, "org", {"name": "Zeta"})  # the rebuild is written for good
    other_process.close()
    with ws.db.connect() as conn:
        kinds = conn.execute(sa.select(st.match_key.c.kind).where(st.match_key.c.field == "name")).scalars().all()
        built = conn.execute(sa.select(st.match_key_state.c.kind).where(st.match_key_state.c.field == "name")).all()
    assert set(kinds) == {key_kind("name")} != {"name"}
    assert [b.kind for b in built] == [key_kind("name")]


# --- over HTTP -----------------------------------------------------------------------


@pytest.fixture
def api(ws: Workspace) -> Any:
    create_user(ws, "admin@test.dev", "Ada", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex", PASSWORD, ["sales_rep"])
    create_user(ws, "boss@test.dev", "Bea", PASSWORD, ["sales_manager"])
    client = create_app(ws.config, ws).test_client()
    return sign_in(client, "rep@test.dev"), sign_in(client, "boss@test.dev")


def test_the_api_answers_409_and_allow_duplicates_for_a_manager(api):
    rep, boss = api
    first = rep.post("org", {"name": "Initech"}).get_json()
    refused = rep.post("org", {"name": "INITECH LLC"})
    assert refused.status_code == 409 and refused.content_type == "application/problem+json"
    body = refused.get_json()
    assert body["duplicates"][0]["matches"][0]["id"] == first["id"]
    assert rep.post("org?allow_duplicates=true", {"name": "INITECH LLC"}).status_code == 403
    assert rep.post("org?allow_duplicates=maybe", {"name": "x"}).status_code == 400
    made = boss.post("org?allow_duplicates=true", {"name": "INITECH LLC"})
    assert made.status_code == 201 and made.get_json()["_warnings"][0]["overridden"] is True
    patched = rep.patch(f"org/{first['id']}", {"domain": "initech.example"})
    assert patched.status_code == 200 and "_warnings" not in patched.get_json()
    bulk = rep.post("org/bulk", [{"name": "Initech"}])
    assert bulk.status_code == 422 and bulk.get_json()["errors"][0]["index"] == 0


@pytest.mark.parametrize("plan", ["custom", "generic"])
def test_looking_up_a_batch_of_keys_reads_the_index_however_many_keys_are_stored(ws, plan):
    """An import looks 500 keys up at a time; reading every stored key instead (the plan
    PostgreSQL chose for a list of inlined values once tens of thousands were stored, and a
    prepared plan made on a small table kept) made each batch slower than the one before."""
    if ws.db.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite looks a list of values up in the index anyway")
    with ws.db.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO tessera_match_key (entity, field, kind, record_id, value) "
            "SELECT 'person', 'email', 'email', md5(i::text), 'person' || i || '@example.test' "
            "FROM generate_series(1, 60000) AS i"
        )
        conn.exec_driver_sql("ANALYZE tessera_match_key")
    statement = keys_statement("postgresql").compile(dialect=ws.db.dialect)
    values = [f"new{i}@example.test" for i in range(499)] + ["person7@example.test"]
    with ws.db.connect() as conn:
        conn.exec_driver_sql(f"SET plan_cache_mode = force_{plan}_plan")
        params = statement.construct_params({"kind": "email", "values": values})
        shown = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", params).all())
        found = conn.execute(keys_statement("postgresql"), {"kind": "email", "values": values}).all()
    assert "ix_tessera_match_key_value" in shown and "Seq Scan" not in shown, shown
    assert [(r.entity, r.field, r.value) for r in found] == [("person", "email", "person7@example.test")]
