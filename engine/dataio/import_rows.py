"""An import's rows made ready for writing, in this process or in a second one beside it.

Making a row ready (its cells converted to values, and the values that need no database
validated as a create validates them) reads nothing and writes nothing, and costs about a
third of an import's time in this process. A large import on a machine with more than one
core makes the rows ready in a forked process while this one writes the batches before them
(and PostgreSQL stores them), so the two work at the same time.

The forked process only reads the source and computes; it never uses a database
connection it inherited, sends the batches through a pipe (which holds at most about 1 MB,
a few batches, so memory stays flat however large the file), and ends with ``os._exit`` like every
``multiprocessing`` child, so nothing inherited is finalised. It is forked only from a
process running no other thread, since a lock another thread held at the fork would stay
held in the child for ever; other processes (an import job beside its heartbeat thread, a
web server) make the rows ready themselves, with the same code.

Either process pauses the garbage collector's automatic runs while it works through the
batches (:func:`collection_between_batches`): a batch's rows hold no reference cycles and are
freed as soon as it is written, yet each automatic run scans the batch's tens of thousands
of live objects again (a twentieth of the writer's time). The young objects are collected
between two batches instead, so memory stays as flat.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.dataio.report import RowError

Cells = list[str | None]
PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged process


@dataclass(slots=True)
class ReadyRow:
    number: int
    cells: Cells
    #: the converted values; None when a cell could not be converted (``errors`` say why)
    values: dict[str, Any] | None
    errors: list[RowError] = field(default_factory=list)
    #: the values and constants validated, those of link columns left out (they hold names
    #: until the links are resolved); None: validate the whole row once linked
    loaded: dict[str, Any] | None = None


class ImportProcessError(RuntimeError):
    """The second process ended without finishing its rows (killed, out of memory)."""


def numbered_batches(rows: Iterator[Cells], size: int) -> Iterator[list[tuple[int, Cells]]]:
    """The file's rows with their numbers, ``size`` to a batch; a blank line is not a row,
    but it keeps the numbering of the file."""
    batch: list[tuple[int, Cells]] = []
    for number, cells in enumerate(rows, start=1):
        if not cells or all(c is None or not c.strip() for c in cells):
            continue
        batch.append((number, cells))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def ready_batches(
    batches: Iterator[list[tuple[int, Cells]]], ready: Callable[[int, Cells], ReadyRow], parallel: bool
) -> Iterator[list[ReadyRow]]:
    """The ``batches`` made ready with ``ready``; after the first batch (a small file never
    starts a process), in a second process when ``parallel`` and :func:`can_fork` allow."""
    first = next(batches, None)
    if first is None:
        return
    yield [ready(number, cells) for number, cells in first]
    if parallel and can_fork():
        yield from _forked(batches, ready)
        return
    for batch in batches:
        yield [ready(number, cells) for number, cells in batch]


@contextlib.contextmanager
def collection_between_batches() -> Iterator[Callable[[], None]]:
    """Pause the automatic garbage collection (see the module doc) for the block; the block
    calls the function it is given between two batches, which collects the young objects.
    Nested or concurrent blocks (import jobs in threads) resume collection when the last ends."""
    global _pausing, _was_enabled
    with _pause_lock:
        if _pausing == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausing += 1
    try:
        yield _collect_young
    finally:
        with _pause_lock:
            _pausing -= 1
            if _pausing == 0 and _was_enabled:
                gc.enable()


def _collect_young() -> None:
    gc.collect(1)


_pause_lock = threading.Lock()
_pausing = 0  # blocks inside collection_between_batches
_was_enabled = True  # was collection on when the first of them began?


def paced(
    batches: Iterator[list[ReadyRow]], progress: Callable[[int], None] | None, between: Callable[[], None]
) -> Iterator[list[ReadyRow]]:
    """The batches; once each is written, the young garbage is collected (see the
    module doc) and the rows done so far reported to ``progress``."""
    done = 0
    for rows in batches:
        yield rows
        done += len(rows)
        between()
        if progress is not None:
            progress(done)


def can_fork() -> bool:
    """Is a second process worth it (more than one core) and safe: no other thread runs, the
    process is no daemon of ``multiprocessing`` (which may not have children), and the system
    forks safely (not macOS, whose system libraries may not be used after a fork)?"""
    return (
        (os.cpu_count() or 1) > 1
        and sys.platform != "darwin"
        and "fork" in multiprocessing.get_all_start_methods()
        and not other_threads()
        and not multiprocessing.current_process().daemon
    )


def other_threads() -> bool:
    """Does a thread other than this one run in the process?"""
    return threading.active_count() > 1


def _forked(
    batches: Iterator[list[tuple[int, Cells]]], ready: Callable[[int, Cells], ReadyRow]
) -> Iterator[list[ReadyRow]]:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    _widen(receiver)
    child = context.Process(target=_make_ready, args=(batches, ready, sender), name="tessera-import", daemon=True)
    child.start()
    sender.close()
    try:
        while True:
            try:
                message = receiver.recv()
            except EOFError:
                child.join()
                raise ImportProcessError(  # the caller's transaction rolls back (--partial: this batch's)
                    f"the import's second process ended unexpectedly (exit code {child.exitcode})"
                ) from None
            if message is None:
                break
            kind, payload = message
            if kind == "error":
                raise payload
            yield [ReadyRow(*fields) for fields in payload]
        child.join()
    finally:
        receiver.close()
        if child.is_alive():  # the writer stopped first (an error, an interrupt): so does the child
            child.kill()
            child.join()


def _widen(pipe: Any) -> None:
    """Let the pipe hold a few batches (Linux: 1 MB; 64 KB by default, less than one batch), so the
    second process goes on while this one waits for the database."""
    with contextlib.suppress(ImportError, AttributeError, OSError):  # not Linux: the default size
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _make_ready(
    batches: Iterator[list[tuple[int, Cells]]], ready: Callable[[int, Cells], ReadyRow], sender: Any
) -> None:
    """The second process: every remaining batch made ready and sent, then None; an error
    (an unreadable row of the file) is sent for the writer to raise."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the writer, which stops this process
    gc.freeze()  # what was inherited is never collected here (nor finalised: see the module doc)
    try:
        with collection_between_batches() as between:
            for batch in batches:
                rows = [ready(number, cells) for number, cells in batch]
                # as tuples: pickled in less than half the time of the dataclass
                sender.send(("rows", [(r.number, r.cells, r.values, r.errors, r.loaded) for r in rows]))
                del rows
                between()
        sender.send(None)
    except BaseException as exc:
        text = "".join(traceback.format_exception(exc))
        exc.add_note("Raised in the import's second process:\n" + text)
        with contextlib.suppress(OSError):  # the writer stopped reading (it stopped first): nothing to tell
            try:
                sender.send(("error", exc))
            except OSError:
                raise
            except Exception:  # an error that cannot be pickled: its text
                sender.send(("error", RuntimeError(text)))
    finally:
        sender.close()
