"""``create`` with ``for_each`` + ``times``: several records per item, e.g. one asset per
unit of an order line (the assets pack does this when a purchase order is delivered)."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from engine.actor import SYSTEM
from engine.checking import check_packs
from engine.config import Config
from engine.errors import TesseraError
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, make_config

RULES = """\
rules:
  - name: one_voucher_per_unit
    entity: voucher
    on: create
    when: 'code == "UNITS"'
    do:
      - create:
          entity: voucher
          for_each: lines
          where: '$item.item != "skip"'
          times: 'if($item.item == "cable", 0, $item.qty)'
          values: {code: '=concat("UNIT-", $item.item)'}
"""


def units_pack(tmp_path: Path, rules: str = RULES) -> Path:
    root = tmp_path / "packs"
    pack = root / "units_kit"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: units_kit\nversion: 1.0.0\ndepends: [testkit]\n")
    (pack / "rules" / "units.yaml").write_text(rules)
    return root


def test_times_makes_that_many_records_per_item(database_url: str, tmp_path: Path) -> None:
    config = make_config(database_url, tmp_path, ("units_kit",))
    config = dataclasses.replace(config, extra_pack_paths=(TEST_PACKS, units_pack(tmp_path)))
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    try:
        lines = [
            {"item": "switch", "qty": 3, "unit_price": "100"},
            {"item": "skip", "qty": 2, "unit_price": "1"},
            {"item": "cable", "qty": 4, "unit_price": "3"},  # times gives 0: none
            {"item": "rack", "qty": 1, "unit_price": "50"},
        ]
        ws.records.create(SYSTEM, "voucher", {"code": "UNITS", "lines": lines})
        made = ws.records.list(SYSTEM, "voucher", {"filter": 'code ~ "UNIT-"', "sort": "code", "limit": "50"}).data
        assert sorted(v["code"] for v in made) == ["UNIT-rack", "UNIT-switch", "UNIT-switch", "UNIT-switch"]
        # a runaway quantity fails the rule, and with it the write that triggered it
        with pytest.raises(TesseraError, match="at most 1000"):
            ws.records.create(
                SYSTEM, "voucher", {"code": "UNITS", "lines": [{"item": "x", "qty": 5000, "unit_price": "1"}]}
            )
        assert len(ws.records.list(SYSTEM, "voucher", {"filter": 'code == "UNITS"'}).data) == 1
    finally:
        ws.close()


def test_times_needs_for_each_and_an_expression(tmp_path: Path) -> None:
    rules = textwrap.dedent(
        """\
        rules:
          - name: no_for_each
            entity: voucher
            on: create
            do:
              - create: {entity: voucher, times: '2', values: {code: x}}
          - name: not_an_expression
            entity: voucher
            on: create
            do:
              - create: {entity: voucher, for_each: lines, times: 3, values: {code: x}}
          - name: unknown_field
            entity: voucher
            on: create
            do:
              - create: {entity: voucher, for_each: lines, times: '$item.nope', values: {code: x}}
        """
    )
    root = units_pack(tmp_path, rules)
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, root))
    problems, _ = check_packs(config, [root])
    messages = "\n".join(str(p) for p in problems.items)
    assert "unknown key 'times'" in messages
    assert "times takes an expression" in messages
    assert "nope" in messages
