"""UAT of the documents module (docs/uat/documents.md): versions, links, reminders, sign-off."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.automation.schedules import run_due
from tests.sales.rest import account, act, create, day, listing, ok, today, user_id
from tests.service.test_documents import PDF_1, PDF_2, upload


@pytest.mark.uat("UAT-DOCUMENTS-01")
def test_uat_documents_01_every_upload_is_a_new_version(sales_workspace, api_client):
    ws = sales_workspace("documents")
    rep = api_client(ws, "sales_rep")
    doc = create(rep, "document", {"title": "Master services agreement", "kind": "contract"})
    assert ok(upload(rep, doc["id"], PDF_1, "MSA draft.pdf"))["version_no"] == 1
    second = ok(upload(rep, doc["id"], PDF_2, "MSA final.pdf"))
    assert [(v["version_no"], v["file"]["name"]) for v in second["versions"]] == [
        (1, "MSA draft.pdf"),
        (2, "MSA final.pdf"),
    ]
    assert rep.get(f"/api/v1/document/{doc['id']}/files/file").data == PDF_2
    assert rep.get(second["versions"][0]["file"]["url"]).data == PDF_1


@pytest.mark.uat("UAT-DOCUMENTS-02")
def test_uat_documents_02_a_document_shows_on_the_accounts_timeline(sales_workspace, api_client):
    ws = sales_workspace("documents")
    rep = api_client(ws, "sales_rep")
    customer = account(rep)
    nda = create(
        rep,
        "document",
        {"title": "Mutual NDA", "kind": "nda", "related_entity": "account", "related_id": customer["id"]},
    )
    timeline = ok(rep.get(f"/api/v1/account/{customer['id']}/timeline"))["data"]
    assert [(e["entity"], e["record"]["id"]) for e in timeline] == [("document", nda["id"])]


@pytest.mark.uat("UAT-DOCUMENTS-03")
def test_uat_documents_03_the_owner_is_reminded_30_days_before_expiry(sales_workspace, api_client):
    ws = sales_workspace("documents")
    rep = api_client(ws, "sales_rep")
    create(rep, "document", {"title": "ISO 27001 certificate", "kind": "certificate", "expiry_date": day(40)})
    run_due(ws, dt.datetime.combine(today(), dt.time(8, 0), dt.UTC))
    assert listing(rep, "notification") == []
    run_due(ws, dt.datetime.combine(today() + dt.timedelta(days=11), dt.time(8, 0), dt.UTC))
    assert [n["title"] for n in listing(rep, "notification")] == [
        f"Document expires on {day(40)}: ISO 27001 certificate"
    ]


@pytest.mark.uat("UAT-DOCUMENTS-04")
def test_uat_documents_04_signoff_is_requested_rejected_and_signed(sales_workspace, api_client):
    ws = sales_workspace("documents")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    manager_id = user_id(rep, "sales_manager")
    doc = create(rep, "document", {"title": "SOW campus network", "kind": "sow"})
    ok(upload(rep, doc["id"], PDF_1, "sow.pdf"))
    pending = ok(act(rep, "document", doc["id"], "request_signoff", {"signer": manager_id}))
    assert pending["signoff_status"] == "pending"
    assert [n["title"] for n in listing(manager, "notification")] == ["Please sign: SOW campus network"]
    assert act(rep, "document", doc["id"], "sign").status_code == 403
    rejected = ok(act(manager, "document", doc["id"], "reject_signoff", {"reason": "Payment terms missing"}))
    assert rejected["signoff_status"] == "rejected"
    assert ok(upload(rep, doc["id"], PDF_2, "sow v2.pdf"))["signoff_status"] == "pending"
    signed = ok(act(manager, "document", doc["id"], "sign", {"note": "OK for v2"}))
    assert (signed["signoff_status"], signed["signed_by"], signed["signed_version"]) == ("signed", manager_id, 2)
