"""Record ids: UUIDv7 strings, time-ordered (index friendly, monotonic within a process) with 62 random bits.

Python 3.11 has no ``uuid.uuid7``; the layout below follows RFC 9562 section 5.7.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID_LENGTH = 36


_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, counter) of the previous id made by this process


def new_id() -> str:
    """A new id, greater than every id this process made before (RFC 9562 method 1: the
    12 ``rand_a`` bits count ids within one millisecond), so records and audit entries
    written in one instant keep their order; 62 random bits keep ids unguessable."""
    global _last
    with _lock:
        ms = time.time_ns() // 1_000_000
        last_ms, counter = _last
        if ms <= last_ms:
            ms, counter = (last_ms, counter + 1) if counter < 0xFFF else (last_ms + 1, 0)
        else:
            counter = 0
        _last = (ms, counter)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= secrets.randbits(62)
    h = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_PATTERN.match(value))
