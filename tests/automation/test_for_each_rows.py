"""``create`` with ``for_each`` + ``where`` (which items get a record) and a table field
given as rows of expressions (the quotes pack raises purchase orders this way)."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

from engine.actor import SYSTEM
from engine.checking import check_packs
from engine.config import Config
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, make_config


def test_for_each_where_creates_records_with_rows_from_expressions(database_url: str, tmp_path: Path) -> None:
    ws = Workspace(make_config(database_url, tmp_path, ("rows_kit",)), meta_check_interval=0)
    ws.install()
    try:
        lines = [
            {"item": "cable", "qty": 1, "unit_price": "3"},
            {"item": "switch", "qty": 2, "unit_price": "100"},
            {"item": "rack", "qty": 3, "unit_price": "50"},
        ]
        ws.records.create(SYSTEM, "voucher", {"code": "SPLIT", "lines": lines})
        parts = ws.records.list(SYSTEM, "voucher", {"filter": 'code ~ "PART-"', "sort": "code"}).data
        assert [p["code"] for p in parts] == ["PART-rack", "PART-switch"]
        rack = parts[0]["lines"]
        assert [(r["item"], r["qty"], r["unit_price"], r["discount"]) for r in rack] == [
            ("rack", 3, Decimal("50.00"), Decimal("5.00")),
            ("Handling", 1, Decimal("2.50"), Decimal("0.00")),  # the row's defaults apply
        ]
        assert parts[0]["total"] == Decimal("145.00")
    finally:
        ws.close()


def test_group_by_makes_one_record_per_value_with_each_rows(database_url: str, tmp_path: Path) -> None:
    ws = Workspace(make_config(database_url, tmp_path, ("rows_kit",)), meta_check_interval=0)
    ws.install()
    try:
        lines = [
            {"item": "a", "qty": 1, "unit_price": "10", "discount": 0},
            {"item": "b", "qty": 2, "unit_price": "10", "discount": 5},
            {"item": "skip", "qty": 9, "unit_price": "10", "discount": 5},
            {"item": "c", "qty": 3, "unit_price": "10", "discount": 0},
        ]
        ws.records.create(SYSTEM, "voucher", {"code": "GROUP", "lines": lines})
        made = ws.records.list(SYSTEM, "voucher", {"filter": 'code != "GROUP"', "sort": "code"}).data
        assert [(v["code"], [(r["item"], r["qty"]) for r in v["lines"]]) for v in made] == [
            ("DISCOUNTED", [("B", 2)]),  # "skip" is left out by where
            ("FULL-PRICE", [("A", 1), ("C", 3)]),
        ]
    finally:
        ws.close()


def test_where_needs_for_each_and_row_values_are_checked(tmp_path: Path) -> None:
    pack = tmp_path / "bad_rows"
    (pack / "rules").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: bad_rows\nversion: 1.0.0\ndepends: [testkit]\n")
    (pack / "rules" / "bad.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - name: no_for_each
                entity: voucher
                on: create
                do:
                  - create: {entity: voucher, where: 'code != null', values: {code: x}}
              - name: each_outside_for_each
                entity: voucher
                on: create
                do:
                  - create: {entity: voucher, group_by: code, values: {code: x, lines: {each: {item: y}}}}
              - name: bad_row
                entity: voucher
                on: create
                do:
                  - create:
                      entity: voucher
                      for_each: lines
                      values: {code: x, lines: [{item: '=$item.nope'}, {colour: red}]}
            """
        )
    )
    config = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, tmp_path))
    problems, _ = check_packs(config, [tmp_path])
    messages = "\n".join(str(p) for p in problems.items)
    assert "unknown key 'where'" in messages
    assert "unknown key 'group_by'" in messages
    assert "nope" in messages
    assert "voucher_line has no field 'colour'" in messages
