"""Counting attempts: sign-in rate limits and account lockout.

Counts are kept with the ``limits`` library (the engine of flask-limiter): in Redis when
``TESSERA_REDIS_URL`` is set, so several processes share them, and in process memory
otherwise. Only the throttled operations pay for a check.
"""

from __future__ import annotations

import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from engine.errors import RateLimited


class Throttle:
    """At most ``limit`` (e.g. "10 per minute") hits per key and endpoint."""

    def __init__(self, limit: str, redis_url: str | None):
        self.item = parse(limit)
        self.limiter = FixedWindowRateLimiter(storage_from_string(redis_url or "memory://"))

    def locked(self, scope: str, key: str) -> bool:
        """Has ``key`` used up its attempts (without counting one more)?"""
        return not self.limiter.test(self.item, scope, key)

    def hit(self, scope: str, key: str) -> None:
        if not self.limiter.hit(self.item, scope, key):
            reset = self.limiter.get_window_stats(self.item, scope, key).reset_time
            raise RateLimited(
                "Too many attempts; wait a moment and try again", retry_after=max(1, int(reset - time.time()))
            )
