"""Expressions a reader writes (list filters, aggregate filters and metrics) read through a
link only the linked records the reader may read, so ``firm.notes ~ "acq"`` cannot probe a
firm hidden from them; a link to a record in the trash reads as null for everyone, in SQL
as in Python. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from tests.conftest import pack_workspace, sign_in

FIRM = """
entity: firm
title: name
fields:
  name:  {type: string, required: true}
  notes: {type: string}
permissions:
  sales_rep: {read: own, create: true, update: own}
"""
DEAL = """
entity: deal
title: name
fields:
  name: {type: string, required: true}
  firm: {type: link, to: firm}
  vault: {type: link, to: vault}
permissions:
  sales_rep: {read: all, create: true, update: own, export: true}
"""
VAULT = """
entity: vault
title: name
fields:
  name: {type: string, required: true}
"""


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Any:
    files = {"entities/firm.yaml": FIRM, "entities/deal.yaml": DEAL, "entities/vault.yaml": VAULT}
    ws = pack_workspace(database_url, tmp_path, "linkkit", files, {"sales_rep": "Rep", "admin": "Admin"})
    client = create_app(ws.config, ws).test_client()
    yield {"admin": sign_in(client, "admin@test.dev"), "rep": sign_in(client, "sales_rep@test.dev")}
    ws.close()


def names(reply: Any) -> list[str]:
    assert reply.status_code == 200, reply.get_json()
    return sorted(r["name"] for r in reply.get_json()["data"])


def test_a_filter_through_a_link_reads_only_firms_the_reader_may_read(api: Any) -> None:
    admin, rep = api["admin"], api["rep"]
    secret = admin.post("firm", {"name": "Secret Corp", "notes": "acquisition target"}).get_json()
    mine = rep.post("firm", {"name": "Rep Firm", "notes": "acquisition of a printer"}).get_json()
    admin.post("deal", {"name": "Big deal", "firm": secret["id"]})
    admin.post("deal", {"name": "Small deal", "firm": mine["id"]})
    assert rep.get(f"firm/{secret['id']}").status_code == 404

    probe = "deal?filter=" + 'firm.notes ~ "acq"'
    assert names(admin.get(probe)) == ["Big deal", "Small deal"]
    assert names(rep.get(probe)) == ["Small deal"]  # the hidden firm's notes are not there to match
    assert names(rep.get('deal?filter=firm.name == "Secret Corp"')) == []
    assert names(rep.get("deal?filter=firm.name == null")) == ["Big deal"]  # read as empty

    metrics = {"metrics": {"top": "max(firm.name)", "note": "min(firm.notes)"}}
    seen = rep.post("deal/aggregate", {**metrics, "filter": 'name == "Big deal"'})
    assert seen.status_code == 200, seen.get_json()
    assert seen.get_json()["data"] == [{"top": None, "note": None}]
    counted = rep.post("deal/aggregate", {"filter": 'firm.name ~ "Sec"', "metrics": {"n": "count()"}})
    assert counted.get_json()["data"] == [{"n": 0}]
    everything = admin.post("deal/aggregate", {**metrics, "filter": 'name == "Big deal"'}).get_json()["data"]
    assert everything == [{"top": "Secret Corp", "note": "acquisition target"}]


def test_a_link_to_a_firm_in_the_trash_reads_as_null_in_filters(api: Any) -> None:
    admin = api["admin"]
    gone = admin.post("firm", {"name": "Gone GmbH"}).get_json()
    admin.post("deal", {"name": "Orphaned deal", "firm": gone["id"]})
    assert names(admin.get('deal?filter=firm.name == "Gone GmbH"')) == ["Orphaned deal"]
    assert admin.delete(f"firm/{gone['id']}").status_code == 204
    assert names(admin.get('deal?filter=firm.name == "Gone GmbH"')) == []
    assert names(admin.get("deal?filter=firm.name == null")) == ["Orphaned deal"]


def test_a_path_into_an_entity_the_reader_may_not_read_is_an_unknown_field(api: Any) -> None:
    """It was a 500 (KeyError) in list filters, aggregates and exports."""
    rep = api["rep"]
    for reply in (
        rep.get('deal?filter=vault.name == "x"'),
        rep.post("deal/aggregate", {"filter": 'vault.name == "x"', "metrics": {"n": "count()"}}),
        rep.get('deal/export?filter=vault.name == "x"'),
    ):
        assert reply.status_code == 400, reply.get_data(as_text=True)
        assert "vault has no field 'name'" in reply.get_json()["detail"]
    twice = rep.post("deal/aggregate", {"group_by": ["name", "name"]})  # was a 500 (ambiguous column)
    assert twice.status_code == 400 and twice.get_json()["errors"][0]["field"] == "group_by"
