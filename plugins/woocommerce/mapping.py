"""WooCommerce products and orders as CRM records, upserted by ``woo_id``.

One shop object is applied in one transaction through the data-access layer (validation,
rules, audit trail, events), as the system: an order with its customer (lead), lines and
payment is written whole or not at all. Applying the same object again changes nothing
new: products, orders and payments are found by their ``woo_id`` and updated in place.

- product: ``woo_id`` = the shop's id; ``sku`` the shop's SKU (``WOO-ID`` when it has
  none), ``name``, ``list_price`` (regular price), ``active`` (published);
- order: ``woo_id`` = the shop's id, ``source`` woocommerce, status from the shop's status,
  currency, total, ``placed_on``, lines (products matched by ``woo_id``); the customer is
  the contact with the billing e-mail (and its account), else a lead with that e-mail,
  else a new lead (source ``other``, detail ``WooCommerce``);
- payment: one per shop order that names a payment method, ``woo_id`` = the order's id.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import compile_expression
from engine.dsl.types import INT, STRING

SOURCE = "woocommerce"

#: the shop's order status -> the order's status
ORDER_STATUS = {
    "pending": "draft",
    "checkout-draft": "draft",
    "draft": "draft",
    "on-hold": "confirmed",
    "processing": "confirmed",
    "completed": "confirmed",
    "cancelled": "cancelled",
    "refunded": "cancelled",
    "failed": "cancelled",
    "trash": "cancelled",
}
#: the shop's payment method id -> the payment's method
PAYMENT_METHOD = {"bacs": "bank_transfer", "cheque": "bank_transfer", "cod": "cash"}
CARD_METHODS = ("stripe", "woocommerce_payments", "square_credit_card", "braintree_credit_card", "card")


class BadShopData(ValueError):
    """A shop object that cannot be imported (the message names what is wrong)."""


def _money(value: Any, what: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation:
        raise BadShopData(f"{what} {value!r} is not an amount") from None


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None


def _woo_id(data: dict[str, Any], what: str) -> int:
    value = data.get("id")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadShopData(f"the {what} has no valid id: {value!r}")
    return value


def _find(run: Any, entity: str, field: str, value: str | int) -> dict[str, Any] | None:
    """The oldest live record of ``entity`` whose ``field`` equals ``value`` (e-mail
    addresses compared without case), through the automation's DSL selection."""
    definition = run.snap.catalog.entities[entity]
    source = f"lower({field}) == lower($value)" if field == "email" else f"{field} == $value"
    condition = compile_expression(
        source,
        definition,
        run.snap.catalog,
        functions=run.ws.functions,
        sql=True,
        expect="bool",
        variables={"value": INT if isinstance(value, int) else STRING},
    )
    ids = run.select_ids(definition, condition, variables={"value": value}, limit=1)
    return run.fetch(entity, ids[0]) if ids else None


def _upsert(run: Any, entity: str, found: dict[str, Any] | None, values: dict[str, Any]) -> str:
    if found is None:
        return str(run.create(entity, values, SOURCE))
    changed = {k: v for k, v in values.items() if _differs(found.get(k), v)}
    if changed:
        run.update(entity, found["id"], changed, SOURCE)
    return str(found["id"])


def _differs(stored: Any, value: Any) -> bool:
    if stored is None or value is None:
        return stored is not value
    if isinstance(stored, Decimal | int | float) and not isinstance(stored, bool):
        try:
            return Decimal(str(stored)) != Decimal(str(value))
        except InvalidOperation:
            return True
    if isinstance(stored, dt.date):
        return stored.isoformat()[: len(str(value))] != str(value)
    return str(stored) != str(value)


def apply_product(ws: Any, data: dict[str, Any]) -> str:
    """Create or update the ``product`` of a shop product; its id."""
    woo_id = _woo_id(data, "product")
    name = str(data.get("name") or "").strip()
    if not name:
        raise BadShopData(f"product {woo_id} has no name")
    values: dict[str, Any] = {
        "woo_id": woo_id,
        "name": name[:200],
        "sku": str(data.get("sku") or f"WOO-{woo_id}")[:64],
        "list_price": _money(data.get("regular_price") or data.get("price"), f"product {woo_id}: price"),
        "active": data.get("status", "publish") == "publish",
    }
    with ws.records.acting(SYSTEM) as run:
        found = _find(run, "product", "woo_id", woo_id)
        if found is None:
            values["category"] = "hardware" if not data.get("virtual") else "software"
        return _upsert(run, "product", found, values)


def apply_order(ws: Any, data: dict[str, Any]) -> str:
    """Create or update the ``order`` (and its customer and ``payment``) of a shop order; its id."""
    woo_id = _woo_id(data, "order")
    status = ORDER_STATUS.get(str(data.get("status")))
    if status is None:
        raise BadShopData(f"order {woo_id} has an unknown status {data.get('status')!r}")
    with ws.records.acting(SYSTEM) as run:
        found = _find(run, "order", "woo_id", str(woo_id))
        values: dict[str, Any] = {
            "woo_id": str(woo_id),
            "source": SOURCE,
            "currency": str(data.get("currency") or "EUR").upper(),
            "total": _money(data.get("total"), f"order {woo_id}: total"),
            "placed_on": _date(data.get("date_created")),
            "notes": f"WooCommerce order #{data.get('number') or woo_id}",
            **_customer(run, data.get("billing") or {}, woo_id),
        }
        if not (found is not None and found["status"] == "paid" and status == "confirmed"):
            values["status"] = status  # a paid order stays paid while the shop says processing
        lines, same = _lines(run, data.get("line_items") or [], found, woo_id)
        if not same:
            values["lines"] = lines
        order_id = _upsert(run, "order", found, values)
        payment = _payment(data, order_id, woo_id)
        if payment is not None:
            _upsert(run, "payment", _find(run, "payment", "woo_id", str(woo_id)), payment)
        return order_id


def _customer(run: Any, billing: dict[str, Any], woo_id: int) -> dict[str, Any]:
    """``contact`` and ``account`` of the contact with the billing e-mail, else ``lead``."""
    email = str(billing.get("email") or "").strip()
    if not email:
        raise BadShopData(f"order {woo_id} has no billing e-mail")
    contact = _find(run, "contact", "email", email)
    if contact is not None:
        return {"contact": contact["id"], "account": contact.get("account"), "lead": None}
    lead = _find(run, "lead", "email", email)
    if lead is not None:
        return {"lead": lead["id"]}
    values = {
        "first_name": billing.get("first_name") or None,
        "last_name": billing.get("last_name") or email.split("@")[0],
        "company": billing.get("company") or None,
        "email": email,
        "phone": billing.get("phone") or None,
        "city": billing.get("city") or None,
        "country": billing.get("country") or None,
        "source": "other",
        "source_detail": "WooCommerce",
    }
    return {"lead": run.create("lead", {k: v for k, v in values.items() if v is not None}, SOURCE)}


def _lines(run: Any, items: list[Any], found: dict[str, Any] | None, woo_id: int) -> tuple[list[dict[str, Any]], bool]:
    """The order's lines, and whether the order has them already; an existing order keeps
    its line ids (position by position)."""
    existing: list[dict[str, Any]] = []
    if found is not None:
        table = run.snap.tables.entities["order"].children["lines"]
        query = sa.select(table).where(table.c.parent_id == found["id"]).order_by(table.c.position)
        existing = [dict(row._mapping) for row in run.conn.execute(query)]
    lines = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadShopData(f"order {woo_id}: line {position + 1} is not an object")
        try:
            quantity = Decimal(str(item.get("quantity") or 1))
            price = item.get("price")
            if price in (None, ""):
                price = Decimal(str(item.get("total") or 0)) / quantity
            product_id = int(item["product_id"]) if item.get("product_id") else None
        except (ArithmeticError, ValueError, TypeError):
            raise BadShopData(f"order {woo_id}: line {position + 1} has a bad quantity, price or product") from None
        product = _find(run, "product", "woo_id", product_id) if product_id else None
        line: dict[str, Any] = {
            "product": product["id"] if product else None,
            "description": str(item.get("name") or "")[:500] or None,
            "quantity": str(quantity),
            "price": _money(price, f"order {woo_id}: line {position + 1} price"),
        }
        if position < len(existing):
            line["id"] = existing[position]["id"]
        lines.append(line)
    same = found is not None and len(existing) == len(lines)
    same = same and all(
        not _differs(old.get(k), v) for old, new in zip(existing, lines, strict=True) for k, v in new.items()
    )
    return lines, same


def _payment(data: dict[str, Any], order_id: str, woo_id: int) -> dict[str, Any] | None:
    """The payment of a shop order that names a payment method; None without one."""
    method_id = str(data.get("payment_method") or "")
    amount = _money(data.get("total"), f"order {woo_id}: total")
    if not method_id or amount is None or Decimal(amount) <= 0:
        return None
    shop_status = str(data.get("status"))
    if shop_status == "refunded":
        status = "refunded"
    elif shop_status == "failed":
        status = "failed"
    elif data.get("date_paid"):
        status = "paid"
    else:
        status = "pending"
    method = PAYMENT_METHOD.get(method_id, "card" if method_id in CARD_METHODS else "online")
    reference = data.get("transaction_id") or data.get("payment_method_title") or method_id
    return {
        "order": order_id,
        "woo_id": str(woo_id),
        "amount": amount,
        "currency": str(data.get("currency") or "EUR").upper(),
        "method": method,
        "status": status,
        "paid_on": _date(data.get("date_paid")),
        "reference": str(reference)[:100],
    }


def describe(data: Any) -> str:
    """A short description of a shop object for error lists."""
    if isinstance(data, dict):
        return f"#{data.get('id')}"
    return json.dumps(data)[:60]
