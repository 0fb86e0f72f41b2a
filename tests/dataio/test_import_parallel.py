"""A large import's rows made ready in a second process: the same report and records as in
one process, its errors raised by the writer, and no process left behind."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import threading
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dataio import import_rows
from engine.dataio.import_rows import ImportProcessError
from engine.dataio.importing import ImportOptions, _Importer, import_table
from engine.dataio.sources import SourceError, read_table
from engine.workspace import Workspace
from tests.conftest import table_rows

ROWS = 40


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> list[int]:
    """Counts the second processes started (the writer's pid, once per import that forked).

    A test process may still run threads other tests left behind; they are ignored, but for
    the test about threads, which starts its own."""
    if "threads" not in request.node.name:
        monkeypatch.setattr(import_rows, "other_threads", lambda: False)
    started: list[int] = []
    forked = import_rows._forked

    def counting(*args: Any) -> Any:
        started.append(os.getpid())
        return forked(*args)

    monkeypatch.setattr(import_rows, "_forked", counting)
    return started


@pytest.fixture
def acme(workspace: Workspace) -> str:
    return workspace.records.create(SYSTEM, "maker", {"name": "ACME", "code": "A-1"})["id"]


def gadget_file() -> bytes:
    lines = ["name,count,email,maker,api_key"]
    for i in range(1, ROWS + 1):
        count = "x" if i == 7 else str(i)  # a cell that cannot be converted
        email = "not-an-email" if i in (12, 31) else f"g{i}@example.test"  # refused by validation
        maker = "Nobody" if i in (23, 31) else "ACME"  # a link naming no record (31: and a bad e-mail)
        lines.append(f"Gadget {i:02},{count},{email},{maker},key-{i}")
    return ("\n".join(lines) + "\n").encode()


def run(ws: Workspace, data: bytes, **options: Any) -> Any:
    return import_table(ws, SYSTEM, "gadget", read_table(data, filename="gadgets.csv"), ImportOptions(**options))


@pytest.mark.parametrize("parallel", [True, False])
def test_a_second_process_gives_the_same_report_and_records(workspace, acme, forks, parallel):
    report = run(workspace, gadget_file(), partial=True, batch_size=5, parallel=parallel)
    assert len(forks) == (1 if parallel else 0)  # after the first batch, when allowed
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (7, "count", "Not a number: 'x'."),
        (12, "email", "Not a valid email address."),
        (23, "maker", "No maker with id or name 'Nobody' (or you may not see it)."),
        (31, "maker", "No maker with id or name 'Nobody' (or you may not see it)."),
    ]
    assert (report.total, report.created, report.failed, report.not_written) == (ROWS, 20, 4, 16)
    landed = [(b.first_row, b.written) for b in report.batches if b.written]
    assert [first for first, _ in landed] == [1, 16, 26, 36]  # batches without a failed row
    stored = sorted(workspace.records.list(SYSTEM, "gadget", {"limit": "100"}).data, key=lambda g: g["name"])
    kept = [*range(1, 6), *range(16, 21), *range(26, 31), *range(36, 41)]
    assert [g["name"] for g in stored] == [f"Gadget {i:02}" for i in kept]
    first = stored[0]
    assert first["count"] == 1 and first["email"] == "g1@example.test" and first["maker"] == acme
    with workspace.db.connect() as conn:  # the secret sealed in the second process opens here
        sealed = conn.execute(sa.text("SELECT api_key FROM gadget WHERE name = 'Gadget 40'")).scalar_one()
    assert sealed != "key-40" and workspace.records.cipher.open(sealed) == "key-40"


def test_all_or_nothing_with_a_second_process_writes_nothing_on_a_row_error(workspace, acme, forks):
    report = run(workspace, gadget_file(), batch_size=5)
    assert forks and (report.failed, report.written, report.not_written) == (4, False, ROWS - 4)
    assert table_rows(workspace, "gadget") == 0


def test_a_file_unreadable_past_its_first_batch_is_the_writers_error(workspace, forks):
    data = ("name\n" + "Ann\n" * 10 + "\n" * 200_000).encode() + b"M\xfcller\n"  # beyond the sniffed sample
    table = read_table(data, filename="people.csv")
    with pytest.raises(SourceError, match=r"people.csv: line 200012 is not valid utf-8"):
        import_table(workspace, SYSTEM, "gadget", table, ImportOptions(batch_size=5))
    assert forks and table_rows(workspace, "gadget") == 0


def test_a_second_process_that_dies_fails_the_import_and_writes_nothing(workspace, acme, forks, monkeypatch):
    writer = os.getpid()
    ready = _Importer._ready

    def dying(self: Any, number: int, cells: Any) -> Any:
        if number == 17 and os.getpid() != writer:
            os._exit(3)
        return ready(self, number, cells)

    monkeypatch.setattr(_Importer, "_ready", dying)
    with pytest.raises(ImportProcessError, match=r"second process ended unexpectedly \(exit code 3\)"):
        run(workspace, gadget_file().replace(b",x,", b",7,"), batch_size=5)
    assert forks and table_rows(workspace, "gadget") == 0


def test_a_writer_that_stops_stops_the_second_process(workspace, forks):
    table = read_table(("name\n" + "".join(f"G{i}\n" for i in range(50))).encode(), filename="g.csv")
    calls: list[int] = []

    def progress(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_table(workspace, SYSTEM, "gadget", table, ImportOptions(batch_size=5), progress)
    assert forks and multiprocessing.active_children() == []
    assert table_rows(workspace, "gadget") == 0


def test_a_spreadsheet_is_read_on_in_the_second_process(workspace, forks, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Count", "Released on"])
    for i in range(1, 13):
        sheet.append([f"Sheet gadget {i:02}", i, dt.date(2026, 1, i)])
    path = tmp_path / "gadgets.xlsx"
    book.save(path)
    report = import_table(
        workspace, SYSTEM, "gadget", read_table(path, filename=path.name), ImportOptions(batch_size=5)
    )
    assert forks and (report.created, report.failed) == (12, 0)
    stored = sorted(workspace.records.list(SYSTEM, "gadget", {"limit": "100"}).data, key=lambda g: g["name"])
    assert [(g["name"], g["count"], g["released_on"]) for g in stored][-1] == ("Sheet gadget 12", 12, "2026-01-12")


def test_a_process_running_other_threads_makes_the_rows_ready_itself(workspace, forks):
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        report = run(workspace, ("name\n" + "".join(f"G{i}\n" for i in range(12))).encode(), batch_size=5)
    finally:
        stop.set()
        other.join()
    assert forks == [] and report.created == 12 and table_rows(workspace, "gadget") == 12
