"""The Oracle Fusion profile (examples/connectors/oracle_*.yaml): HCM workers as users and
Receivables invoices linked to accounts, against a fake Oracle Fusion REST API (items,
hasMore, offset/limit pages, a ``q`` change filter). SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integrations.conftest import example
from tests.integrations.fake_oracle import INVOICES, WORKERS, FakeOracle
from tests.integrations.test_rest_pull import add_connector, rows, sync


@pytest.fixture
def oracle() -> Iterator[FakeOracle]:
    server = FakeOracle()
    server.start()
    yield server
    server.stop()


def profile(name: str, peer: FakeOracle, size: int = 2) -> dict[str, Any]:
    values = example(name, peer, password="fusion-pass", schedule=None)
    values["mapping"] = values["mapping"].replace("size: 100", f"size: {size}")  # small pages
    return values


def worker(peer: FakeOracle, number: str, name: str, email: str | None) -> dict[str, Any]:
    return peer.put_row(
        WORKERS,
        PersonId=int(number) * 10,
        PersonNumber=number,
        names=[{"DisplayName": name, "LastName": name.split()[-1]}],
        emails=[{"EmailAddress": email, "EmailType": "W1"}] if email else [],
        phones=[{"PhoneNumber": f"+49 30 {number}"}],
    )


def test_oracle_workers_become_users_page_by_page(admin_api, oracle):
    worker(oracle, "1001", "Tina Technik", "Tina.Technik@Firma.example")
    worker(oracle, "1002", "Paul Pruef", "paul.pruef@firma.example")
    worker(oracle, "1003", "Nora Nomail", None)  # no e-mail: a user needs one
    worker(oracle, "1004", "Ida Install", "ida@firma.example")
    worker(oracle, "1005", "Max Montage", "max@firma.example")
    users_before = len(rows(admin_api, "user"))
    add_connector(admin_api, profile("oracle_workers", oracle))

    run = sync(admin_api, "oracle_workers")
    assert (run["status"], run["created"], run["failed"]) == ("partial", 4, 1)
    gets = [r for r in oracle.requests if r["path"] == WORKERS]
    assert [(r["args"]["offset"], r["args"]["limit"]) for r in gets] == [("0", "2"), ("2", "2"), ("4", "2")]
    assert gets[0]["args"]["q"] == "LastUpdateDate > '1970-01-01T00:00:00+00:00'"
    assert gets[0]["args"]["expand"] == "names,emails,phones"
    users = {u["hrms_id"]: u for u in rows(admin_api, "user") if u.get("hrms_id")}
    assert set(users) == {"1001", "1002", "1004", "1005"}
    assert len(rows(admin_api, "user")) == users_before + 4
    tina = users["1001"]
    assert (tina["email"], tina["full_name"], tina["phone"]) == (
        "tina.technik@firma.example",
        "Tina Technik",
        "+49 30 1001",
    )
    [failure] = rows(admin_api, "sync_failure")
    assert failure["remote_id"] == "1003" and not failure["resolved"]

    # HR adds the e-mail: the next run asks from the cursor on and picks up only that worker
    worker(oracle, "1003", "Nora Nomail", "nora@firma.example")
    run = sync(admin_api, "oracle_workers")
    assert (run["status"], run["created"], run["updated"], run["failed"]) == ("succeeded", 1, 0, 0)
    last = [r for r in oracle.requests if r["path"] == WORKERS][-1]
    assert "1970" not in last["args"]["q"]
    assert all(f["resolved"] for f in rows(admin_api, "sync_failure"))

    # a full replay duplicates nothing
    run = sync(admin_api, "oracle_workers", full=True)
    assert (run["created"], run["updated"], run["unchanged"], run["failed"]) == (0, 0, 5, 0)
    assert len(rows(admin_api, "user")) == users_before + 5


def test_oracle_receivables_invoices_link_to_accounts(admin_api, oracle):
    account = admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1001"})
    assert account.status_code == 201, account.get_json()
    common = {"TransactionDate": "2026-10-01", "DueDate": "2026-10-31", "InvoiceCurrencyCode": "EUR"}
    oracle.put_row(
        INVOICES, CustomerTransactionId=300000001, TransactionNumber="R-1", BillToCustomerNumber="C-1001",
        EnteredAmount=1190.5, InvoiceStatus="Complete", **common,
    )  # fmt: skip
    oracle.put_row(
        INVOICES,
        CustomerTransactionId=300000002,
        TransactionNumber="R-2",
        BillToCustomerNumber="C-9999",
        EnteredAmount=50,
        InvoiceStatus="Complete",
        **common,
    )  # fmt: skip  (no such customer: dead letter)
    oracle.put_row(
        INVOICES, CustomerTransactionId=300000003, TransactionNumber="R-3", BillToCustomerNumber="C-1001",
        EnteredAmount=20, InvoiceStatus="Void", **common,
    )  # fmt: skip
    add_connector(admin_api, profile("oracle_invoices", oracle))

    run = sync(admin_api, "oracle_invoices")
    assert (run["status"], run["created"], run["failed"]) == ("partial", 2, 1)
    invoices = {i["number"]: i for i in rows(admin_api, "invoice")}
    assert set(invoices) == {"R-1", "R-3"}
    first = invoices["R-1"]
    assert (first["account"], first["amount"], first["status"], first["erp_id"]) == (
        account.get_json()["id"],
        1190.5,
        "open",
        "300000001",
    )
    assert invoices["R-3"]["status"] == "cancelled"
    [failure] = rows(admin_api, "sync_failure")
    assert failure["remote_id"] == "300000002" and "no account with erp_customer_id" in failure["reason"]

    # paid in Oracle: the invoice follows; a replay of everything changes nothing else
    oracle.put_row(INVOICES, CustomerTransactionId=300000001, InvoiceStatus="Paid")
    run = sync(admin_api, "oracle_invoices")
    assert (run["created"], run["updated"]) == (0, 1)
    run = sync(admin_api, "oracle_invoices", full=True)
    assert (run["created"], run["updated"], run["unchanged"], run["failed"]) == (0, 0, 2, 1)
    assert len(rows(admin_api, "invoice")) == 2
    assert next(i for i in rows(admin_api, "invoice") if i["number"] == "R-1")["status"] == "paid"
