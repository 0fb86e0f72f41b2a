"""Placeholder: the assignment component (being built)."""

from __future__ import annotations

from engine.automation.model import BaseComponent


class _Component(BaseComponent):
    name = "assignment"


COMPONENT = _Component()
