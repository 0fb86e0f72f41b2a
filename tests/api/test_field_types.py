"""Every field type of ``gadget`` round-trips through the API in its documented JSON shape.

docs/api.md "Value shapes": decimals come back as exact JSON numbers with the field's
scale, datetimes in UTC with an offset, durations as integer seconds, links as ids (in
order), table rows with their ids, json as given, secrets masked. Each value is written
with POST, read back with GET, on every backend; hypothesis draws the values.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.storage.ids import is_id

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# -- strategies ---------------------------------------------------------------------------
ONE_LINE = st.text(st.characters(codec="utf-8", exclude_characters="\x00\r\n"), min_size=1, max_size=120)
NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")
MULTI_LINE = st.text(NO_NUL, max_size=400)
OFFSETS = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
DATETIMES = st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9997, 12, 31), timezones=OFFSETS)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(NO_NUL, max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(NO_NUL, max_size=10), inner, max_size=4),
    max_leaves=12,
)


def decimals(places: int, low: str, high: str, digits: int) -> st.SearchStrategy[Decimal]:
    """Decimals in [low, high] with at most ``places`` decimal places and ``digits``
    significant digits: 18 on PostgreSQL (NUMERIC(18, scale)); SQLite stores REAL, which
    keeps about 15 (a documented limit, docs/architecture.md)."""

    def scaled(p: int) -> st.SearchStrategy[Decimal]:
        lo = max(int(Decimal(low).scaleb(p)), -(10**digits - 1))
        hi = min(int(Decimal(high).scaleb(p)), 10**digits - 1)
        return st.integers(lo, hi).map(lambda n: Decimal(n).scaleb(-p))

    return st.integers(0, places).flatmap(scaled)


def significant_digits(backend: str) -> int:
    return 15 if backend == "sqlite" else 18


def as_number_or_string(value: Decimal) -> st.SearchStrategy[Any]:
    """The API takes a decimal as an exact JSON number or as a decimal string."""
    return st.sampled_from([value, str(value)])


# -- helpers ------------------------------------------------------------------------------
def roundtrip(api: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Create a gadget with ``values``, read it back; both answers must agree."""
    created = api.post("gadget", {"name": "Probe", **values})
    assert created.status_code == 201, created.get_json()
    fetched = api.get(f"gadget/{created.get_json()['id']}")
    assert fetched.status_code == 200
    assert fetched.get_json() == created.get_json()
    return fetched.get_json()  # decimals parsed exactly, as Decimal


def assert_same_json(got: Any, given: Any) -> None:
    """``got`` is ``given``: fractions compared as the doubles they are stored as (a backend
    may write 1e+16 as 10000000000000000), integers and everything else exactly."""
    if isinstance(given, float):
        assert isinstance(got, int | float) and not isinstance(got, bool) and float(got) == given, (got, given)
    elif isinstance(given, list):
        assert isinstance(got, list) and len(got) == len(given), (got, given)
        for g, e in zip(got, given, strict=True):
            assert_same_json(g, e)
    elif isinstance(given, dict):
        assert isinstance(got, dict) and set(got) == set(given), (got, given)
        for key in given:
            assert_same_json(got[key], given[key])
    else:
        assert got == given and type(got) is type(given), (got, given)


def assert_scaled(value: Any, expected: Decimal, scale: int) -> None:
    assert isinstance(value, Decimal), value  # a JSON number, written with its decimals
    assert value == expected
    assert value.as_tuple().exponent == -scale, f"{value} is not written with {scale} decimals"


@pytest.fixture
def makers(admin: Any) -> list[str]:
    return [admin.post("maker", {"name": f"Maker {i}"}).get_json()["id"] for i in range(4)]


# -- one record with every type -----------------------------------------------------------
def test_every_field_type_has_its_documented_shape(admin: Any, makers: list[str]) -> None:
    me = admin.get("auth/me").get_json()["id"]
    team = admin.post("team", {"name": "Ops"}).get_json()["id"]
    record = roundtrip(
        admin,
        {
            "notes": "line 1\nline 2",
            "count": 42,
            "weight": "1.5",
            "price": 12,
            "discount": 12.5,
            "active": False,
            "released_on": "2026-01-31",
            "seen_at": "2026-01-31T09:30:00+01:00",
            "warranty": "2h 30m",
            "email": "ada@example.dev",
            "phone": "+41 44 123 45 67",
            "website": "https://example.dev/a?b=c",
            "status": "live",
            "tags": ["blue", "red", "blue"],
            "maker": makers[0],
            "makers": [makers[2], makers[0]],
            "parts": [{"label": "screw", "qty": 4, "price": "0.1", "maker": makers[1]}, {"label": "nut"}],
            "specs": {"size": [1, 2.5], "ok": True, "none": None},
            "manual": "files/manual.pdf",
            "responsible": me,
            "team": team,
            "stars": 4,
            "api_key": "s3cr3t",
        },
    )
    assert record["number"].startswith("GAD-")
    assert is_id(record["id"]) and record["version"] == 1 and record["owner"] == me
    assert record["notes"] == "line 1\nline 2" and record["count"] == 42 and record["active"] is False
    assert_scaled(record["weight"], Decimal("1.5"), 3)
    assert_scaled(record["price"], Decimal(12), 2)
    assert_scaled(record["discount"], Decimal("12.5"), 2)
    assert record["released_on"] == "2026-01-31"
    assert record["seen_at"] == "2026-01-31T08:30:00+00:00"
    assert record["warranty"] == 9000
    assert (record["email"], record["phone"], record["website"]) == (
        "ada@example.dev",
        "+41 44 123 45 67",
        "https://example.dev/a?b=c",
    )
    assert record["status"] == "live" and record["tags"] == ["blue", "red"]
    assert record["maker"] == makers[0] and record["makers"] == [makers[2], makers[0]]
    screw, nut = record["parts"]
    assert is_id(screw["id"]) and is_id(nut["id"]) and screw["id"] != nut["id"]
    assert {k: v for k, v in screw.items() if k != "id"} == {
        "label": "screw",
        "qty": 4,
        "price": Decimal("0.10"),
        "maker": makers[1],
    }
    assert {k: v for k, v in nut.items() if k != "id"} == {"label": "nut", "qty": 1, "price": None, "maker": None}
    assert record["specs"] == {"size": [1, Decimal("2.5")], "ok": True, "none": None}
    assert record["manual"] == "files/manual.pdf" and record["responsible"] == me and record["team"] == team
    assert record["stars"] == 4 and record["api_key"] == "********"


def test_unset_fields_come_back_null_or_empty_and_defaults_apply(admin: Any) -> None:
    record = roundtrip(admin, {})
    assert record["status"] == "draft" and record["active"] is True  # defaults
    assert record["makers"] == [] and record["parts"] == []
    unset = set(record) - {
        "id",
        "version",
        "created_at",
        "created_by",
        "updated_at",
        "updated_by",
        "owner",
        "number",
        "name",
        "status",
        "active",
        "makers",
        "parts",
    }
    assert unset and all(record[name] is None for name in unset), {n: record[n] for n in unset}


# -- hypothesis, type by type -------------------------------------------------------------
@SETTINGS
@given(name=ONE_LINE, notes=MULTI_LINE)
def test_strings_and_texts_round_trip(admin: Any, name: str, notes: str) -> None:
    record = roundtrip(admin, {"name": name, "notes": notes})
    assert record["name"] == name and record["notes"] == notes


@SETTINGS
@given(count=st.integers(-1000, 1_000_000), stars=st.integers(0, 5), active=st.booleans())
def test_ints_ratings_and_booleans_round_trip(admin: Any, count: int, stars: int, active: bool) -> None:
    record = roundtrip(admin, {"count": count, "stars": stars, "active": active})
    assert record["count"] == count and record["stars"] == stars and record["active"] is active
    assert type(record["count"]) is int and type(record["stars"]) is int


@SETTINGS
@given(data=st.data())
def test_decimals_are_exact_numbers_with_the_field_scale(admin: Any, backend: str, data: st.DataObject) -> None:
    digits = significant_digits(backend)
    weight = data.draw(decimals(3, "-999999999999999.999", "999999999999999.999", digits), "weight")
    price = data.draw(decimals(2, "0", "9999999999999999.99", digits), "price")
    discount = data.draw(decimals(2, "0", "100", digits), "discount")
    sent = {
        "weight": data.draw(as_number_or_string(weight)),
        "price": data.draw(as_number_or_string(price)),
        "discount": data.draw(as_number_or_string(discount)),
    }
    record = roundtrip(admin, sent)
    assert_scaled(record["weight"], weight, 3)
    assert_scaled(record["price"], price, 2)
    assert_scaled(record["discount"], discount, 2)


@SETTINGS
@given(day=st.dates(), moment=DATETIMES, zulu=st.booleans())
def test_dates_and_datetimes_come_back_in_iso_form_and_utc(
    admin: Any, day: dt.date, moment: dt.datetime, zulu: bool
) -> None:
    text = moment.isoformat()
    if zulu and moment.utcoffset() == dt.timedelta(0):
        text = text.replace("+00:00", "Z")
    record = roundtrip(admin, {"released_on": day.isoformat(), "seen_at": text})
    assert record["released_on"] == day.isoformat()
    assert record["seen_at"] == moment.astimezone(dt.UTC).isoformat()
    assert dt.datetime.fromisoformat(record["seen_at"]) == moment  # the same instant


@SETTINGS
@given(parts=st.tuples(*[st.integers(0, 60)] * 5), style=st.sampled_from(["seconds", "units", "iso"]))
def test_durations_come_back_as_integer_seconds(admin: Any, parts: tuple[int, ...], style: str) -> None:
    w, d, h, m, s = parts
    seconds = w * 604800 + d * 86400 + h * 3600 + m * 60 + s
    if style == "seconds":
        sent: Any = seconds
    elif style == "units":
        sent = " ".join(f"{n}{u}" for n, u in zip(parts, "wdhms", strict=True) if n) or "0s"
    else:
        sent = f"P{w}W{d}DT{h}H{m}M{s}S"
    record = roundtrip(admin, {"warranty": sent})
    assert record["warranty"] == seconds and type(record["warranty"]) is int


@SETTINGS
@given(seconds=st.integers(0, 2**62))
def test_any_duration_up_to_the_limit_is_kept(admin: Any, seconds: int) -> None:
    assert roundtrip(admin, {"warranty": seconds})["warranty"] == seconds


@SETTINGS
@given(
    status=st.sampled_from(["draft", "live", "retired"]),
    tags=st.lists(st.sampled_from(["red", "green", "blue"]), max_size=6),
)
def test_enum_and_multi_enum_round_trip(admin: Any, status: str, tags: list[str]) -> None:
    record = roundtrip(admin, {"status": status, "tags": tags})
    assert record["status"] == status
    assert record["tags"] == list(dict.fromkeys(tags))  # repeats dropped, order kept


@SETTINGS
@given(data=st.data())
def test_links_keep_their_order_and_link_is_an_id(admin: Any, makers: list[str], data: st.DataObject) -> None:
    chosen = data.draw(st.permutations(makers).flatmap(lambda p: st.integers(0, len(p)).map(lambda n: p[:n])))
    one = data.draw(st.sampled_from(makers) | st.none())
    record = roundtrip(admin, {"makers": chosen, "maker": one})
    assert record["makers"] == chosen and record["maker"] == one


def table_rows_strategy(digits: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    price = decimals(2, "-9999999999999999.99", "9999999999999999.99", digits)
    return st.lists(
        st.fixed_dictionaries(
            {"label": ONE_LINE.filter(lambda s: len(s) <= 80)}, optional={"qty": st.integers(1, 10**6), "price": price}
        ),
        max_size=5,
    )


@SETTINGS
@given(data=st.data())
def test_table_rows_come_back_in_order_with_ids(admin: Any, backend: str, data: st.DataObject) -> None:
    rows = data.draw(table_rows_strategy(significant_digits(backend)), "rows")
    record = roundtrip(admin, {"parts": rows})
    assert len(record["parts"]) == len(rows)
    assert all(is_id(r["id"]) for r in record["parts"])
    assert len({r["id"] for r in record["parts"]}) == len(rows)
    for sent, got in zip(rows, record["parts"], strict=True):
        assert got["label"] == sent["label"] and got["qty"] == sent.get("qty", 1) and got["maker"] is None
        if "price" in sent:
            assert_scaled(got["price"], sent["price"], 2)
        else:
            assert got["price"] is None


@SETTINGS
@given(specs=JSON_VALUES)
def test_json_comes_back_as_given(admin: Any, specs: Any) -> None:
    response = admin.post("gadget", {"name": "Probe", "specs": specs})
    assert response.status_code == 201, response.get_json()
    fetched = admin.get(f"gadget/{response.get_json()['id']}")
    assert_same_json(json.loads(fetched.get_data(as_text=True))["specs"], specs)


@SETTINGS
@given(text=st.text(NO_NUL, max_size=50))
def test_secrets_are_masked(admin: Any, text: str) -> None:
    secret = "sk-" + text  # the prefix appears nowhere else in a record
    response = admin.post("gadget", {"name": "Probe", "api_key": secret})
    assert response.status_code == 201
    fetched = admin.get(f"gadget/{response.get_json()['id']}")
    assert response.get_json()["api_key"] == fetched.get_json()["api_key"] == "********"
    for body in (response.get_data(as_text=True), fetched.get_data(as_text=True)):
        assert "sk-" not in body


# -- clearing -----------------------------------------------------------------------------
def nullable_values(maker: str, user: str, team: str) -> dict[str, Any]:
    """A value for every optional field of gadget."""
    return {
        "notes": "n",
        "count": 1,
        "weight": "1.5",
        "price": 2,
        "discount": 3,
        "active": False,
        "released_on": "2026-01-01",
        "seen_at": "2026-01-01T00:00:00Z",
        "warranty": 60,
        "email": "x@example.dev",
        "phone": "+1 555 0100",
        "website": "https://example.dev",
        "status": "live",
        "tags": ["red"],
        "maker": maker,
        "makers": [maker],
        "parts": [{"label": "screw"}],
        "specs": {"a": 1},
        "manual": "m.pdf",
        "responsible": user,
        "team": team,
        "stars": 3,
        "api_key": "k",
    }


CLEARED_AS_EMPTY = {"makers", "parts"}  # collections come back empty, not null


def test_patch_to_null_clears_each_nullable_field(admin: Any, makers: list[str]) -> None:
    me = admin.get("auth/me").get_json()["id"]
    team = admin.post("team", {"name": "Ops"}).get_json()["id"]
    full = nullable_values(makers[0], me, team)
    gadget_fields = admin.get("meta/entities/gadget").get_json()["fields"]
    writable_optional = {f["name"] for f in gadget_fields if not f["required"] and not f["readonly"]}
    assert writable_optional == set(full)  # every nullable field of the test pack is covered

    created = admin.post("gadget", {"name": "Full", **full}).get_json()
    assert all(created[name] not in (None, []) for name in full)
    path, version = f"gadget/{created['id']}", created["version"]
    for name in full:
        response = admin.patch(path, {name: None})
        assert response.status_code == 200, (name, response.get_json())
        body = response.get_json()
        assert body[name] == ([] if name in CLEARED_AS_EMPTY else None), name
        assert body["version"] == version + 1, name  # a real change, one version each
        version = body["version"]
        assert admin.get(path).get_json()[name] == body[name]
    final = admin.get(path).get_json()
    assert final["name"] == "Full"
    assert all(final[name] in (None, []) for name in full)
