"""The ``board:`` key of an entity (a kanban definition for the UI) is checked at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.checking import check_packs
from engine.config import Config

ENTITY = """entity: task
fields:
  title: {type: string}
  status: {type: enum, options: [open, doing, done]}
  hours: {type: decimal}
  notes: {type: text}
  total: {type: decimal, compute: 'hours * 2'}
"""


def problems_of(tmp_path: Path, board: str) -> str:
    pack = tmp_path / "alpha"
    (pack / "entities").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: alpha\nversion: 1.0.0\n")
    (pack / "entities" / "task.yaml").write_text(ENTITY + board)
    problems, _ = check_packs(Config(database_url="sqlite://", extra_pack_paths=(tmp_path,)), [tmp_path])
    return "\n".join(f"{p.location}: {p.message}" for p in problems.items)


def test_a_good_board_passes(tmp_path):
    board = (
        "board: {field: status, columns: [open, doing], card: [title, hours, owner], "
        "sum: hours, sort: -hours, filter: 'hours > 0'}\n"
    )
    assert problems_of(tmp_path, board) == ""


@pytest.mark.parametrize(
    ("board", "message"),
    [
        ("board: {field: title}\n", "board field 'title' must be an enum field of task"),
        ("board: {field: status, columns: [open, closed]}\n", "board column 'closed' is not an option of status"),
        ("board: {field: status, card: [nope.name]}\n", "board card field 'nope.name' starts with an unknown field"),
        ("board: {field: status, sum: title}\n", "board sum 'title' must be a number field of task"),
        ("board: {field: status, sort: total}\n", "board sort field 'total' is not a stored field"),
        ("board: {field: status, filter: 'hours > \"x\"'}\n", "cannot compare decimal with string"),
        ("board: {field: status, colour: red}\n", "colour"),
        ("board: {columns: [open]}\n", "field"),
    ],
)
def test_a_bad_board_is_a_check_problem(tmp_path, board, message):
    text = problems_of(tmp_path, board)
    assert message in text, text
    assert "alpha/entities/task.yaml:" in text
