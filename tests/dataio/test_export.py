"""Exports through the API (``GET /api/v1/ENTITY/export``): what a user may not read never
appears, the DSL filter applies, the three formats parse back, formula payloads come out
neutralised, mistakes are clear problems. On SQLite and PostgreSQL.

The test pack's gadget grants no ``export`` to anyone; each test sets the sales_rep grant
it needs as an overlay, as an administrator would."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import load_workbook

from engine.actor import SYSTEM
from engine.overlays import set_permission

PAYLOADS = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def grant(workspace: Any, **actions: Any) -> None:
    set_permission(workspace, SYSTEM, "gadget", "sales_rep", {"create": True, **actions})


def export(api: Any, entity: str = "gadget", **params: str) -> Any:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.get(f"{entity}/export?{query}")


def csv_rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def jsonl_rows(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [json.loads(line, parse_float=Decimal) for line in response.get_data(as_text=True).splitlines()]


def xlsx_rows(response: Any) -> tuple[list[str], list[list[Any]], Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return rows[0], rows[1:], sheet


def make(api: Any, name: str, **values: Any) -> dict[str, Any]:
    response = api.post("gadget", {"name": name, **values})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_only_records_and_fields_the_user_may_read_are_exported(workspace, admin, rep):
    grant(workspace, read="own", update="own", export="all", fields={"price": "none", "api_key": "none"})
    make(admin, "Theirs", price="99.00", api_key="k-admin")
    make(rep, "Mine A")
    make(rep, "Mine B")

    records = jsonl_rows(export(rep, format="jsonl"))
    assert sorted(r["name"] for r in records) == ["Mine A", "Mine B"]
    assert all("price" not in r and "api_key" not in r for r in records)
    header = csv_rows(export(rep, format="csv"))[0].keys()
    assert "name" in header and "price" not in header and "api_key" not in header
    columns, rows, _ = xlsx_rows(export(rep, format="xlsx"))
    assert "price" not in columns and len(rows) == 2

    # a hidden field cannot be asked for, nor filtered on: it does not exist for the user
    asked = export(rep, fields="name,price")
    assert asked.status_code == 400 and "price" in asked.get_json()["detail"]
    filtered = export(rep, filter="price > 1")
    assert filtered.status_code == 400 and filtered.content_type == "application/problem+json"
    # the administrator sees everything
    everything = jsonl_rows(export(admin, format="jsonl"))
    assert sorted(r["name"] for r in everything) == ["Mine A", "Mine B", "Theirs"]
    assert {r["name"]: r["price"] for r in everything}["Theirs"] == Decimal("99.00")


def test_the_export_scope_narrows_what_the_user_may_read(workspace, admin, rep):
    grant(workspace, read="all", export="own")
    make(admin, "Theirs")
    make(rep, "Mine")
    assert len(rep.get("gadget").get_json()["data"]) == 2  # both readable in a list
    assert [r["name"] for r in csv_rows(export(rep))] == ["Mine"]


def test_export_needs_the_export_permission(workspace, admin, rep):
    make(admin, "Kit")
    refused = export(rep)  # sales_rep reads gadgets, but the pack grants no export
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    assert "export" in refused.get_json()["detail"]
    assert export(rep, entity="voucher").status_code == 404  # not readable: does not exist for them
    assert export(admin, entity="nothing").status_code == 404


def test_the_filter_applies_and_every_format_parses_back(admin):
    make(
        admin,
        "Live one",
        status="live",
        weight="1.250",
        active=False,
        released_on="2026-03-01",
        seen_at="2026-03-01T10:30:00+02:00",
        tags=["red", "blue"],
        specs={"volts": 230},
        parts=[{"label": "screw", "qty": 2}],
    )
    make(admin, "Draft one", status="draft")
    fields = "name,status,weight,active,released_on,seen_at,tags,specs,parts"
    live = 'status == "live"'

    (row,) = csv_rows(export(admin, format="csv", filter=live, fields=fields))
    assert list(row) == fields.split(",")
    assert row["name"] == "Live one" and row["weight"] == "1.250" and row["active"] == "false"
    assert row["released_on"] == "2026-03-01" and row["seen_at"].startswith("2026-03-01T08:30:00")
    assert row["tags"] == "red; blue" and json.loads(row["specs"]) == {"volts": 230}
    assert json.loads(row["parts"])[0]["label"] == "screw"

    (record,) = jsonl_rows(export(admin, format="jsonl", filter=live, fields=fields))
    assert list(record) == fields.split(",")
    assert record["weight"] == Decimal("1.250") and record["active"] is False
    assert record["tags"] == ["red", "blue"] and record["specs"] == {"volts": 230}

    columns, rows, _ = xlsx_rows(export(admin, format="xlsx", filter=live, fields=fields))
    assert columns == fields.split(",")
    (cells,) = rows
    values = dict(zip(columns, cells, strict=True))
    assert values["name"] == "Live one" and values["weight"] == 1.25 and values["active"] is False
    assert values["released_on"] == dt.datetime(2026, 3, 1)  # a real date in the workbook
    assert values["seen_at"] == dt.datetime(2026, 3, 1, 8, 30)  # in UTC

    assert len(jsonl_rows(export(admin, format="jsonl"))) == 2  # no filter: both


def test_formula_payloads_never_run_in_spreadsheets_and_are_kept_in_json_lines(admin):
    for i, payload in enumerate(PAYLOADS):
        make(admin, f"g{i}", notes=payload)
    make(admin, "Minus", count=-5, notes="plain")
    make(admin, "Ctrl", notes="\x01=1+1")  # XML cannot hold the control character: it goes
    fields = "name,notes,count"

    rows = csv_rows(export(admin, fields=fields, sort="name"))
    notes = {r["name"]: r["notes"] for r in rows}
    for i, payload in enumerate(PAYLOADS):
        assert notes[f"g{i}"] == "'" + payload
    assert {r["name"]: r["count"] for r in rows}["Minus"] == "-5"  # a number is not a formula

    _, cells, sheet = xlsx_rows(export(admin, format="xlsx", fields=fields, sort="name"))
    by_name = {row[0]: row[1] for row in cells}
    for i, payload in enumerate(PAYLOADS):
        assert by_name[f"g{i}"] == payload  # a text cell never runs: no quote needed
    assert by_name["Ctrl"] == "=1+1"  # XML cannot hold the control character
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # no formula cells
    assert {c.data_type for row in sheet.iter_rows(min_row=2, max_col=2) for c in row} == {"s"}
    assert {row[0]: row[2] for row in cells}["Minus"] == -5

    records = jsonl_rows(export(admin, format="jsonl", fields=fields))
    assert sorted(r["notes"] for r in records if r["name"].startswith("g")) == sorted(PAYLOADS)


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"format": "pdf"}, "Unknown export format 'pdf'"),
        ({"fields": "name,nope"}, "nope"),
        ({"fields": "name,name"}, "named twice"),
        ({"filter": "name ==="}, ""),
        ({"filter": "nope == 1"}, "nope"),
        ({"sort": "specs"}, "not sortable"),
        ({"limit": "5"}, "Unknown parameter"),
    ],
)
def test_a_bad_request_is_a_clear_problem(admin, params, detail):
    make(admin, "Kit")
    response = export(admin, **params)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert detail in response.get_json()["detail"]


def test_the_response_streams_as_an_attachment(admin):
    make(admin, "Kit")
    for fmt, media in (("csv", "text/csv"), ("xlsx", "application/vnd.openxml"), ("jsonl", "application/x-ndjson")):
        response = export(admin, format=fmt)
        assert response.status_code == 200 and response.is_streamed
        assert response.content_type.startswith(media)
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="gadget-') and disposition.endswith(f'.{fmt}"')
        assert response.get_data()  # the whole file comes through
        response.close()


def test_the_openapi_document_describes_the_export(admin):
    doc = admin.get("openapi.json").get_json()
    operation = doc["paths"]["/api/v1/gadget/export"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"format", "filter", "fields", "sort"}
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert "application/problem+json" in operation["responses"]["403"]["content"]


def test_an_export_of_an_entity_that_audits_reads_records_them(admin):
    maker = admin.post("maker", {"name": "Watched"}).get_json()
    assert [r["name"] for r in csv_rows(export(admin, entity="maker"))] == ["Watched"]
    history = admin.get(f"maker/{maker['id']}/history").get_json()["data"]
    assert [h["action"] for h in history].count("read") == 1
