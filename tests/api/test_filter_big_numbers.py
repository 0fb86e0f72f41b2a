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
