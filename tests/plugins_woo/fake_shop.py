"""A local WooCommerce REST API for the tests: products and orders, paged, basic auth."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

KEY, SECRET = "ck_test", "cs_test"


def product(woo_id: int, name: str, price: str, sku: str | None = None) -> dict[str, Any]:
    return {"id": woo_id, "name": name, "sku": sku or "", "regular_price": price, "price": price, "status": "publish"}


def order(woo_id: int, email: str, status: str = "processing", **extra: Any) -> dict[str, Any]:
    data = {
        "id": woo_id,
        "number": str(woo_id),
        "status": status,
        "currency": "EUR",
        "total": "119.00",
        "date_created": "2026-11-20T10:15:00",
        "date_modified": "2026-11-20T10:20:00",
        "date_paid": "2026-11-20T10:16:00" if status in ("processing", "completed") else None,
        "payment_method": "stripe",
        "payment_method_title": "Credit card (Stripe)",
        "transaction_id": f"ch_{woo_id}",
        "billing": {"first_name": "Paula", "last_name": "Shopper", "email": email, "city": "Berlin", "country": "DE"},
        "line_items": [
            {"id": 1, "name": "USB-C Dock", "product_id": 501, "quantity": 1, "price": 99, "total": "99.00"},
            {"id": 2, "name": "Cable", "product_id": 502, "quantity": 2, "price": 10, "total": "20.00"},
        ],
    }
    data.update(extra)
    return data


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class FakeShop:
    def __init__(self) -> None:
        self.products: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        #: answer this status instead of data (a broken shop)
        self.fail_with: int | None = None
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                shop.requests.append((parts.path, query))
                expected = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"code": "woocommerce_rest_cannot_view"}, {})
                if shop.fail_with:
                    return self._send(shop.fail_with, {"code": "internal_server_error"}, {})
                resource = parts.path.removeprefix("/wp-json/wc/v3/")
                items = {"orders": shop.orders, "products": shop.products}.get(resource)
                if items is None:
                    return self._send(404, {"code": "rest_no_route"}, {})
                per_page, page = int(query["per_page"][0]), int(query["page"][0])
                pages = max(1, math.ceil(len(items) / per_page))
                chunk = items[(page - 1) * per_page : page * per_page]
                self._send(200, chunk, {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)})

            def _send(self, status: int, data: Any, headers: dict[str, str]) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_shop() -> Iterator[FakeShop]:
    shop = FakeShop()
    yield shop
    shop.close()
