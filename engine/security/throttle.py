"""Counting attempts: sign-in rate limits and account lockout.

Counts are kept with the ``limits`` library (the engine of flask-limiter): in Redis when
``TESSERA_REDIS_URL`` is set, so several processes share them, and in process memory
otherwise. Only the throttled operations pay for a check. When Redis cannot be reached,
counting falls back to process memory for half a minute at a time (with a warning in the
log), so sign-in keeps working, limited per process, until Redis answers again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from limits import parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from engine.errors import RateLimited

log = logging.getLogger("tessera.security")
#: seconds to count in process memory after Redis failed, before trying it again
RETRY_REDIS_AFTER = 30.0
#: seconds a Redis call may take before it counts as a failure
REDIS_TIMEOUT = 2.0


class Throttle:
    """At most ``limit`` (e.g. "10 per minute") hits per key and endpoint."""

    def __init__(self, limit: str, redis_url: str | None):
        self.item = parse(limit)
        if redis_url:
            timeouts = {"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT}
            self.limiter = FixedWindowRateLimiter(storage_from_string(redis_url, **timeouts))
        else:
            self.limiter = FixedWindowRateLimiter(storage_from_string("memory://"))
        #: used while the shared (Redis) counts cannot be reached
        self._local = FixedWindowRateLimiter(MemoryStorage()) if redis_url else None
        self._redis_down_until = 0.0

    def _count(self, method: str, *args: Any) -> Any:
        if self._local is not None and time.monotonic() < self._redis_down_until:
            return getattr(self._local, method)(self.item, *args)
        try:
            return getattr(self.limiter, method)(self.item, *args)
        except Exception as exc:  # Redis down: count in this process rather than fail the request
            if self._local is None:
                raise
            self._redis_down_until = time.monotonic() + RETRY_REDIS_AFTER
            log.warning(
                "rate limits cannot reach Redis (%s); counting in this process for %g s", exc, RETRY_REDIS_AFTER
            )
            return getattr(self._local, method)(self.item, *args)

    def locked(self, scope: str, key: str) -> bool:
        """Has ``key`` used up its attempts (without counting one more)?"""
        return not self._count("test", scope, key)

    def hit(self, scope: str, key: str) -> None:
        if not self._count("hit", scope, key):
            reset = self._count("get_window_stats", scope, key).reset_time
            raise RateLimited(
                "Too many attempts; wait a moment and try again", retry_after=max(1, int(reset - time.time()))
            )
