"""``count_where(ENTITY, condition)``: counting the records of another entity, in list filters
(SQL, correlated with the filtered record) and with clear load-time errors. The Python form
(a record being written, its values as parameters) is walked by the projects pack's staffing
check in tests/service/test_projects.py."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api


def _create(api: Api, entity: str, values: dict[str, Any]) -> dict[str, Any]:
    reply = api.post(entity, values)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def _names(api: Api, condition: str) -> list[str]:
    reply = api.get("maker", query_string={"filter": condition, "sort": "name"})
    assert reply.status_code == 200, reply.get_json()
    return [m["name"] for m in reply.get_json()["data"]]


def test_count_where_counts_other_records_per_filtered_record(admin: Api) -> None:
    acme, bolt, cog = (_create(admin, "maker", {"name": n, "country": "DE"}) for n in ("Acme", "Bolt", "Cog"))
    for code, maker, status in (("A1", acme, "issued"), ("A2", acme, "issued"), ("A3", acme, "draft")):
        _create(admin, "voucher", {"code": code, "maker": maker["id"], "status": status})
    _create(admin, "voucher", {"code": "B1", "maker": bolt["id"], "status": "issued"})
    deleted = _create(admin, "voucher", {"code": "B2", "maker": bolt["id"], "status": "issued"})
    assert admin.delete(f"voucher/{deleted['id']}").status_code in (200, 204)  # the trash does not count
    _create(admin, "voucher", {"code": "C1", "maker": cog["id"], "partners": [acme["id"]]})

    # bare names are the counted vouchers' fields, $record the maker being filtered
    assert _names(admin, 'count_where(voucher, maker == $record and status == "issued") >= 2') == ["Acme"]
    assert _names(admin, "count_where(voucher, maker == $record) == 1") == ["Bolt", "Cog"]
    assert _names(admin, "count_where(voucher, maker == $record.id and code ~ $record.name) == 0") == [
        "Acme",
        "Bolt",
        "Cog",
    ]
    # to-many fields of the counted records, and a name the voucher lacks is the maker's own
    assert _names(admin, "count_where(voucher, $record in partners) > 0") == ["Acme"]
    assert _names(admin, 'count_where(voucher, maker == $record and name != "Bolt") == 3') == ["Acme"]
    assert _names(admin, 'count_where(maker, true) == 3 and name == "Cog"') == ["Cog"]


def test_count_where_mistakes_are_refused_when_the_filter_is_read(admin: Api) -> None:
    cases = {
        "count_where(nope, true) > 0": "unknown entity 'nope'",
        "count_where(voucher) > 0": "write count_where(ENTITY, condition)",
        "count_where($user, true) > 0": "write count_where(ENTITY, condition)",
        "count_where(voucher, code) > 0": "must be true or false",
        "count_where(voucher, nope == 1) > 0": "no field 'nope'",
        'count_where(voucher, matches(code, "A")) > 0': "no SQL form",
        "count_where(voucher, true)": "a condition must be true or false, not int",
    }
    for condition, message in cases.items():
        reply = admin.get("maker", query_string={"filter": condition})
        assert reply.status_code == 400, condition
        assert reply.headers["Content-Type"] == "application/problem+json"
        assert message in reply.get_json()["detail"], (condition, reply.get_json()["detail"])
    nested = admin.get("voucher", query_string={"filter": "count(lines, count_where(maker, true) > 0) > 0"})
    assert nested.status_code == 400
    assert "inside the condition of an aggregate" in nested.get_json()["detail"]
