"""Tessera: a metadata-driven CRM engine.

``create_app(config)`` is the entry point for WSGI servers and tests.
"""

from __future__ import annotations

__version__ = "0.1.0"

from engine.app import create_app

__all__ = ["__version__", "create_app"]
