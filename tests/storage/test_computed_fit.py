"""A stored computed value that does not fit its field (a decimal column holds 18 digits,
an integer 64 bits) is a 422 naming the field, in the words a typed value gets, and
nothing is written; never a 500 from rounding it. A virtual one has no column to fit: it
is shown with all its digits. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.actor import SYSTEM
from engine.app import create_app
from tests.conftest import pack_workspace, sign_in

#: qty * unit_price: about 1.1e29, far beyond the 16 digits money holds before the point
HUGE_LINE = {"item": "Bulk", "qty": 9007199254740993, "unit_price": "12345678901234.56"}


def _vouchers(workspace: Any) -> list[dict[str, Any]]:
    return workspace.records.list(SYSTEM, "voucher", {}).data


def test_a_computed_value_too_large_for_its_field_is_a_422_naming_it(workspace, admin):
    response = admin.post("voucher", {"code": "V-1", "lines": [HUGE_LINE]})
    assert response.status_code == 422, response.get_json()
    errors = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert errors == {
        "lines[0].line_total": "The computed value does not fit: At most 16 digits before the decimal point."
    }
    assert _vouchers(workspace) == []


def test_an_update_that_makes_a_computed_value_too_large_is_refused(workspace, admin):
    created = admin.post("voucher", {"code": "V-2", "lines": [{"item": "One", "qty": 1, "unit_price": "10.00"}]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    line = body["lines"][0]
    response = admin.patch(
        f"voucher/{body['id']}",
        {"lines": [{"id": line["id"], **HUGE_LINE}]},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 422, response.get_json()
    assert "The computed value does not fit" in response.get_json()["errors"][0]["message"]
    [stored] = _vouchers(workspace)
    assert stored["total"] == body["total"]


#: a virtual computed decimal far beyond 28 digits (Python's default precision for rounding)
GAUGE = """
entity: gauge
title: name
fields:
  name:   {type: string, required: true}
  level:  {type: decimal, precision: 2}
  scaled: {type: decimal, precision: 2, compute: 'level * 1000000000000000000000000000000'}
permissions:
  reader: {read: all, create: true}
"""


def test_a_virtual_computed_value_beyond_28_digits_is_shown_not_a_500(database_url: str, tmp_path: Path) -> None:
    ws = pack_workspace(database_url, tmp_path, "gaugekit", {"entities/gauge.yaml": GAUGE}, {"reader": "Reader"})
    try:
        api = sign_in(create_app(ws.config, ws).test_client(), "reader@test.dev")
        made = api.post("gauge", {"name": "far", "level": "99999999999999.99"})
        assert made.status_code == 201, made.get_json()
        listed = api.get("gauge")
        assert listed.status_code == 200, listed.get_json()
        expected = Decimal("99999999999999.99E30")
        for shown in (made.get_json()["scaled"], listed.get_json()["data"][0]["scaled"]):
            assert abs(Decimal(str(shown)) - expected) <= expected * Decimal("1E-14")  # SQLite computes in doubles
    finally:
        ws.close()
