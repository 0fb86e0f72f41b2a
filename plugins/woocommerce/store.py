"""A WooCommerce shop (a ``woo_store`` record) and its REST API.

The REST API (``/wp-json/wc/v3``) is read with HTTP basic authentication (consumer key
and secret, over HTTPS), page by page (``page``, ``per_page``; the ``X-WP-TotalPages``
header says how many). Webhooks are signed: ``X-WC-Webhook-Signature`` is the base64
HMAC-SHA256 of the raw body under the webhook's secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa

from engine.storage.database import read_transaction

STORE_ENTITY = "woo_store"
SECRETS = ("consumer_key", "consumer_secret", "webhook_secret")
USER_AGENT = "Tessera-WooCommerce/1"


class ShopError(Exception):
    """The shop could not be read (unreachable, refused, not JSON); the message says why."""


@dataclass(frozen=True)
class Store:
    id: str
    name: str
    url: str
    active: bool = True
    consumer_key: str | None = None
    consumer_secret: str | None = None
    webhook_secret: str | None = None
    page_size: int = 50

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Store:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in names and v is not None})

    def signature_ok(self, body: bytes, signature: str | None) -> bool:
        """Whether ``signature`` is the base64 HMAC-SHA256 of ``body`` under the webhook secret."""
        if not self.webhook_secret or not signature:
            return False
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(digest), signature.strip().encode())

    def pages(self, resource: str, params: dict[str, str], timeout: float) -> Iterator[list[dict[str, Any]]]:
        """Every page of ``/wp-json/wc/v3/RESOURCE`` (``orders``, ``products``), in order."""
        if not self.consumer_key or not self.consumer_secret:
            raise ShopError(f"the shop {self.name!r} has no REST API consumer key and secret")
        url = f"{self.url.rstrip('/')}/wp-json/wc/v3/{resource}"
        page, total = 1, 1
        while page <= total:
            query = {**params, "page": str(page), "per_page": str(self.page_size), "order": "asc", "orderby": "id"}
            try:
                response = requests.get(
                    url,
                    params=query,
                    auth=(self.consumer_key, self.consumer_secret),
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    timeout=timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise ShopError(f"could not reach the shop {self.name!r}: {type(exc).__name__}") from None
            if response.status_code != 200:
                detail = response.text[:200].strip()
                raise ShopError(f"the shop {self.name!r} answered HTTP {response.status_code} for {resource}: {detail}")
            try:
                data = response.json()
            except ValueError:
                raise ShopError(f"the shop {self.name!r} did not answer JSON for {resource}") from None
            if not isinstance(data, list):
                raise ShopError(f"the shop {self.name!r} answered something other than a list for {resource}")
            yield data
            total = _int(response.headers.get("X-WP-TotalPages"), default=page)
            page += 1


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def stores(ws: Any, name: str | None = None) -> list[Store]:
    """The shops (or the one called ``name``), secrets open, by name.

    Read directly: the data-access layer never reveals the secrets to users; only the
    sync and the webhook check need them."""
    snap = ws.snapshot()
    if STORE_ENTITY not in snap.catalog.entities:
        return []
    table = snap.tables.main(STORE_ENTITY)
    query = sa.select(table).where(table.c.deleted_at.is_(None)).order_by(table.c.name)
    if name is not None:
        query = query.where(table.c.name == name)
    with read_transaction(ws.db) as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    for row in rows:
        for secret in SECRETS:
            if row.get(secret):
                row[secret] = ws.records.cipher.open(row[secret])
    return [Store.from_row(row) for row in rows]
