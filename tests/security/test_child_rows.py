"""Child rows (the lines of a table field) have no permissions of their own: the parent's
table field guards them. So a role that reads the parent's lines may filter on them
(`sum(lines.qty) > 1`, which was a 400 "deal_line has no field" for everyone but admins),
one that may not see the lines may not, and `permissions:` on a child entity, which were
applied to filters only (the rows' fields were still read and written), are refused when
the metadata loads. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.app import create_app
from engine.errors import TesseraError
from tests.conftest import pack_workspace, sign_in

DEAL = """
entity: deal
title: name
fields:
  name: {type: string, required: true}
  lines: {type: table, of: deal_line}
permissions:
  boss: {read: all, create: true, update: all}
  rep: {read: all, fields: {lines: none}}
"""
LINE = """
entity: deal_line
child: true
fields:
  qty: {type: int}
"""


def test_a_role_that_reads_the_lines_filters_on_them(database_url: str, tmp_path: Path) -> None:
    files = {"entities/deal.yaml": DEAL, "entities/deal_line.yaml": LINE}
    ws = pack_workspace(database_url, tmp_path, "linekit", files, {"boss": "Boss", "rep": "Rep"})
    try:
        client = create_app(ws.config, ws).test_client()
        boss = sign_in(client, "boss@test.dev")
        boss.post("deal", {"name": "Big", "lines": [{"qty": 2}, {"qty": 3}]})
        boss.post("deal", {"name": "Small", "lines": [{"qty": 1}]})
        found = boss.get("deal", query_string={"filter": "sum(lines.qty) > 1"})
        assert found.status_code == 200, found.get_json()
        assert [d["name"] for d in found.get_json()["data"]] == ["Big"]
        rep = sign_in(client, "rep@test.dev")
        refused = rep.get("deal", query_string={"filter": "sum(lines.qty) > 1"})
        assert refused.status_code == 400 and "lines" in refused.get_json()["detail"]
        assert sorted(d["name"] for d in rep.get("deal").get_json()["data"]) == ["Big", "Small"]
    finally:
        ws.close()


def test_permissions_on_a_child_entity_are_refused_when_the_metadata_loads(database_url: str, tmp_path: Path) -> None:
    line = LINE + "permissions:\n  rep: {read: all, fields: {qty: none}}\n"
    files = {"entities/deal.yaml": DEAL, "entities/deal_line.yaml": line}
    with pytest.raises(TesseraError, match="deal_line is a child-row entity: its rows have no permissions"):
        pack_workspace(database_url, tmp_path, "linekit", files, {"boss": "Boss"})
