"""Defences that apply to responses and sign-in: security headers, throttling.

Sign-in attempts are counted with the ``limits`` library (the engine of flask-limiter)
in Redis when ``TESSERA_REDIS_URL`` is set, so several processes share the count, and in
process memory otherwise. Only the throttled endpoints pay for a check.
"""

from __future__ import annotations

import time

from flask import Response, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from engine.errors import RateLimited

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Content-Security-Policy", CSP)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith("/api/"):
        headers.setdefault("Cache-Control", "no-store")
    return response


class Throttle:
    """At most ``limit`` (e.g. "10 per minute") hits per key and endpoint."""

    def __init__(self, limit: str, redis_url: str | None):
        self.item = parse(limit)
        self.limiter = FixedWindowRateLimiter(storage_from_string(redis_url or "memory://"))

    def hit(self, scope: str, key: str) -> None:
        if not self.limiter.hit(self.item, scope, key):
            reset = self.limiter.get_window_stats(self.item, scope, key).reset_time
            raise RateLimited("Too many attempts; wait a moment and try again",
                              retry_after=max(1, int(reset - time.time())))
