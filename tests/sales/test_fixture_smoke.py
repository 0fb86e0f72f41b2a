"""The sales fixtures themselves: every role signs in and the core entities are served."""

from __future__ import annotations


def test_each_role_can_sign_in_and_read_meta(sales_workspace, api_client):
    ws = sales_workspace("core")
    for role in ("admin", "sales_rep", "customer"):
        reply = api_client(ws, role).get("/api/v1/meta/entities")
        assert reply.status_code == 200
    names = {e["name"] for e in api_client(ws, "admin").get("/api/v1/meta/entities").get_json()["data"]}
    assert {"account", "contact", "activity", "product"} <= names
