"""Record ids: UUIDv7 strings, time-ordered (index friendly) with 74 random bits.

Python 3.11 has no ``uuid.uuid7``; the layout below follows RFC 9562 section 5.7.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid

ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID_LENGTH = 36


def new_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # 12 random bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def is_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_PATTERN.match(value))
