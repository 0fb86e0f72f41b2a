"""Scheduled rules: cron and relative-date schedules (being built)."""

from __future__ import annotations

from typing import Any

from engine.meta.model import EntityDef


def check_schedule(c: Any, spec: dict[str, Any], entity: EntityDef) -> dict[str, Any]:
    return dict(spec)
