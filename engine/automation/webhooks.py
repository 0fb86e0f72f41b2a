"""Placeholder: the webhooks component (being built)."""

from __future__ import annotations

from engine.automation.model import BaseComponent


class _Component(BaseComponent):
    name = "webhooks"


COMPONENT = _Component()
