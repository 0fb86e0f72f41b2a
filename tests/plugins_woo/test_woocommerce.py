"""The WooCommerce plugin end to end against a local shop: pull sync and webhooks."""

from __future__ import annotations

import json
from typing import Any

from engine.actor import SYSTEM
from engine.automation.jobs import JOBS
from engine.workspace import Workspace
from tests.conftest import Api
from tests.plugins_woo.fake_shop import KEY, SECRET, FakeShop, order, product, sign

HOOK_SECRET = "whsec-test"
HOOK = "/public/plugins/woocommerce/webhook/shop"


def _store(admin: Api, shop: FakeShop) -> dict[str, Any]:
    body = {
        "name": "shop",
        "url": shop.url,
        "consumer_key": KEY,
        "consumer_secret": SECRET,
        "webhook_secret": HOOK_SECRET,
        "page_size": 2,
    }
    response = admin.post("woo_store", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _all(ws: Workspace, entity: str, **filters: str) -> list[dict[str, Any]]:
    return ws.records.list(SYSTEM, entity, {"limit": "100", **filters}).data


def _fill(shop: FakeShop) -> None:
    shop.products = [
        product(501, "USB-C Dock", "99.00", "DOCK-1"),
        product(502, "Cable", "10.00"),
        product(503, "Mouse", "25.00"),
    ]
    shop.orders = [
        order(9001, "known@customer.test"),
        order(9002, "New.Buyer@shop.test", status="on-hold", payment_method="bacs", date_paid=None),
        order(9003, "new.buyer@shop.test", status="pending", payment_method=""),
    ]


def _known_contact(ws: Workspace) -> tuple[str, str]:
    account = ws.records.create(SYSTEM, "account", {"name": "Known GmbH"})
    contact = ws.records.create(
        SYSTEM, "contact", {"last_name": "Known", "email": "Known@Customer.test", "account": account["id"]}
    )
    return account["id"], contact["id"]


def test_a_pull_sync_imports_products_orders_payments_and_customers_once(
    ws: Workspace, admin: Api, fake_shop: FakeShop
) -> None:
    store = _store(admin, fake_shop)
    account_id, contact_id = _known_contact(ws)
    _fill(fake_shop)
    JOBS["woocommerce_sync"](ws, {"store": "shop"})

    products = {p["woo_id"]: p for p in _all(ws, "product")}
    assert sorted(products) == [501, 502, 503]
    assert products[501]["sku"] == "DOCK-1" and products[502]["sku"] == "WOO-502"
    assert str(products[503]["list_price"]) in ("25", "25.00")
    # three products on two pages, basic auth, oldest first
    product_pages = [q["page"][0] for path, q in fake_shop.requests if path.endswith("/products")]
    assert product_pages == ["1", "2"]

    orders = {o["woo_id"]: o for o in _all(ws, "order")}
    assert sorted(orders) == ["9001", "9002", "9003"]
    known = orders["9001"]
    assert known["source"] == "woocommerce"
    assert known["contact"] == contact_id and known["account"] == account_id and known["lead"] is None
    assert str(known["total"]) in ("119", "119.00")
    assert str(known["placed_on"]) == "2026-11-20"
    assert known["status"] == "paid"  # its captured card payment covers the total
    lines = ws.records.get(SYSTEM, "order", known["id"])["lines"]
    assert [(line["product"], str(line["quantity"]), str(line["price"])) for line in lines] == [
        (products[501]["id"], "1.00", "99.00"),
        (products[502]["id"], "2.00", "10.00"),
    ] or [line["product"] for line in lines] == [products[501]["id"], products[502]["id"]]

    # an unknown buyer becomes one lead, whatever the case of the e-mail
    leads = _all(ws, "lead")
    assert len(leads) == 1
    assert leads[0]["email"].lower() == "new.buyer@shop.test"
    assert leads[0]["last_name"] == "Shopper" and leads[0]["source"] == "other"
    assert orders["9002"]["lead"] == leads[0]["id"] == orders["9003"]["lead"]
    assert orders["9002"]["status"] == "confirmed" and orders["9003"]["status"] == "draft"

    payments = {p["woo_id"]: p for p in _all(ws, "payment")}
    assert sorted(payments) == ["9001", "9002"]  # 9003 names no payment method
    assert payments["9001"]["method"] == "card" and payments["9001"]["status"] == "paid"
    assert payments["9001"]["order"] == known["id"]
    assert payments["9002"]["method"] == "bank_transfer" and payments["9002"]["status"] == "pending"

    shop = ws.records.get(SYSTEM, "woo_store", store["id"])
    assert shop["last_sync_status"] == "ok" and shop["last_sync_at"] is not None
    assert "3 products, 3 orders" in shop["last_sync_result"]

    # the second run asks for changes since the first and imports nothing twice
    versions = {o["woo_id"]: o["version"] for o in _all(ws, "order")}
    fake_shop.requests.clear()
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    assert all("modified_after" in q for _, q in fake_shop.requests)
    assert len(_all(ws, "product")) == 3 and len(_all(ws, "order")) == 3
    assert len(_all(ws, "payment")) == 2 and len(_all(ws, "lead")) == 1
    assert {o["woo_id"]: o["version"] for o in _all(ws, "order")} == versions


def test_a_bad_order_is_listed_and_the_others_come_in(ws: Workspace, admin: Api, fake_shop: FakeShop) -> None:
    store = _store(admin, fake_shop)
    _fill(fake_shop)
    fake_shop.orders[1]["billing"] = {"first_name": "No", "last_name": "Mail"}
    fake_shop.orders[2]["status"] = "teleported"
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    assert sorted(o["woo_id"] for o in _all(ws, "order")) == ["9001"]
    shop = ws.records.get(SYSTEM, "woo_store", store["id"])
    assert shop["last_sync_status"] == "partial"
    assert "orders #9002: order 9002 has no billing e-mail" in shop["last_sync_result"]
    assert "orders #9003: order 9003 has an unknown status 'teleported'" in shop["last_sync_result"]
    assert _all(ws, "payment", woo_id="9002") == []  # nothing half-written


def test_a_shop_error_stops_the_sync_and_the_next_run_catches_up(
    ws: Workspace, admin: Api, fake_shop: FakeShop
) -> None:
    store = _store(admin, fake_shop)
    _fill(fake_shop)
    fake_shop.fail_with = 500
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    shop = ws.records.get(SYSTEM, "woo_store", store["id"])
    assert shop["last_sync_status"] == "failed"
    assert "HTTP 500" in shop["last_sync_result"]
    assert shop["last_sync_at"] is None
    fake_shop.fail_with = None
    fake_shop.requests.clear()
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    assert not any("modified_after" in q for _, q in fake_shop.requests)  # the whole window again
    assert len(_all(ws, "order")) == 3
    assert ws.records.get(SYSTEM, "woo_store", store["id"])["last_sync_status"] == "ok"


def test_credentials_never_show_in_the_api(ws: Workspace, admin: Api, finance: Api, fake_shop: FakeShop) -> None:
    store = _store(admin, fake_shop)
    fake_shop.fail_with = 401
    JOBS["woocommerce_sync"](ws, {})
    for api in (admin, finance):
        text = json.dumps(api.get(f"woo_store/{store['id']}").get_json())
        assert KEY not in text and SECRET not in text and HOOK_SECRET not in text
    assert "HTTP 401" in ws.records.get(SYSTEM, "woo_store", store["id"])["last_sync_result"]


def _hook(client: Any, topic: str, data: Any, secret: str = HOOK_SECRET, **headers: str) -> Any:
    body = json.dumps(data).encode()
    all_headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": sign(secret, body), **headers}
    return client.post(HOOK, data=body, headers=all_headers, content_type="application/json")


def test_signed_webhooks_import_at_once_and_a_replay_changes_nothing(
    ws: Workspace, admin: Api, app: Any, fake_shop: FakeShop
) -> None:
    _store(admin, fake_shop)
    client = app.test_client()
    assert client.post(HOOK, data={"webhook_id": "12"}).status_code == 200  # the ping
    created = _hook(client, "product.created", product(501, "USB-C Dock", "99.00", "DOCK-1"))
    assert created.status_code == 200, created.get_json()
    wrong = _hook(client, "order.created", order(9001, "x@shop.test"), secret="not-the-secret")
    assert wrong.status_code == 403
    assert wrong.content_type.startswith("application/problem+json")
    unsigned = client.post(HOOK, json=order(9001, "x@shop.test"), headers={"X-WC-Webhook-Topic": "order.created"})
    assert unsigned.status_code == 403
    assert _all(ws, "order") == []

    first = _hook(client, "order.created", order(9001, "x@shop.test"))
    assert first.status_code == 200, first.get_json()
    again = _hook(client, "order.created", order(9001, "x@shop.test"))
    assert again.get_json()["id"] == first.get_json()["id"]
    assert len(_all(ws, "order")) == 1 and len(_all(ws, "payment")) == 1 and len(_all(ws, "lead")) == 1
    line = ws.records.get(SYSTEM, "order", first.get_json()["id"])["lines"][0]
    assert line["product"] == _all(ws, "product")[0]["id"]

    refunded = _hook(client, "order.updated", order(9001, "x@shop.test", status="refunded"))
    assert refunded.status_code == 200
    assert _all(ws, "order")[0]["status"] == "cancelled"
    assert _all(ws, "payment")[0]["status"] == "refunded"

    bad = _hook(client, "order.updated", order(9004, ""))
    assert bad.status_code == 422
    assert "no billing e-mail" in bad.get_json()["detail"]
    assert _hook(client, "coupon.created", {"id": 1}).get_json()["status"] == "ignored"
    assert client.post("/public/plugins/woocommerce/webhook/other", json={}).status_code == 404


def test_tessera_woo_sync_pulls_and_says_what_it_did(
    ws: Workspace, admin: Api, fake_shop: FakeShop, monkeypatch: Any
) -> None:
    from click.testing import CliRunner

    from engine.cli import main

    _store(admin, fake_shop)
    _fill(fake_shop)
    config = ws.config
    monkeypatch.setenv("TESSERA_DATABASE_URL", config.database_url)
    monkeypatch.setenv("TESSERA_PACKS", "woocommerce")
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(config.instance_path))
    monkeypatch.setenv("TESSERA_SECRET_KEY", config.secret_key or "")
    result = CliRunner().invoke(main, ["woo", "sync"])
    assert result.exit_code == 0, result.output
    assert "shop: ok: 3 products, 3 orders" in result.output
    missing = CliRunner().invoke(main, ["woo", "sync", "nope"])
    assert missing.exit_code == 1
    assert "There is no WooCommerce shop 'nope'" in missing.output
    fake_shop.fail_with = 503
    failed = CliRunner().invoke(main, ["woo", "sync", "shop"])
    assert failed.exit_code == 1 and "HTTP 503" in failed.output
