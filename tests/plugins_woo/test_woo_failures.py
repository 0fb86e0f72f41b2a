"""The WooCommerce import's dead-letter list (``woo_sync_failure``) and its secrets: a bad
shop object waits there with the reason until it imports, once however often it fails; the
consumer key and secret and the webhook secret show in no log line and no API answer."""

from __future__ import annotations

import json
import logging
from typing import Any

from engine.automation.jobs import JOBS
from engine.workspace import Workspace
from tests.conftest import Api
from tests.plugins_woo.fake_shop import KEY, SECRET, FakeShop, order
from tests.plugins_woo.test_woocommerce import HOOK_SECRET, _all, _fill, _hook, _store


def failures(api: Api) -> list[dict[str, Any]]:
    reply = api.get("woo_sync_failure?sort=woo_id")
    assert reply.status_code == 200, reply.get_json()
    return list(reply.get_json()["data"])


def test_bad_shop_objects_wait_in_the_dead_letter_list_until_they_import(
    ws: Workspace, admin: Api, finance: Api, fake_shop: FakeShop
) -> None:
    store = _store(admin, fake_shop)
    _fill(fake_shop)
    fake_shop.orders[1]["billing"] = {"first_name": "No", "last_name": "Mail"}
    fake_shop.orders[2]["status"] = "teleported"
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    listed = failures(admin)
    assert [(f["store"], f["resource"], f["woo_id"], f["via"], f["resolved"]) for f in listed] == [
        (store["id"], "orders", "9002", "sync", False),
        (store["id"], "orders", "9003", "sync", False),
    ]
    assert "no billing e-mail" in listed[0]["reason"] and "unknown status 'teleported'" in listed[1]["reason"]
    assert listed[0]["payload"]["billing"] == {"first_name": "No", "last_name": "Mail"}
    assert [f["woo_id"] for f in failures(finance)] == ["9002", "9003"]  # finance reads the list too
    related = admin.get(f"woo_store/{store['id']}/related/woo_sync_failure").get_json()["data"]
    assert len(related) == 2

    # the same bad objects again: still one entry each; the shop fixes one, it imports
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    assert len(failures(admin)) == 2
    fake_shop.orders[1]["billing"]["email"] = "no.mail@shop.test"
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    assert sorted(o["woo_id"] for o in _all(ws, "order")) == ["9001", "9002"]
    assert {f["woo_id"]: f["resolved"] for f in failures(admin)} == {"9002": True, "9003": False}
    # users read the list; they do not write it
    assert admin.patch(f"woo_sync_failure/{listed[1]['id']}", {"reason": "edited"}).status_code == 422
    assert admin.patch(f"woo_sync_failure/{listed[1]['id']}", {"resolved": True}).status_code == 200


def test_a_bad_webhook_delivery_is_kept_once_and_resolved_by_a_good_one(
    ws: Workspace, admin: Api, app: Any, fake_shop: FakeShop
) -> None:
    _store(admin, fake_shop)
    client = app.test_client()
    for _ in range(2):  # the shop retries the delivery
        assert _hook(client, "order.created", order(9004, "")).status_code == 422
    [kept] = failures(admin)
    assert (kept["resource"], kept["woo_id"], kept["via"], kept["resolved"]) == ("orders", "9004", "webhook", False)
    assert _hook(client, "order.updated", order(9004, "fixed@shop.test")).status_code == 200
    assert [f["resolved"] for f in failures(admin)] == [True]
    assert len(_all(ws, "order")) == 1


def test_the_shop_credentials_show_in_no_log_and_no_answer(
    ws: Workspace, admin: Api, finance: Api, app: Any, fake_shop: FakeShop, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    store = _store(admin, fake_shop)
    _fill(fake_shop)
    fake_shop.orders[2]["status"] = "teleported"
    fake_shop.fail_with = 500
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    fake_shop.fail_with = None
    JOBS["woocommerce_sync"](ws, {"store": "shop"})  # the run after the 500 catches up, once
    JOBS["woocommerce_sync"](ws, {"store": "shop"})
    assert sorted(o["woo_id"] for o in _all(ws, "order")) == ["9001", "9002"]
    assert len(_all(ws, "payment")) == 2 and len(failures(admin)) == 1
    assert _hook(app.test_client(), "order.created", order(9005, "a@shop.test")).status_code == 200
    assert admin.patch(f"woo_store/{store['id']}", {"consumer_secret": "cs_wrong"}).status_code == 200
    JOBS["woocommerce_sync"](ws, {"store": "shop"})  # refused: 401
    assert "HTTP 401" in admin.get(f"woo_store/{store['id']}").get_json()["last_sync_result"]

    secrets = (KEY, SECRET, "cs_wrong", HOOK_SECRET)
    for api in (admin, finance):
        answers = [api.get(path).get_data(as_text=True) for path in ("woo_store", f"woo_store/{store['id']}")]
        answers.append(json.dumps(failures(api)))
        assert [s for s in secrets if any(s in text for text in answers)] == []
    assert [s for s in secrets if s in caplog.text] == []
