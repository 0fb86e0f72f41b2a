"""Expressions where records live: defaults, computed values, validations, filters."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import table_rows


@pytest.fixture
def makers(admin):
    de = admin.post("maker", {"name": "Berlin Bits", "country": "DE"}).get_json()
    fr = admin.post("maker", {"name": "Paris Puces", "country": "FR"}).get_json()
    return de, fr


def voucher(admin, **values):
    return admin.post("voucher", {"code": "V-1", **values})


def test_dsl_defaults_computed_and_stored_fields(admin, makers):
    de, _ = makers
    response = voucher(
        admin,
        maker=de["id"],
        lines=[
            {"item": "router", "qty": 2, "unit_price": "80.00", "discount": 10},
            {"item": "cable", "unit_price": "5.50"},
        ],
    )
    body = response.get_json()
    assert response.status_code == 201, body
    today = dt.datetime.now(dt.UTC).date()
    assert body["issued_on"] == today.isoformat()
    assert body["valid_until"] == (today + dt.timedelta(days=30)).isoformat()
    assert [float(line["line_total"]) for line in body["lines"]] == [144.0, 5.5]
    assert float(body["total"]) == 149.5
    assert body["line_count"] == 2 and body["big_lines"] == 1
    assert body["days_left"] == 30
    assert body["label"] == "V-1 / DE" and body["maker_name"] == "Berlin Bits"
    assert body["expires_at"] is not None  # Python-only function, evaluated on read

    updated = admin.patch(f"voucher/{body['id']}", {"lines": [{"item": "switch", "qty": 3, "unit_price": 100}]})
    assert float(updated.get_json()["total"]) == 300.0
    listed = admin.get("voucher?fields=total,line_count,label").get_json()["data"][0]
    assert float(listed["total"]) == 300.0 and listed["line_count"] == 1 and listed["label"] == "V-1 / DE"


def test_validations_answer_422_with_the_rule_message(admin, workspace):
    response = voucher(admin, status="void")
    assert response.status_code == 422
    assert response.get_json()["errors"] == [{"field": "reason", "message": "A void voucher needs a reason."}]
    backwards = voucher(admin, issued_on="2026-05-01", valid_until="2026-04-01")
    assert backwards.get_json()["errors"][0]["message"] == "The voucher cannot expire before it is issued."
    assert table_rows(workspace, "voucher") == 0


def test_readonly_if_refuses_changes_in_that_state(admin):
    created = voucher(admin, amount=10).get_json()
    assert admin.patch(f"voucher/{created['id']}", {"amount": 12}).status_code == 200
    admin.patch(f"voucher/{created['id']}", {"status": "issued"})
    refused = admin.patch(f"voucher/{created['id']}", {"amount": 15})
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "amount"


def test_link_filter_limits_the_choices(admin, makers):
    de, fr = makers
    assert voucher(admin, maker=de["id"]).status_code == 201
    refused = voucher(admin, maker=fr["id"])
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "maker"
    assert voucher(admin, maker=fr["id"], country="FR").status_code == 201


def test_visible_if_is_published_in_meta(admin):
    fields = {f["name"]: f for f in admin.get("meta/entities/voucher").get_json()["fields"]}
    assert fields["reason"]["visible_if"] == 'status == "void"'
    assert fields["amount"]["readonly_if"] == 'status != "draft"'


def test_filter_parameter_with_links_aggregates_and_nulls(admin, makers):
    de, fr = makers
    voucher(admin, code="A", maker=de["id"], lines=[{"item": "x", "qty": 5, "unit_price": 30}])
    voucher(admin, code="B", maker=fr["id"], country="FR", lines=[{"item": "y", "unit_price": 10}])
    voucher(admin, code="C")

    def codes(expression: str) -> list[str]:
        response = admin.get("voucher", query_string={"filter": expression, "sort": "code"})
        assert response.status_code == 200, response.get_json()
        return [r["code"] for r in response.get_json()["data"]]

    assert codes('maker.country == "FR"') == ["B"]
    assert codes("sum(lines.line_total) > 100") == ["A"]
    assert codes("count(lines) == 0") == ["C"]
    assert codes("maker == null") == ["C"]
    assert codes('maker.name ~ "bits" or code == "C"') == ["A", "C"]
    assert codes('code in ("A", "C") and not (total > 1000)') == ["A", "C"]
    assert codes('maker.country != "FR"') == ["A"]  # a missing maker is unknown, not "different"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("code == ", "the expression ends too early"),
        ('status == "lost"', "'lost' is not one of the options: draft, issued, void"),
        ('total > "x"', "cannot compare decimal with string"),
        ("nope == 1", "voucher has no field 'nope'"),
        ('matches(code, "^A")', "matches() cannot be used here: it has no SQL form"),
        ("issued_on + 3 > today()", "add a duration such as 3d"),
    ],
)
def test_bad_filters_are_400_with_a_caret(admin, workspace, expression, message):
    response = admin.get("voucher", query_string={"filter": expression})
    body = response.get_json()
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert message in body["detail"] and "^" in body["detail"]
    assert body["errors"][0]["field"] == "filter"


def test_filter_on_related_lists(admin, makers):
    de, _ = makers
    gadget = admin.post("gadget", {"name": "g1", "maker": de["id"], "count": 3}).get_json()
    admin.post("gadget", {"name": "g2", "maker": de["id"], "count": 9})
    related = admin.get(f"maker/{de['id']}/related/gadget.maker", query_string={"filter": "count < 5"}).get_json()
    assert [r["id"] for r in related["data"]] == [gadget["id"]]


def test_aggregate_groups_and_metrics_in_sql(admin):
    for status, count, price in (("draft", 1, "10.50"), ("draft", 2, "4.50"), ("live", 5, None), ("live", None, 3)):
        admin.post("gadget", {"name": "g", "status": status, "count": count, "price": price})
    body = {
        "filter": 'name == "g"',
        "group_by": ["status"],
        "metrics": {"n": "count()", "total": "sum(price)", "avg_count": "avg(count)", "most": "max(count * 2)"},
    }
    response = admin.post("gadget/aggregate", body)
    assert response.status_code == 200, response.get_json()
    rows = {r["status"]: r for r in response.get_json()["data"]}
    assert rows["draft"]["n"] == 2 and float(rows["draft"]["total"]) == 15.0
    assert float(rows["draft"]["avg_count"]) == 1.5 and rows["draft"]["most"] == 4
    assert rows["live"]["n"] == 2 and float(rows["live"]["total"]) == 3.0 and rows["live"]["most"] == 10
    overall = admin.post("gadget/aggregate", {"metrics": {"n": "count()"}}).get_json()["data"]
    assert overall == [{"n": 4}]


@pytest.mark.parametrize(
    "body",
    [
        {"group_by": ["parts"]},
        {"group_by": ["nope"]},
        {"metrics": {"n": "median(price)"}},
        {"metrics": {"n": "sum(name)"}},
        {"metrics": {"n": "sum(nope)"}},
        {"filter": "count >"},
        [],
        {"extra": 1},
    ],
)
def test_bad_aggregate_requests_are_400(admin, body):
    response = admin.post("gadget/aggregate", body)
    assert response.status_code == 400, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_plugin_function_with_both_forms_works_in_defaults_and_filters(config):
    from engine.actor import SYSTEM
    from engine.dsl import default_functions
    from engine.dsl.functions import Function
    from engine.dsl.sqlparts import SqlValue
    from engine.workspace import Workspace

    functions = default_functions().copy()
    functions.register(
        Function(
            "double",
            "double(number) -> number",
            lambda x: x * 2,
            lambda ctx, x: SqlValue(x.expr * 2),
            "Twice the number.",
            "double(count)",
        )
    )
    ws = Workspace(config, meta_check_interval=0, functions=functions)
    ws.install()
    for count in (1, 5, 9):
        ws.records.create(SYSTEM, "gadget", {"name": f"g{count}", "count": count})
    page = ws.records.list(SYSTEM, "gadget", {"filter": "double(count) > 9", "sort": "count"})
    assert [r["count"] for r in page.data] == [5, 9]  # the filter ran in SQL (list filters need a SQL form)


def test_links_filters_check_every_chosen_record(admin, makers):
    de, fr = makers
    assert voucher(admin, partners=[de["id"]]).status_code == 201
    refused = voucher(admin, partners=[de["id"], fr["id"]])
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "partners"


def test_fields_computed_on_read_cannot_be_filtered(admin):
    response = admin.get("voucher", query_string={"filter": "line_count > 1"})
    assert response.status_code == 400
    assert "computed on read" in response.get_json()["detail"]
    assert admin.get("voucher", query_string={"filter": "total > 1"}).status_code == 200  # stored: fine
