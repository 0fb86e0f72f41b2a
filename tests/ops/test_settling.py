"""A long-lived process freezes what it holds after start-up (engine.settling), and frees a
snapshot that a metadata change replaced."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from engine.settling import settle, settled
from engine.storage.database import write_transaction
from engine.workspace import Workspace


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # this test process must not keep what the test froze


def test_settling_freezes_the_metadata_built_at_start(workspace: Workspace, unfrozen: None) -> None:
    settle([workspace])
    snap = workspace.snapshot()
    assert gc.get_freeze_count() > 0
    assert workspace.reload() is snap  # unchanged metadata: nothing built again, nothing thawed
    assert gc.get_freeze_count() > 0


def test_a_snapshot_replaced_after_a_metadata_change_is_freed(workspace: Workspace, unfrozen: None) -> None:
    settle([workspace])
    old = weakref.ref(workspace.snapshot())
    with write_transaction(workspace.db) as conn:  # another process changed the metadata
        workspace.bump_version(conn)
    new = workspace.reload()
    assert new is not old()
    assert gc.get_freeze_count() == 0  # everything frozen is the collector's again
    gc.collect()
    assert old() is None


def test_a_long_command_is_settled_only_while_it_runs(workspace: Workspace, unfrozen: None) -> None:
    with settled([workspace]):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # what the command froze is the collector's again
