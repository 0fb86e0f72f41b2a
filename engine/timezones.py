"""Time zones by IANA name, from text that users, imports and packs send."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = ZoneInfo("UTC")


def zone_named(name: object) -> ZoneInfo | None:
    """The time zone called ``name``; None when there is none by that name. That includes
    names that are malformed (``../x``, a NUL) or too long for the file system to look up:
    ``ZoneInfo`` reads a file named after the zone and raises ``OSError`` for those."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
