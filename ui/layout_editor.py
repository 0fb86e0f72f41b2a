"""Placeholder: filled by the layout_editor work."""

from __future__ import annotations
