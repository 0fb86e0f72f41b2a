"""Defences that apply to every response: security headers and rate limits.

Rate limits use flask-limiter, with Redis as the shared counter store when
``TESSERA_REDIS_URL`` is set (several processes) and process memory otherwise.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

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


def install(app: Flask, redis_url: str | None) -> Limiter:
    app.after_request(security_headers)
    return Limiter(get_remote_address, app=app, storage_uri=redis_url or "memory://", default_limits=[],
                   headers_enabled=True, strategy="fixed-window")
