"""Placeholder: the sla component (being built)."""

from __future__ import annotations

from engine.automation.model import BaseComponent


class _Component(BaseComponent):
    name = "sla"


COMPONENT = _Component()
