"""Flow 9: documents linked to quotes, AMC contracts and vendor agreements.

A signed customer quote and a vendor's reseller agreement are stored as documents with
their files, linked to the quote and the vendor contract; each shows on that record's
timeline (and the quote's document on the account's), and the files download from there.
The AMC contract part needs the amc pack (issue 7, helper B).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.workspace import Workspace
from tests.sales.procurement import account, act, create, day, get, listing, ok, opportunity, vendor
from tests.service.test_documents import upload


def _timeline_ids(api: Any, entity: str, record_id: str) -> set[str]:
    entries = ok(api.get(f"/api/v1/{entity}/{record_id}/timeline"))["data"]
    return {e["record"]["id"] for e in entries if e["entity"] == "document"}


def _linked(api: Any, entity: str, record_id: str) -> list[dict[str, Any]]:
    return listing(api, "document", related_entity=entity, related_id=record_id)


def test_flow_09_documents_hang_off_quotes_and_vendor_contracts(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("documents", "quotes", "vendors")
    rep, manager, finance = (api_client(ws, r) for r in ("sales_rep", "sales_manager", "finance"))

    # --- the customer's quote, and the signed copy the customer sent back -------------------
    customer = account(rep, "Hafenamt Bremen")
    deal = opportunity(rep, customer["id"])
    quote = create(rep, "quote", {"opportunity": deal["id"], "account": customer["id"], "valid_until": day(30)})
    signed_copy = create(
        rep,
        "document",
        {
            "title": f"Quote {quote['number']}, countersigned",
            "kind": "quote",
            "tags": ["customer", "finance"],
            "related_entity": "quote",
            "related_id": quote["id"],
            "account": customer["id"],
        },
    )
    stored = ok(upload(rep, signed_copy["id"], b"%PDF-1.7 quote signed by the customer", "quote-signed.pdf"))
    assert stored["version_no"] == 1 and stored["file"]["name"] == "quote-signed.pdf"
    assert [d["id"] for d in _linked(rep, "quote", quote["id"])] == [signed_copy["id"]]
    assert signed_copy["id"] in _timeline_ids(rep, "quote", quote["id"])  # the record's 360 view
    assert signed_copy["id"] in _timeline_ids(rep, "account", customer["id"])  # and its account's
    download = rep.get(stored["file"]["url"])
    assert download.status_code == 200 and download.data == b"%PDF-1.7 quote signed by the customer"
    # a document cannot point at a quote that does not exist
    missing = rep.post(
        "/api/v1/document",
        json={"title": "Lost", "related_entity": "quote", "related_id": "0190a1b2-0000-7000-8000-000000000000"},
    )
    assert missing.status_code == 422

    # --- the vendor agreement: stored, signed off by finance, found from the contract --------
    distributor = vendor(finance, "Ingram Micro")
    contract = create(
        finance,
        "vendor_contract",
        {"title": "Reseller agreement 2027", "vendor": distributor["id"], "kind": "reseller", "end_date": day(365)},
    )
    agreement = create(
        finance,
        "document",
        {
            "title": "Ingram reseller agreement 2027",
            "kind": "contract",
            "tags": ["vendor", "legal"],
            "related_entity": "vendor_contract",
            "related_id": contract["id"],
            "expiry_date": day(365),
        },
    )
    ok(upload(finance, agreement["id"], b"%PDF-1.7 reseller agreement", "reseller-agreement.pdf"))
    manager_id = listing(finance, "user", email="sales_manager@test.dev")[0]["id"]
    ok(act(finance, "document", agreement["id"], "request_signoff", {"signer": manager_id}))
    signed = ok(act(manager, "document", agreement["id"], "sign"))
    assert signed["signoff_status"] == "signed" and signed["signed_by"] == manager_id
    assert [d["title"] for d in _linked(finance, "vendor_contract", contract["id"])] == [
        "Ingram reseller agreement 2027"
    ]
    assert agreement["id"] in _timeline_ids(finance, "vendor_contract", contract["id"])
    assert get(rep, "document", agreement["id"])["file"]["name"] == "reseller-agreement.pdf"  # reps read all


def test_flow_09_documents_hang_off_amc_contracts(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("documents", "amc")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    customer = account(rep, "Hafenamt Bremen")
    contract = create(
        rep,
        "amc_contract",
        {"account": customer["id"], "start_date": day(0), "end_date": day(365), "tier": "gold", "value": "12000"},
    )
    doc = create(
        rep,
        "document",
        {
            "title": "AMC gold, signed contract",
            "kind": "contract",
            "related_entity": "amc_contract",
            "related_id": contract["id"],
            "account": customer["id"],
            "expiry_date": day(365),
        },
    )
    stored = ok(upload(rep, doc["id"], b"%PDF-1.7 AMC", "amc.pdf"))
    assert [d["id"] for d in _linked(finance, "amc_contract", contract["id"])] == [doc["id"]]
    assert doc["id"] in _timeline_ids(finance, "amc_contract", contract["id"])
    assert doc["id"] in _timeline_ids(finance, "account", customer["id"])
    assert finance.get(stored["file"]["url"]).data == b"%PDF-1.7 AMC"  # finance reads all contracts' documents
