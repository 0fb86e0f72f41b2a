"""Contacts and leads from the files users bring: the example templates, duplicate rules, source category."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.dataio.importing import ImportOptions, import_table
from engine.dataio.mapping import load_template
from engine.dataio.sources import read_table
from engine.security.identity import load_actor
from engine.security.users import create_user, ensure_roles, find_user
from engine.storage.database import read_transaction
from engine.storage.duplicates import DuplicateRecord
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, table_rows

EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"


@pytest.fixture
def crm(database_url: str, tmp_path: Path):
    ws = Workspace(make_config(database_url, tmp_path, ("core", "accounts", "leads")), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    yield ws
    ws.close()


def actor_of(ws: Workspace, email: str = "admin@test.dev") -> Any:
    user = find_user(ws, email)
    assert user is not None
    with read_transaction(ws.db) as conn:
        return load_actor(conn, ws.snapshot(), user["id"], "test")


def run(ws: Workspace, entity: str, text: str, email: str = "admin@test.dev", **options: Any):
    table = read_table(text.encode(), filename="contacts.csv")
    return import_table(ws, actor_of(ws, email), entity, table, ImportOptions(**options))


def example(ws: Workspace, entity: str, name: str, **extra: Any):
    settings = load_template(EXAMPLES / f"{name}.yaml")
    assert settings.pop("entity") == entity
    read = {k: settings.pop(k, None) for k in ("delimiter", "encoding", "sheet")}
    path = EXAMPLES / f"{name}.csv"
    table = read_table(path, filename=path.name, **read)
    return import_table(ws, actor_of(ws), entity, table, ImportOptions(**{**settings, **extra}))


def example_with(ws: Workspace, entity: str, name: str, text: str, **extra: Any):
    """Another file (``text``) through the example template ``name``."""
    settings = load_template(EXAMPLES / f"{name}.yaml")
    assert settings.pop("entity") == entity
    table = read_table(text.encode(), filename=f"{name}.csv")
    return import_table(ws, actor_of(ws), entity, table, ImportOptions(**{**settings, **extra}))


def contacts(ws: Workspace) -> dict[str, dict[str, Any]]:
    return {c["email"]: c for c in ws.records.list(SYSTEM, "contact", {"limit": "500"}).data}


def test_hubspot_companies_then_contacts(crm):
    companies = example(crm, "account", "hubspot_companies")
    assert (companies.created, companies.failed) == (2, 0), companies.errors
    people = example(crm, "contact", "hubspot_contacts")
    assert (people.created, people.failed) == (4, 0), people.errors
    accounts = {a["name"]: a for a in crm.records.list(SYSTEM, "account", {}).data}
    assert accounts["Nordwind Logistik GmbH"]["annual_revenue"] == pytest.approx(48_500_000)
    assert accounts["Nordwind Logistik GmbH"]["employees"] == 1250  # "1,250": US thousands (decimal: ".")
    assert accounts["Nordwind Logistik GmbH"]["domain"] == "nordwind-logistik.de"
    jana = contacts(crm)["jana.petersen@nordwind-logistik.de"]
    assert jana["account"] == accounts["Nordwind Logistik GmbH"]["id"] and jana["title"] == "Head of Procurement"
    assert jana["source"] == "import" and jana["mobile"] == "+49 171 5550123"
    assert contacts(crm)["maya@brightline-dental.com"]["source"] == "campaign"  # "Paid Search" via values:
    assert contacts(crm)["liam.oconnor@example.org"]["source"] == "import"  # the constant
    # the same export imported again: every contact is found by its e-mail, none added or changed
    again = example(crm, "contact", "hubspot_contacts")
    assert (again.created, again.updated, again.unchanged, again.failed) == (0, 0, 4, 0)
    assert table_rows(crm, "contact") == 4
    # companies again: the duplicate rule on the name finds them (dedupe: update), as they are
    assert example(crm, "account", "hubspot_companies").unchanged == 2 and table_rows(crm, "account") == 2


def test_hubspot_original_sources_of_current_exports(crm):
    text = (
        "First Name,Last Name,Email,Original Source\n"
        "Nora,Social,nora@example.org,Organic Social\n"
        "Ari,Assistant,ari@example.org,AI Referrals\n"
    )
    report = example_with(crm, "contact", "hubspot_contacts", text)
    assert (report.created, report.failed) == (2, 0), report.errors
    assert contacts(crm)["nora@example.org"]["source"] == "social"
    assert contacts(crm)["ari@example.org"]["source"] == "webform"


DATA_LOADER = (  # a Data Loader export of leads: the headers are the fields' API names
    '"ID","SALUTATION","FIRSTNAME","LASTNAME","TITLE","COMPANY","EMAIL","PHONE","MOBILEPHONE","CITY","STATE",'
    '"POSTALCODE","COUNTRY","LEADSOURCE","STATUS","INDUSTRY","NUMBEROFEMPLOYEES","HASOPTEDOUTOFEMAIL","OWNERID",'
    '"CREATEDDATE"\n'
    '"00Q5g00000AbCdH","Ms.","Lena","Vogt","CFO","Vogt Consulting","lena@vogt.example","+49 30 5550 1000",'
    '"+49 171 5550 2000","Berlin","BE","10115","Germany","Trade Show","Working - Contacted","Technology","1200",'
    '"false","0055g00000XyZaB","2026-01-15T09:30:00.000Z"\n'
)


def test_salesforce_leads_from_data_loader(crm):
    report = example_with(crm, "lead", "salesforce_leads", DATA_LOADER, rules=False)
    assert (report.created, report.failed) == (1, 0), report.errors
    [lena] = crm.records.list(SYSTEM, "lead", {}).data
    assert (lena["first_name"], lena["last_name"], lena["salutation"], lena["title"]) == ("Lena", "Vogt", "ms", "CFO")
    assert (lena["mobile"], lena["status"], lena["employees"]) == ("+49 171 5550 2000", "contacted", 1200)
    assert (lena["source"], lena["industry"], lena["city"]) == ("event", "it_services", "Berlin")


def test_salesforce_leads_with_us_dates_numbers_and_the_source_category(crm):
    report = example(crm, "lead", "salesforce_leads", rules=False)
    assert (report.created, report.failed) == (3, 0), report.errors
    leads = {lead["email"]: lead for lead in crm.records.list(SYSTEM, "lead", {}).data}
    carlos = leads["carlos.mendes@vertex-analytics.io"]
    assert carlos["salutation"] == "mr" and carlos["employees"] == 1200 and carlos["industry"] == "it_services"
    assert carlos["source"] == "webform" and carlos["status"] == "new"
    assert carlos["source_detail"] == "Salesforce migration"
    assert leads["priya.raman@harborfp.com"]["source"] == "event"


def test_a_spreadsheet_of_leads_with_german_headers_and_numbers(crm):
    report = example(crm, "lead", "leads_spreadsheet", source_detail="Hannover Messe 2026", rules=False)
    assert (report.created, report.failed) == (3, 0), report.errors
    leads = {lead["last_name"]: lead for lead in crm.records.list(SYSTEM, "lead", {}).data}
    anna = leads["Schmidt"]
    assert anna["first_name"] == "Anna" and anna["company"] == "Schmidt Maschinenbau GmbH"
    assert anna["budget"] == pytest.approx(25000) and leads["Y\u0131lmaz"]["budget"] == pytest.approx(8500)
    assert {lead["source_detail"] for lead in leads.values()} == {"Hannover Messe 2026"}
    assert {lead["source"] for lead in leads.values()} == {"event"}
    # the same fair list again: every lead is already known, dedupe: skip
    again = example(crm, "lead", "leads_spreadsheet", rules=False)
    assert (again.created, again.skipped) == (0, 3)


@pytest.fixture
def known(crm) -> dict[str, Any]:
    return crm.records.create(SYSTEM, "contact", {"last_name": "Known", "first_name": "Kim", "email": "kim@x.test"})


FILE = "last_name,first_name,email\nKnown,Kimberly,KIM@x.test\nNew,Nina,nina@x.test\nNew,Nina,nina@x.test\n"


def test_by_default_a_blocking_duplicate_rule_fails_its_row(crm, known):
    report = run(crm, "contact", FILE)
    assert [(e.row, e.column) for e in report.errors] == [(1, "email"), (3, "email")]
    assert report.errors[0].message.endswith(f'Contact "Known" ({known["id"]})')
    # row 3 repeats row 2, whose record was rolled back with the run: no id that never exists
    assert (
        report.errors[1].message
        == 'A contact with this e-mail address exists: Contact "New" (an earlier row of this file)'
    )
    assert not report.written and table_rows(crm, "contact") == 1


def test_dedupe_skip_leaves_known_people_alone(crm, known):
    report = run(crm, "contact", FILE, dedupe="skip")
    assert (report.created, report.skipped, report.failed) == (1, 2, 0)
    assert contacts(crm)["kim@x.test"]["first_name"] == "Kim" and table_rows(crm, "contact") == 2


def test_dedupe_update_writes_into_the_matching_record(crm, known):
    report = run(crm, "contact", FILE, dedupe="update")
    # Kim is updated; Nina's second row finds the record her first row created, as it is
    assert (report.created, report.updated, report.unchanged, report.failed) == (1, 1, 1, 0)
    assert crm.records.get(SYSTEM, "contact", known["id"])["first_name"] == "Kimberly"
    assert table_rows(crm, "contact") == 2


def test_dedupe_flag_creates_and_reports_possible_duplicates(crm, known):
    report = run(crm, "contact", FILE, dedupe="flag")
    assert (report.created, report.flagged, report.failed) == (3, 2, 0)
    assert [f.row for f in report.flags] == [1, 3]
    assert (
        report.flags[0].message
        == f'Possible duplicate: A contact with this e-mail address exists: Contact "Known" ({known["id"]})'
    )
    # row 3 repeats row 2: named as that row, as it would be if the run were rolled back
    assert report.flags[1].message.endswith('Contact "New" (an earlier row of this file)')
    assert table_rows(crm, "contact") == 4


def test_a_rolled_back_batch_takes_its_flags_with_it(crm, known):
    text = FILE + "Broken,Bo,not-an-address\n"  # row 4 fails: rows 3-4 are rolled back
    report = run(crm, "contact", text, dedupe="flag", partial=True, batch_size=2)
    assert [(b.first_row, b.written) for b in report.batches] == [(1, True), (3, False)]
    assert (report.flagged, [f.row for f in report.flags]) == (1, [1])


def test_a_warn_rule_lets_the_row_through_and_flags_it(crm):
    crm.records.create(SYSTEM, "contact", {"last_name": "Desk", "phone": "+49 30 1234567"})
    report = run(crm, "contact", "last_name,phone\nColleague,+49 30 1234567\n")
    assert (report.created, report.flagged) == (1, 1)
    assert "A contact with this phone number exists" in report.flags[0].message


def test_rows_written_together_keep_their_keys_audit_and_order(crm):
    """New rows no rule can match are written a batch at a time; each still gets its
    duplicate keys, its audit entry and its place among the rows that need a look-up."""
    rows = [f"Person{i},P,p{i}@x.test" for i in range(7)]
    rows.insert(4, "Again,P,P2@x.test")  # the third row's address: checked after the rows before it
    report = run(crm, "contact", "last_name,first_name,email\n" + "\n".join(rows) + "\n", batch_size=3, dedupe="flag")
    assert (report.created, report.flagged, report.failed) == (8, 1, 0), report.errors
    assert [f.row for f in report.flags] == [5]
    with pytest.raises(DuplicateRecord):  # the batch's keys were stored with it
        crm.records.create(SYSTEM, "contact", {"last_name": "Late", "email": "p6@x.test"})
    history = crm.records.history(actor_of(crm), "contact", contacts(crm)["p6@x.test"]["id"], {})
    assert [entry["action"] for entry in history.data] == ["create"]
    again = run(crm, "contact", "last_name,email\nPerson0,p0@x.test\nPerson9,p9@x.test\n", batch_size=3)
    assert [(e.row, e.column) for e in again.errors] == [(1, "email")] and not again.written


def test_a_large_batch_finds_every_stored_key(crm):
    """A batch of 1,200 rows: its keys are looked up at once (one array on PostgreSQL, parts
    of 500 on SQLite); people already stored are found wherever they stand in the batch."""
    for i in (3, 777, 1150):
        crm.records.create(SYSTEM, "contact", {"last_name": f"Known{i}", "email": f"p{i}@x.test"})
    rows = "".join(f"Person{i},P{i}@X.test\n" for i in range(1200))
    report = run(crm, "contact", "last_name,email\n" + rows, dedupe="skip")
    assert (report.created, report.skipped, report.failed) == (1197, 3, 0)
    assert table_rows(crm, "contact") == 1200
