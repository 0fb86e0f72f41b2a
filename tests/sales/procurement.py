"""Helpers of the vendors and quotes tests: a small catalog, vendors with price lists, deals.

Everything goes through the REST API as a signed-in user (``api_client`` of the sales
conftest); these functions only save repetition and assert each call succeeded.
"""

from __future__ import annotations

from typing import Any

from tests.sales.rest import (
    account,
    act,
    aggregate,
    create,
    day,
    get,
    listing,
    money,
    ok,
    patch,
    refused,
    set_manager,
    today,
    user_id,
)


def catalog(admin: Any) -> dict[str, dict[str, Any]]:
    """Four products: a switch, a firewall, a licence and our own installation service."""
    rows = [
        ("SW-48", "48-port switch", "hardware", "Cisco", "1000.00", "800.00"),
        ("FW-100", "Firewall 100", "hardware", "Fortinet", "2000.00", "1500.00"),
        ("LIC-SEC", "Security licence, 1 year", "license", "Fortinet", "300.00", "240.00"),
        ("SRV-INST", "Installation day", "service", None, "900.00", "450.00"),
    ]
    out = {}
    for sku, name, category, oem, price, cost in rows:
        out[sku] = create(
            admin,
            "product",
            {"sku": sku, "name": name, "category": category, "oem": oem, "list_price": price, "cost": cost},
        )
    return out


def vendor(api: Any, name: str, **values: Any) -> dict[str, Any]:
    return create(api, "vendor", {"name": name, "tier": "gold", "categories": ["hardware"], **values})


def price(
    api: Any, vendor_id: str, product_id: str, cost: str, valid_from: int = -30, valid_to: int | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {"vendor": vendor_id, "product": product_id, "cost": cost, "valid_from": day(valid_from)}
    if valid_to is not None:
        values["valid_to"] = day(valid_to)
    return create(api, "vendor_price", values)


def opportunity(api: Any, account_id: str, **values: Any) -> dict[str, Any]:
    return create(
        api,
        "opportunity",
        {"name": "Campus network refresh", "account": account_id, "expected_close": day(45), **values},
    )


def price_lists(finance: Any, products: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Two distributors: Ingram is cheaper on switches, Also on firewalls and licences."""
    ingram = vendor(finance, "Ingram Micro", categories=["hardware", "license"])
    also = vendor(finance, "ALSO Deutschland", categories=["hardware", "license"])
    price(finance, ingram["id"], products["SW-48"]["id"], "760.00")
    price(finance, also["id"], products["SW-48"]["id"], "780.00")
    price(finance, ingram["id"], products["FW-100"]["id"], "1480.00")
    price(finance, also["id"], products["FW-100"]["id"], "1450.00")
    price(finance, also["id"], products["LIC-SEC"]["id"], "230.00")
    return {"ingram": ingram, "also": also}


__all__ = [
    "account",
    "act",
    "aggregate",
    "catalog",
    "create",
    "day",
    "get",
    "listing",
    "money",
    "ok",
    "opportunity",
    "patch",
    "price",
    "price_lists",
    "refused",
    "set_manager",
    "today",
    "user_id",
    "vendor",
]
