"""A computed or rolled-up field built on a field a role may not read is hidden from that
role too (``margin = amount - cost`` gives ``cost`` away), through a chain of computed
fields, in a record, a list and every export format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from engine.actor import SYSTEM
from engine.app import create_app
from tests.conftest import pack_workspace, sign_in

DEAL = """
entity: deal
title: name
fields:
  name:       {type: string, required: true}
  amount:     {type: money}
  cost:       {type: money}
  margin:     {type: money, compute: 'amount - cost', stored: true}
  margin_pct: {type: decimal, precision: 2, compute: 'margin * 100 / amount'}
  shout:      {type: string, compute: 'upper(name)'}
  parts_cost: {type: money, rollup: {from: deal_part, link: deal, value: sum(cost)}}
  part_count: {type: int, rollup: {from: deal_part, link: deal, value: count()}}
permissions:
  clerk:   {read: all, create: true, export: all, fields: {cost: none}}
  manager: {read: all, create: true, export: all}
"""
DEAL_PART = """
entity: deal_part
title: name
fields:
  name: {type: string, required: true}
  deal: {type: link, to: deal}
  cost: {type: money}
permissions:
  clerk:   {read: all, fields: {cost: none}}
  manager: {read: all}
"""
#: what the clerk may not see: cost itself and everything computed from it
HIDDEN = {"cost", "margin", "margin_pct", "parts_cost"}


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Any:
    files = {"entities/deal.yaml": DEAL, "entities/deal_part.yaml": DEAL_PART}
    ws = pack_workspace(database_url, tmp_path, "costkit", files, {"clerk": "Clerk", "manager": "Manager"})
    deal = ws.records.create(SYSTEM, "deal", {"name": "Fleet", "amount": "1000.00", "cost": "600.00"})
    ws.records.create(SYSTEM, "deal_part", {"name": "Vans", "deal": deal["id"], "cost": "600.00"})
    yield ws
    ws.close()


def _seen(ws: Any, email: str) -> dict[str, set[str]]:
    """The fields a user gets, per way of reading the deal."""
    api = sign_in(create_app(ws.config, ws).test_client(), email)
    listed = api.get("deal").get_json()["data"]
    one = api.get(f"deal/{listed[0]['id']}").get_json()
    as_csv = next(csv.reader(io.StringIO(api.get("deal/export?format=csv").get_data().decode("utf-8-sig"))))
    as_jsonl = json.loads(api.get("deal/export?format=jsonl").get_data(as_text=True).splitlines()[0])
    sheet = load_workbook(io.BytesIO(api.get("deal/export?format=xlsx").get_data())).active
    as_xlsx = next(sheet.iter_rows(values_only=True))
    return {
        "get": set(one),
        "list": set(listed[0]),
        "csv": set(as_csv),
        "jsonl": set(as_jsonl),
        "xlsx": {str(c) for c in as_xlsx},
    }


def test_a_field_computed_from_a_hidden_field_is_hidden_too(ws: Any) -> None:
    for way, fields in _seen(ws, "clerk@test.dev").items():
        assert not fields & HIDDEN, way
        assert {"name", "amount", "shout", "part_count"} <= fields, way


def test_a_role_that_reads_every_input_sees_the_computed_fields(ws: Any) -> None:
    for way, fields in _seen(ws, "manager@test.dev").items():
        assert HIDDEN | {"shout", "part_count"} <= fields, way


def test_a_filter_on_a_hidden_computed_field_is_an_unknown_field(ws: Any) -> None:
    api = sign_in(create_app(ws.config, ws).test_client(), "clerk@test.dev")
    response = api.get("deal/export?filter=margin%20%3E%200")
    assert response.status_code == 400 and "margin" in response.get_json()["detail"]
