"""``engine.timezones.zone_named``: a zone for every IANA name, None for anything else, never
an exception (a name is looked up as a file, so a malformed one used to raise OSError)."""

from __future__ import annotations

import pytest

from engine.timezones import zone_named


def test_known_names_give_their_zone() -> None:
    zone = zone_named("Europe/Berlin")
    assert zone is not None and zone.key == "Europe/Berlin"


@pytest.mark.parametrize(
    "name", ["", None, 42, "Mars/Olympus", "x" * 300, "/etc/passwd", "../UTC", "UTC\x00", "Europe"]
)
def test_anything_else_is_none(name: object) -> None:
    assert zone_named(name) is None
