"""The SharePoint profile (examples/connectors/sharepoint_documents.yaml, kind ``sharepoint``
from plugins/sharepoint): a document's file is uploaded to a library through a fake
Microsoft Graph, and the item's id and link are kept on the document. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.automation.jobs import InProcessRunner
from tests.integrations.conftest import example
from tests.integrations.fake_sharepoint import SITE, FakeGraph
from tests.integrations.test_rest_pull import add_connector, rows


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    server = FakeGraph()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def documents_ws(sales_workspace: Any) -> Any:
    return sales_workspace("integrations", "documents", "sharepoint")


def upload(api: Any, doc_id: str, name: str, content: bytes) -> None:
    reply = api.put(
        f"/api/v1/document/{doc_id}/files/file",
        query_string={"filename": name},
        data=content,
        headers={"Content-Type": "application/pdf"},
    )
    assert reply.status_code == 200, reply.get_json()


def test_a_documents_file_goes_to_sharepoint_and_the_link_comes_back(documents_ws, api_client, graph):
    api = api_client(documents_ws, "admin")
    values = example("sharepoint_documents", graph, client_id="graph-app", client_secret="graph-secret")
    values["token_url"] = f"{graph.url}/oauth/token"
    created = add_connector(api, values)
    assert created["client_secret"] == "********"
    runner = InProcessRunner(documents_ws)

    doc = api.post("/api/v1/document", json={"title": "Master agreement", "kind": "contract"})
    assert doc.status_code == 201, doc.get_json()
    doc_id = doc.get_json()["id"]
    runner.tick()
    assert graph.files == {}  # no file yet: nothing sent

    upload(api, doc_id, "MSA final.pdf", b"%PDF-1.4 version one")
    runner.tick()
    [(item_id, item)] = graph.files.items()
    assert item["path"] == f"CRM Documents/{doc_id}/MSA final.pdf"
    assert (item["content"], item["mime"]) == (b"%PDF-1.4 version one", "application/pdf")
    put = next(r for r in graph.writes() if r["method"] == "PUT")
    assert put["headers"]["Authorization"].startswith("Bearer token-")
    assert put["path"].startswith(f"/sites/{SITE}/drive/root:/")
    stored = api.get(f"/api/v1/document/{doc_id}").get_json()
    assert stored["sharepoint_id"] == item_id
    assert (
        stored["sharepoint_url"] == f"https://contoso.sharepoint.com/sites/crm/CRM%20Documents/{doc_id}/MSA%20final.pdf"
    )

    # storing the id and link is the connector's own change: nothing is sent again
    writes = len(graph.writes())
    runner.tick()
    assert len(graph.writes()) == writes

    # a new version replaces the content of the same SharePoint item
    upload(api, doc_id, "MSA final v2.pdf", b"%PDF-1.4 version two")
    runner.tick()
    assert list(graph.files) == [item_id]
    assert (graph.files[item_id]["content"], graph.files[item_id]["versions"]) == (b"%PDF-1.4 version two", 2)
    assert graph.writes()[-1]["path"] == f"/sites/{SITE}/drive/items/{item_id}/content"
    assert rows(api, "sync_failure") == []


def test_a_refused_upload_waits_in_the_dead_letter_list(documents_ws, api_client, graph):
    api = api_client(documents_ws, "admin")
    values = example("sharepoint_documents", graph, client_id="graph-app", client_secret="graph-secret")
    values["token_url"] = f"{graph.url}/oauth/token"
    values["resource"] = "/sites/no-such-site/drive/root:/CRM Documents"
    add_connector(api, values)
    runner = InProcessRunner(documents_ws)
    doc = api.post("/api/v1/document", json={"title": "NDA", "kind": "nda"}).get_json()
    runner.tick()  # no file yet: nothing sent
    upload(api, doc["id"], "nda.pdf", b"%PDF-1.4 nda")
    runner.tick()
    assert graph.files == {}
    [failure] = rows(api, "sync_failure")
    assert (failure["direction"], failure["record_id"]) == ("push", doc["id"])
    assert "400" in failure["reason"] and "graph-secret" not in str(failure)
    assert api.get(f"/api/v1/document/{doc['id']}").get_json()["sharepoint_id"] is None
