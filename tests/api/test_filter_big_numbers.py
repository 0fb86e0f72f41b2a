"""Whole numbers in the expression language have any size (docs/dsl.md): a filter with one
beyond 64 bits compares as a number on both databases, or is a clear 400, never a 500.
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any


def test_a_filter_with_a_number_beyond_64_bits_is_answered(admin: Any) -> None:
    assert admin.post("gadget", {"name": "small", "count": 7}).status_code == 201
    below = admin.get("gadget?filter=count < 99999999999999999999")
    assert below.status_code == 200, below.get_json()
    assert [r["name"] for r in below.get_json()["data"]] == ["small"]
    above = admin.get("gadget?filter=count > -99999999999999999999")
    assert [r["name"] for r in above.get_json()["data"]] == ["small"]
    far = admin.get("gadget?filter=released_on + 99999999999999999d > today()")
    assert far.status_code in (200, 400), far.get_json()


def test_date_arithmetic_out_of_the_years_1_to_9999_is_empty_on_both_databases(admin: Any) -> None:
    """PostgreSQL refused the filter ("date out of range", a 400) where SQLite and the docs
    give an empty value, which no comparison matches."""
    assert admin.post("gadget", {"name": "dated", "released_on": "2026-03-01"}).status_code == 201
    for far in (
        "released_on > today() - 99999999d",
        "released_on + 99999999d > today()",
        "today() - 9999999d < released_on",
    ):
        answer = admin.get("gadget", query_string={"filter": far})
        assert answer.status_code == 200, (far, answer.get_json())
        assert answer.get_json()["data"] == [], far
    near = admin.get("gadget", query_string={"filter": "released_on - 738000d < 0010-01-01"})  # year 6
    assert near.status_code == 200, near.get_json()
    assert [r["name"] for r in near.get_json()["data"]] == ["dated"]
