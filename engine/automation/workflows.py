"""Placeholder: the workflows component (being built)."""

from __future__ import annotations

from engine.automation.model import BaseComponent


class _Component(BaseComponent):
    name = "workflows"


COMPONENT = _Component()
