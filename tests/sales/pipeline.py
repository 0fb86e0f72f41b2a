"""Helpers of the deals, competitors and forecasting tests: REST calls as a signed-in role."""

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


def competitor(api: Any, name: str, **values: Any) -> dict[str, Any]:
    return create(api, "competitor", {"name": name, **values})


def product(api: Any, sku: str, list_price: str, **values: Any) -> dict[str, Any]:
    return create(api, "product", {"sku": sku, "name": sku, "category": "hardware", "list_price": list_price, **values})


def opportunity(api: Any, account_id: str, **values: Any) -> dict[str, Any]:
    return create(
        api,
        "opportunity",
        {
            "name": "Campus network refresh",
            "account": account_id,
            "amount": "100000",
            "expected_close": day(45),
            **values,
        },
    )


def advance(api: Any, deal: dict[str, Any], *stages: str, **values: Any) -> dict[str, Any]:
    """PATCH the deal through ``stages`` in turn (extra ``values`` go with the last one)."""
    for index, stage in enumerate(stages):
        body = {"stage": stage, **(values if index == len(stages) - 1 else {})}
        deal = patch(api, "opportunity", deal["id"], body)
    return deal


def lose(api: Any, deal: dict[str, Any], competitors: list[str], reason: str = "price") -> dict[str, Any]:
    return patch(
        api, "opportunity", deal["id"], {"stage": "closed_lost", "loss_reason": reason, "competitors": competitors}
    )


__all__ = [
    "account",
    "act",
    "advance",
    "aggregate",
    "competitor",
    "create",
    "day",
    "get",
    "listing",
    "lose",
    "money",
    "ok",
    "opportunity",
    "patch",
    "product",
    "refused",
    "set_manager",
    "today",
    "user_id",
]
