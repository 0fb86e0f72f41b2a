"""An import's batches: their default size by mode, and the garbage collector paused while
they are written (collected between them, so memory stays flat)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.dataio.import_rows import collection_between_batches
from engine.dataio.importing import ImportOptions, import_table
from engine.dataio.sources import SourceError, read_table
from engine.workspace import Workspace


def gadgets(rows: int) -> bytes:
    return ("name,count\n" + "".join(f"Gadget {i},{i}\n" for i in range(1, rows + 1))).encode()


def run(ws: Workspace, data: bytes, progress: Any = None, **options: Any) -> Any:
    table = read_table(data, filename="gadgets.csv")
    return import_table(ws, SYSTEM, "gadget", table, ImportOptions(parallel=False, **options), progress)


@pytest.fixture
def collecting():
    """The test begins with automatic collection on, and leaves it as it found it."""
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize(
    ("partial", "progress"),
    [(False, [2500, 2600]), (True, [1000, 2000, 2600])],
    ids=["all-or-nothing", "partial"],
)
def test_batches_are_larger_unless_each_commits_on_its_own(workspace, partial, progress):
    seen: list[int] = []
    report = run(workspace, gadgets(2600), seen.append, partial=partial)
    assert seen == progress
    assert report.created == 2600 and report.written
    if partial:  # the unit that commits or not stays at 1,000 rows
        assert [(b.first_row, b.last_row) for b in report.batches] == [(1, 1000), (1001, 2000), (2001, 2600)]


@pytest.mark.parametrize("partial", [False, True], ids=["all-or-nothing", "partial"])
def test_a_batch_size_given_is_kept_in_either_mode(workspace, partial):
    seen: list[int] = []
    run(workspace, gadgets(25), seen.append, batch_size=10, partial=partial)
    assert seen == [10, 20, 25]


def test_garbage_is_collected_between_batches_not_while_they_are_written(workspace, collecting):
    class Node:
        pass

    states: list[bool] = []
    left: list[weakref.ref[Node]] = []
    still_alive: list[bool] = []

    def progress(done: int) -> None:
        states.append(gc.isenabled())
        still_alive.extend(ref() is not None for ref in left)
        node = Node()
        node.me = node  # type: ignore[attr-defined]  # a cycle: only the collector frees it
        left[:] = [weakref.ref(node)]

    run(workspace, gadgets(30), progress, batch_size=10)
    assert states == [False, False, False]  # paused during the run
    assert still_alive == [False, False]  # yet each batch's cycles are gone by the next
    assert gc.isenabled()


def test_collection_resumes_after_an_import_that_fails(workspace, collecting):
    data = ("name\n" + "Ann\n" * 10 + "\n" * 200_000).encode() + b"M\xfcller\n"  # beyond the sniffed sample
    with pytest.raises(SourceError, match="not valid utf-8"):
        run(workspace, data, batch_size=5)
    assert gc.isenabled()


def test_nested_blocks_resume_collection_when_the_last_ends(collecting):
    with collection_between_batches():
        with collection_between_batches() as between:
            assert not gc.isenabled()
            between()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collection_that_was_off_stays_off(collecting):
    gc.disable()
    with collection_between_batches():
        pass
    assert not gc.isenabled()
