"""``Records.acting``: the write transaction and automation run that plugins and jobs use."""

from __future__ import annotations

import pytest

from engine.actor import SYSTEM


def test_writes_through_acting_are_audited_and_commit_together(workspace):
    with workspace.records.acting(SYSTEM) as run:
        made = run.create("gadget", {"name": "From a job"}, "plugin test")
        run.update("gadget", made, {"count": 3}, "plugin test")
    stored = workspace.records.get(SYSTEM, "gadget", made)
    assert (stored["name"], stored["count"], stored["version"]) == ("From a job", 3, 2)
    history = workspace.records.history(SYSTEM, "gadget", made, {}).data
    assert sorted(h["action"] for h in history) == ["create", "update"]


def test_a_failure_inside_acting_writes_nothing(workspace):
    with pytest.raises(RuntimeError), workspace.records.acting(SYSTEM) as run:
        run.create("gadget", {"name": "Never stored"}, "plugin test")
        raise RuntimeError("the job failed")
    names = [g["name"] for g in workspace.records.list(SYSTEM, "gadget", {}).data]
    assert "Never stored" not in names
