"""REST helpers of the sales pack tests: calls as a signed-in role (``api_client`` of the
sales conftest) that assert each call succeeded and return the body."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any


def today() -> dt.date:
    """Today in UTC, read at the call (a run may cross midnight)."""
    return dt.datetime.now(dt.UTC).date()


def day(offset: int) -> str:
    """An ISO date ``offset`` days from today (the engine's clock is the real one here), read
    at the call: a run that crosses midnight UTC would otherwise compare yesterday's date."""
    return (today() + dt.timedelta(days=offset)).isoformat()


def ok(reply: Any, status: int = 200) -> Any:
    body = reply.get_json(silent=True)
    assert reply.status_code == status, (reply.status_code, body)
    return body


def refused(reply: Any, status: int = 422) -> dict[str, str]:
    """The field errors of a refused write, as ``{field: message}``."""
    body = ok(reply, status)
    return {e["field"]: e["message"] for e in body.get("errors", [])}


def create(api: Any, entity: str, values: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = ok(api.post(f"/api/v1/{entity}", json=values), 201)
    return result


def get(api: Any, entity: str, record_id: str) -> dict[str, Any]:
    result: dict[str, Any] = ok(api.get(f"/api/v1/{entity}/{record_id}"))
    return result


def patch(api: Any, entity: str, record_id: str, values: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = ok(api.patch(f"/api/v1/{entity}/{record_id}", json=values))
    return result


def listing(api: Any, entity: str, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(api.get(f"/api/v1/{entity}", query_string={"limit": "500", **params}))["data"]
    return rows


def aggregate(api: Any, entity: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(api.post(f"/api/v1/{entity}/aggregate", json=body))["data"]
    return rows


def user_id(admin: Any, role: str) -> str:
    return str(ok(admin.get(f"/api/v1/user?email={role}@test.dev"))["data"][0]["id"])


def act(api: Any, entity: str, record_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
    """Run a record action; returns the reply (callers assert the status)."""
    return api.post(f"/api/v1/{entity}/{record_id}/actions/{action}", json=body or {})


def set_manager(admin: Any, role: str, manager_role: str) -> None:
    ok(admin.patch(f"/api/v1/user/{user_id(admin, role)}", json={"manager": user_id(admin, manager_role)}))


def money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def account(api: Any, name: str = "Nordwind Logistik GmbH", **values: Any) -> dict[str, Any]:
    return create(api, "account", {"name": name, "city": "Hamburg", "country": "Germany", **values})
