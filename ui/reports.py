"""Placeholder: filled by the reports work."""

from __future__ import annotations
