"""Input fields: a value that passes comes back converted; a refused one names every check it fails."""

from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError as MarshmallowError

from engine.errors import ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef, Origin
from engine.storage.validation import build_schema, load_input, marshmallow_field

HERE = Origin("test.yaml")
CATALOG = Catalog([], {})


def _field(name: str, type_: str, **options) -> FieldDef:
    return FieldDef(name, type_, options, HERE, "test")


def _errors(fd: FieldDef, value) -> list[str]:
    field = marshmallow_field(fd, CATALOG)
    with pytest.raises(MarshmallowError) as raised:
        field.deserialize(value)
    return raised.value.messages


def test_a_value_failing_two_checks_gets_both_messages():
    assert _errors(_field("code", "string", max_length=3, pattern="^[A-Z]+$"), "abcd") == [
        "Longer than maximum length 3.",
        "Does not match the expected format.",
    ]


def test_a_value_failing_one_of_two_checks_gets_its_message():
    assert _errors(_field("email", "email"), "a@b") == ["Not a valid email address."]
    assert _errors(_field("code", "string", max_length=3, pattern="^[A-Z]+$"), "ABCD") == [
        "Longer than maximum length 3."
    ]


def test_values_that_pass_come_back_converted_and_none_stays_none():
    assert marshmallow_field(_field("email", "email"), CATALOG).deserialize("ann@example.com") == ("ann@example.com")
    assert marshmallow_field(_field("price", "money", min=0), CATALOG).deserialize("10.5") == Decimal("10.50")
    assert marshmallow_field(_field("price", "money", min=0), CATALOG).deserialize(None) is None
    assert _errors(_field("price", "money", min=0), "-1") == ["Must be greater than or equal to 0."]


def test_load_input_lists_each_message_of_a_field():
    entity = EntityDef(
        "thing", "Thing", "test", HERE, {"code": _field("code", "string", max_length=3, pattern="^[A-Z]+$")}
    )
    with pytest.raises(ValidationError) as raised:
        load_input(build_schema(entity, CATALOG), entity, {"code": "abcd"})
    assert [(e.field, e.message) for e in raised.value.errors] == [
        ("code", "Longer than maximum length 3."),
        ("code", "Does not match the expected format."),
    ]
