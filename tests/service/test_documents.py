"""The documents pack: files with versions, links to any record, expiry reminders, sign-off.

Everything goes through the REST API as the demo roles (``sales_workspace`` with the
documents pack, which brings core along).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from engine.automation.schedules import run_due
from engine.workspace import Workspace
from tests.sales.rest import account, act, create, day, get, listing, ok, patch, refused, today, user_id

PDF_1 = b"%PDF-1.7 contract draft"
PDF_2 = b"%PDF-1.7 contract final, as signed"


def upload(api: Any, document_id: str, content: bytes, name: str, content_type: str = "application/pdf") -> Any:
    return api.put(
        f"/api/v1/document/{document_id}/files/file",
        data=content,
        query_string={"filename": name},
        headers={"Content-Type": content_type},
    )


def test_every_upload_is_a_version_and_old_versions_stay_downloadable(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("documents")
    rep = api_client(ws, "sales_rep")
    doc = create(rep, "document", {"title": "Master services agreement", "kind": "contract"})
    assert doc["version_no"] == 0 and doc["versions"] == [] and doc["signoff_status"] == "not_required"

    ok(rep.patch(f"/api/v1/document/{doc['id']}", json={"change_note": "First draft from legal"}))
    first = ok(upload(rep, doc["id"], PDF_1, "MSA draft.pdf"))
    assert first["version_no"] == 1 and first["change_note"] is None
    (v1,) = first["versions"]
    assert v1["version_no"] == 1 and v1["note"] == "First draft from legal"
    assert v1["file"]["name"] == "MSA draft.pdf" and v1["uploaded_by"] == user_id(rep, "sales_rep")
    assert v1["uploaded_at"] is not None

    second = ok(upload(rep, doc["id"], PDF_2, "MSA final.pdf"))
    assert second["version_no"] == 2 and second["file"]["name"] == "MSA final.pdf"
    assert [(v["version_no"], v["file"]["name"]) for v in second["versions"]] == [
        (1, "MSA draft.pdf"),
        (2, "MSA final.pdf"),
    ]
    # the current file and the first version both download
    current = rep.get(f"/api/v1/document/{doc['id']}/files/file")
    assert current.status_code == 200 and current.data == PDF_2
    assert current.headers["Content-Disposition"].startswith('attachment; filename="MSA final.pdf"')
    old = rep.get(second["versions"][0]["file"]["url"])
    assert old.status_code == 200 and old.data == PDF_1
    # the history names each new file and who uploaded it
    history = ok(rep.get(f"/api/v1/document/{doc['id']}/history"))["data"]
    uploads = [e for e in history if "file" in (e.get("changes") or {})]
    assert len(uploads) == 2 and all(e["actor"] == user_id(rep, "sales_rep") for e in uploads)


def test_uploads_are_checked_and_versions_are_not_edited_by_hand(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("documents")
    rep, other = api_client(ws, "sales_rep"), api_client(ws, "presales")
    doc = create(rep, "document", {"title": "Pricing annex", "kind": "contract"})
    script = upload(rep, doc["id"], b"#!/bin/sh\necho hi", "install.sh", "application/x-sh")
    assert script.status_code == 415 and script.headers["Content-Type"] == "application/problem+json"
    assert ok(upload(rep, doc["id"], b"a;b\n1;2\n", "annex.csv", "text/csv"))["version_no"] == 1
    assert upload(other, doc["id"], PDF_1, "annex.pdf").status_code == 403  # presales update their own only
    assert other.get(f"/api/v1/document/{doc['id']}/files/file").status_code == 200  # but read all
    errors = refused(rep.patch(f"/api/v1/document/{doc['id']}", json={"version_no": 7}))
    assert "version_no" in errors
    errors = refused(rep.patch(f"/api/v1/document/{doc['id']}", json={"signoff_status": "signed"}))
    assert "signoff_status" in errors


def test_documents_link_to_any_record_and_show_on_its_timeline(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
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
    dangling = refused(
        rep.post(
            "/api/v1/document",
            json={"title": "X", "related_entity": "account", "related_id": "0190a1b2-0000-7000-8000-000000000000"},
        )
    )
    assert "related_id" in dangling
    half = refused(rep.post("/api/v1/document", json={"title": "X", "related_entity": "account"}))
    assert "related_id" in half
    late = refused(rep.post("/api/v1/document", json={"title": "X", "valid_from": day(10), "expiry_date": day(5)}))
    assert "expiry_date" in late


def test_the_owner_is_reminded_30_days_before_expiry(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("documents")
    rep = api_client(ws, "sales_rep")
    create(rep, "document", {"title": "ISO 27001 certificate", "kind": "certificate", "expiry_date": day(40)})
    create(rep, "document", {"title": "Open-ended policy", "kind": "policy"})

    def notices() -> list[str]:
        return [n["title"] for n in listing(rep, "notification")]

    run_due(ws, dt.datetime.combine(today(), dt.time(8, 0), dt.UTC))
    assert notices() == []  # 40 days ahead: not yet
    run_due(ws, dt.datetime.combine(today() + dt.timedelta(days=11), dt.time(8, 0), dt.UTC))
    assert notices() == [f"Document expires on {day(40)}: ISO 27001 certificate"]
    run_due(ws, dt.datetime.combine(today() + dt.timedelta(days=12), dt.time(8, 0), dt.UTC))
    assert len(notices()) == 1  # once per expiry date


def test_signoff_is_requested_signed_or_rejected_and_audited(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("documents")
    rep, manager, finance = (api_client(ws, r) for r in ("sales_rep", "sales_manager", "finance"))
    manager_id = user_id(rep, "sales_manager")
    doc = create(rep, "document", {"title": "SOW campus network", "kind": "sow"})
    assert act(rep, "document", doc["id"], "request_signoff", {"signer": manager_id}).status_code == 409  # no file
    ok(upload(rep, doc["id"], PDF_1, "sow.pdf"))

    pending = ok(act(rep, "document", doc["id"], "request_signoff", {"signer": manager_id}))
    assert pending["signoff_status"] == "pending" and pending["signoff_requested_from"] == manager_id
    assert [n["title"] for n in listing(manager, "notification")] == ["Please sign: SOW campus network"]
    assert act(rep, "document", doc["id"], "sign").status_code == 403  # reps do not sign
    assert act(finance, "document", doc["id"], "sign").status_code == 409  # asked of the manager
    rejected = ok(act(manager, "document", doc["id"], "reject_signoff", {"reason": "Payment terms missing"}))
    assert rejected["signoff_status"] == "rejected" and rejected["signoff_comment"] == "Payment terms missing"
    assert act(manager, "document", doc["id"], "reject_signoff", {}).status_code == 422  # a reason is required

    # a new version goes back to the signer
    again = ok(upload(rep, doc["id"], PDF_2, "sow v2.pdf"))
    assert again["signoff_status"] == "pending" and again["version_no"] == 2
    signed = ok(act(manager, "document", doc["id"], "sign", {"note": "OK for v2"}))
    assert signed["signoff_status"] == "signed" and signed["signed_by"] == manager_id
    assert signed["signed_at"] is not None and signed["signed_version"] == 2
    assert signed["signoff_comment"] == "OK for v2"
    assert act(manager, "document", doc["id"], "sign").status_code == 409  # nothing pending any more
    history = ok(rep.get(f"/api/v1/document/{doc['id']}/history"))["data"]
    actions = [e["changes"]["action"][1] for e in history if e["action"] == "action"]
    assert sorted(actions) == ["reject_signoff", "request_signoff", "sign"]
    assert get(rep, "document", doc["id"])["signed_by"] == manager_id
    patch(rep, "document", doc["id"], {"tags": ["legal"]})  # an ordinary edit leaves the signature alone
    assert get(rep, "document", doc["id"])["signoff_status"] == "signed"
