"""Record ids: UUIDv7 strings, time-ordered (index friendly, monotonic within a process) with 62 random bits.

Python 3.11 has no ``uuid.uuid7``; the layout below follows RFC 9562 section 5.7.
"""

from __future__ import annotations

import os
import re
import threading
import time

ID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ID_LENGTH = 36


_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, counter) of the previous id made by this process
_RANDOM_BATCH = 512  # ids' worth of random bytes read from the system at once
_random: list[int] = []  # unused random 62-bit values, taken from the end


def _refill() -> None:
    """Read random bits for the next ids in one system call (one per id cost as much as the
    rest of the id); the caller holds the lock."""
    data = os.urandom(8 * _RANDOM_BATCH)
    _random[:] = [v >> 2 for v in memoryview(data).cast("Q")]


def _forget_random() -> None:
    """A forked child must not reuse the random bits its parent may use too."""
    _random.clear()


os.register_at_fork(after_in_child=_forget_random)


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
        if not _random:
            _refill()
        bits = _random.pop()
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= bits
    h = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_id(value: object) -> bool:
    return isinstance(value, str) and bool(ID_PATTERN.match(value))
